"""Render one alert as plain text that is safe to hand to any Apprise service.

Everything that came from a feed is hostile (see
shared/peer/attacks/chat_mention_injection.xml): feedparser turns
``&lt;!channel&gt;`` into a live ``<!channel>``, titles carry CR/LF, bidi
overrides and ``javascript:`` links. The rules here:

* Control and format characters (C0/C1 except tab/newline, bidi overrides,
  zero-width characters, BOM) are removed from every untrusted field, and
  every untrusted field is one line: a title cannot inject an email header or
  fake a ``Link:`` line of our template.
* Chat markup is neutralised without hiding it: a zero-width joiner goes after
  ``<`` when it opens a Slack/Discord control token (``<!channel>``,
  ``<@U1>``, ``<#C1>``, ``<https://x|text>``, also when written ``&lt;``),
  after ``@`` when it starts a mention (``@everyone``, ``@here``, ``@channel``,
  ``@alice``; an email address is left alone), and between ``]`` and ``(``
  of a markdown link. The senders also use ``body_format=TEXT``, which makes
  Apprise escape ``& < >`` for Slack and send ``"mrkdwn": false``; this module
  is the second wall, and the only one for services that do not escape.
* Only ``http``/``https`` links with a host and no credentials are shown as
  links; anything else shows ``(no link)``.
* Each kind of service has a size limit; :func:`limits_for_urls` picks the
  smallest over a channel's Apprise URLs and :func:`render_alert` cuts to it.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

ZWJ = "\u200d"
ELLIPSIS = "…"
NO_LINK = "(no link)"


@dataclass(frozen=True)
class Limits:
    """Most characters allowed in a title and a body for one kind of service.

    ``slack_escaped`` counts ``&`` as 5 and ``<``/``>`` as 4 characters, the
    size they have after Apprise's Slack escaping.
    """

    title: int
    body: int
    slack_escaped: bool = False

    def merge(self, other: Limits) -> Limits:
        return Limits(
            title=min(self.title, other.title),
            body=min(self.body, other.body),
            slack_escaped=self.slack_escaped or other.slack_escaped,
        )


# Chosen by the Apprise URL schema. Slack allows ~40k per message but
# truncates and folds long attachment text; Discord's content limit is 2,000
# characters including the title Apprise prepends; Telegram's 4,096 and
# Mattermost's 4,000 (Apprise's body_maxlen) also include the title.
SLACK_LIMITS = Limits(title=200, body=3000, slack_escaped=True)
DISCORD_LIMITS = Limits(title=200, body=1750)
TELEGRAM_LIMITS = Limits(title=200, body=3800)
MATTERMOST_LIMITS = Limits(title=200, body=3700)
EMAIL_LIMITS = Limits(title=200, body=20000)
DEFAULT_LIMITS = Limits(title=250, body=8000)

_SCHEMA_LIMITS: dict[str, Limits] = {
    **dict.fromkeys(("slack",), SLACK_LIMITS),
    **dict.fromkeys(("discord",), DISCORD_LIMITS),
    **dict.fromkeys(("tgram", "telegram"), TELEGRAM_LIMITS),
    **dict.fromkeys(("mmost", "mmosts", "mattermost"), MATTERMOST_LIMITS),
    **dict.fromkeys(("mailto", "mailtos", "email", "emails"), EMAIL_LIMITS),
}


def schema_of(url: str) -> str:
    """The lower-cased scheme of an Apprise URL ('' when there is none)."""
    head, sep, _ = url.partition("://")
    return head.strip().lower() if sep else ""


def limits_for_schema(schema: str) -> Limits:
    return _SCHEMA_LIMITS.get(schema.lower(), DEFAULT_LIMITS)


def limits_for_urls(urls: Iterable[str]) -> Limits:
    """The strictest limits over all the URLs of one channel."""
    result: Limits | None = None
    for url in urls:
        limits = limits_for_schema(schema_of(url))
        result = limits if result is None else result.merge(limits)
    return result or DEFAULT_LIMITS


# --- cleaning ----------------------------------------------------------------

_LINE_BREAKS = re.compile(r"[\r\n\t\v\f\x85\u2028\u2029]+")
_SPACES = re.compile(r"[ \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]{2,}")
# '<' (or its entity) opening a control token: <!channel>, <@U1>, <#C1>,
# <!subteam^S1>, <https://x|y>, <mailto:..>.
_CONTROL_OPEN = re.compile(
    r"(<|&lt;|&#0*60;|&#x0*3c;)(?=\s*(?:[!@#]|[a-z][a-z0-9+.\-]*:))",
    re.IGNORECASE,
)
# '@' starting a mention: not inside a word or an email address.
_MENTION = re.compile(r"(?<![\w.+\-@])@(?=[\w&])")
_MD_LINK = re.compile(r"\]\s*\(")


def _keep(char: str) -> bool:
    category = unicodedata.category(char)
    if category in ("Cc", "Cf", "Cs", "Co", "Cn"):
        return char in "\t\n"
    return True


def clean_text(value: object, *, single_line: bool = True) -> str:
    """Untrusted text without control/format characters, one line by default."""
    text = "" if value is None else str(value)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if single_line:
        text = _LINE_BREAKS.sub(" ", text)
    text = "".join(ch for ch in text if _keep(ch))
    if single_line:
        text = _SPACES.sub(" ", text)
    return text.strip()


def neutralize(text: str) -> str:
    """Break chat mention and link markup; the text still reads the same."""
    text = _CONTROL_OPEN.sub(lambda m: m.group(1) + ZWJ, text)
    text = _MENTION.sub("@" + ZWJ, text)
    return _MD_LINK.sub("]" + ZWJ + "(", text)


def safe_text(value: object, limit: int | None = None) -> str:
    """Clean, one line, neutralised and cut: the form of every untrusted field."""
    text = neutralize(clean_text(value))
    return cut(text, limit) if limit is not None else text


def _slack_cost(char: str) -> int:
    return 5 if char == "&" else 4 if char in "<>" else 1


def cut(text: str, limit: int | None, cost: Callable[[str], int] | None = None) -> str:
    """``text`` within ``limit`` (in characters, or in ``cost`` units), with
    an ellipsis when something was cut. A zero-width joiner is never left
    dangling after the cut point, nor is a mention re-formed by it."""
    if limit is None:
        return text
    weigh = cost or (lambda _c: 1)
    total = sum(weigh(ch) for ch in text)
    if total <= limit:
        return text
    budget = max(0, limit - weigh(ELLIPSIS))
    used = 0
    end = 0
    for index, char in enumerate(text):
        used += weigh(char)
        if used > budget:
            break
        end = index + 1
    kept = text[:end].rstrip()
    # Do not end on a bare '<' or '@' whose neutralising joiner was cut off.
    while kept and kept[-1] in "<@&":
        kept = kept[:-1].rstrip()
    return kept + ELLIPSIS


def safe_link(link: object) -> str | None:
    """The link as it may be shown, or None when it must not be sent as one.

    Only http(s) with a host, no user info (``http://bank.com@evil``), no
    spaces or control characters. Characters that could close or extend
    chat markup (``< > | " ` @`` and spaces) are percent-encoded.
    """
    if not isinstance(link, str):
        return None
    raw = link.strip()
    if not raw or len(raw) > 2048 or "\\" in raw:
        return None
    if any(not _keep(ch) or ch.isspace() for ch in raw):
        return None
    try:
        parts = urlsplit(raw)
        hostname = parts.hostname
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not hostname:
        return None
    if "@" in parts.netloc:
        return None
    if not re.fullmatch(r"[A-Za-z0-9.\-\[\]:]+", parts.netloc):
        return None  # IDNs must arrive as punycode: no look-alike hosts
    tail = raw[len(parts.scheme) + 3 + len(parts.netloc) :]
    tail = quote(tail, safe="/?#=&%+;,:~!$'()*-._[]")
    return f"{parts.scheme.lower()}://{parts.netloc}{tail}"


# --- the alert ----------------------------------------------------------------


@dataclass(frozen=True)
class RenderedAlert:
    title: str
    body: str


def format_time(value: datetime | None) -> str:
    if value is None:
        return "unknown"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def format_score(score: float | None) -> str:
    if score is None or not isinstance(score, int | float) or not math.isfinite(score):
        return "unknown"
    return f"{score:.3f}"


def format_evidence(evidence: Mapping[str, Any] | None, model_version: str | None = None) -> str:
    """The evidence on one line; unknown or missing keys are tolerated."""
    parts: list[str] = []
    ev: Mapping[str, Any] = evidence if isinstance(evidence, Mapping) else {}
    reason = ev.get("reason")
    if reason:
        parts.append(safe_text(reason, 300))
    terms = ev.get("terms")
    if isinstance(terms, str):
        terms = [terms]
    if isinstance(terms, list | tuple) and terms:
        shown = [safe_text(t, 60) for t in terms[:10]]
        more = f" (+{len(terms) - 10} more)" if len(terms) > 10 else ""
        # The reason often names the terms already ("...; terms grève,
        # strike"): say them once.
        said = parts[0].casefold() if parts else ""
        if more or not all(term.casefold() in said for term in shown if term):
            parts.append("terms: " + ", ".join(t for t in shown if t) + more)
    seed = ev.get("nearest_seed")
    if isinstance(seed, Mapping):
        file = safe_text(seed.get("file") or "", 120)
        passage = safe_text(seed.get("passage") or "", 200)
        if file or passage:
            seed_text = file
            if passage:
                seed_text = f'{seed_text}: "{passage}"' if file else f'"{passage}"'
            parts.append(f"nearest seed: {seed_text}")
    elif isinstance(seed, str) and seed:
        parts.append(f"nearest seed: {safe_text(seed, 200)}")
    version = ev.get("model_version") or model_version
    if version:
        parts.append(f"model {safe_text(version, 80)}")
    return "; ".join(p for p in parts if p) or "(none)"


def render_alert(
    *,
    topic_id: str,
    topic_name: str | None,
    title: str | None,
    link: str | None,
    feed_name: str | None,
    published_at: datetime | None,
    score: float | None,
    evidence: Mapping[str, Any] | None,
    model_version: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    story_line: str | None = None,
    notes: Sequence[str] = (),
    title_prefix: str = "",
    review_url: str | None = None,
) -> RenderedAlert:
    """One alert as (title, body) plain text, cut to ``limits``.

    ``story_line`` (our text) follows the source; ``notes`` (our text) end
    the body; ``title_prefix`` goes after the topic (``Update: ``).
    ``review_url`` is the article's page (``web.base_url``), where one click
    says whether the match was right: the line after the link, kept whole
    like it.

    Send it with ``body_format=apprise.NotifyFormat.TEXT``.
    """
    topic = safe_text(topic_name or topic_id, 120)
    topic_line = topic if not topic_name or topic_name == topic_id else f"{topic} ({safe_text(topic_id, 60)})"
    article_title = safe_text(title, 500) or "(untitled)"
    shown_link = safe_link(link) or NO_LINK
    cost = _slack_cost if limits.slack_escaped else None

    alert_title = cut(f"[{topic}] {title_prefix}{article_title}", limits.title, cost)
    lines = [
        f"Topic: {topic_line}",
        f"Title: {article_title}",
        f"Link: {shown_link}",
        f"Source: {safe_text(feed_name, 200) or 'unknown'}",
        *([f"Story: {safe_text(story_line, 600)}"] if story_line else []),
        f"Published: {format_time(published_at)}",
        f"Score: {format_score(score)}",
        f"Evidence: {format_evidence(evidence, model_version)}",
        *(f"Note: {safe_text(note, 400)}" for note in notes),
    ]
    if review_url:
        lines.insert(3, f"Review: {review_url}")  # beside the link: kept whole when a body is cut
    body = "\n".join(lines)
    if sum((cost or (lambda _c: 1))(ch) for ch in body) > limits.body:
        # Keep the link whole (a cut link is a wrong link): cut the free text.
        head = "\n".join(lines[:2])
        rest = "\n".join(lines[2:])
        rest_cost = sum((cost or (lambda _c: 1))(ch) for ch in rest) + 1
        if rest_cost < limits.body // 2:
            body = cut(head, limits.body - rest_cost, cost) + "\n" + rest
        body = cut(body, limits.body, cost)
    return RenderedAlert(title=alert_title, body=body)


def render_notice(message: str, limits: Limits = DEFAULT_LIMITS) -> RenderedAlert:
    """An operator notice (our own text, which may quote feed text)."""
    cost = _slack_cost if limits.slack_escaped else None
    text = neutralize(clean_text(message, single_line=False))
    first = clean_text(text.splitlines()[0] if text else "notice")
    return RenderedAlert(
        title=cut(f"news-monitor: {first}", limits.title, cost),
        body=cut(text, limits.body, cost),
    )
