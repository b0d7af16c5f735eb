"""Turn a parsed feed entry into an article ready to store.

Everything here treats feed text as hostile:

* ``clean_text`` removes NUL and the other C0/C1 controls (except tab and
  newline), bidi overrides and isolates, zero-width characters and lone
  surrogates, so PostgreSQL accepts the text and a log line or an email
  subject cannot be forged with them;
* ``html_to_text`` is a flat ``html.parser`` pass (no tree, no recursion:
  100,000 nested ``<div>`` cost nothing special) that unescapes entities and
  collapses whitespace. Its output is **plain text**: ``<!channel>`` stays the
  characters ``<!channel>``; escaping for a chat service is the alerting
  module's job;
* ``canonical_link`` keeps http(s) links only (``javascript:``, ``data:`` and
  anything else become ``None``), lower-cases scheme and host, drops the
  fragment and tracking parameters;
* ``detect_language`` uses py3langid's bundled model and prefers the feed's
  own language when it gives one.
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit

from monitor.ingest.types import NormalizedArticle, ParsedItem

__all__ = [
    "MAX_TITLE_CHARS",
    "canonical_link",
    "clean_text",
    "content_hash",
    "detect_language",
    "html_to_text",
    "item_key",
    "normalize_item",
]

MAX_TITLE_CHARS = 1000
MAX_LINK_CHARS = 2048  # the storage column's length
MAX_KEY_CHARS = 512  # the storage column's length
MIN_LANGUAGE_TEXT = 20  # characters of letters needed to guess a language
LANGUAGE_CONFIDENCE = 0.7

# C0 except \t and \n, DEL, C1; bidi embeddings/overrides/isolates and marks;
# zero-width characters and the BOM; lone surrogates (not encodable as UTF-8).
_UNWANTED = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069"
    "\u061c\u180e\ufeff\ufff9-\ufffb\ud800-\udfff]"
)
_LINE_SEPARATORS = re.compile("[\r\u2028\u2029\x85]")
_SPACES = re.compile(r"\s+")
_TRACKING_PREFIXES = ("utm_",)
_TRACKING = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "ref",
        "ref_src",
        "ref_url",
        "referrer",
        "cmpid",
        "xtor",
    }
)
_SKIPPED_ELEMENTS = frozenset({"script", "style", "template", "noscript", "head", "title"})
_BLOCK_ELEMENTS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
        "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "td", "th",
        "tr", "ul",
    }
)  # fmt: skip


def clean_text(text: str) -> str:
    """``text`` without characters that do not belong in stored text.

    CR, U+2028/U+2029 and NEL become ``\\n``; tab and newline stay.
    """
    text = _LINE_SEPARATORS.sub("\n", text.replace("\r\n", "\n"))
    return _UNWANTED.sub("", text)


def _one_line(text: str) -> str:
    return _SPACES.sub(" ", clean_text(text)).strip()


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.size = 0
        self._skip_depth = 0
        self._skip_tag: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip_tag is None and tag in _SKIPPED_ELEMENTS:
            self._skip_tag = tag
        elif tag in _BLOCK_ELEMENTS:
            self._add(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_ELEMENTS:
            self._add(" ")

    def handle_endtag(self, tag: str) -> None:
        if self._skip_tag is not None:
            if tag == self._skip_tag:
                self._skip_tag = None
            return
        if tag in _BLOCK_ELEMENTS:
            self._add(" ")

    def handle_data(self, data: str) -> None:
        if self._skip_tag is None:
            self._add(data)

    def _add(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)


def html_to_text(html: str, *, max_chars: int | None = None) -> str:
    """Plain text of an HTML fragment: tags dropped, entities unescaped,
    whitespace collapsed, control characters removed.

    With ``max_chars`` the parse stops once enough text is collected, so a
    megabyte of markup costs only what the summary needs.
    """
    if not html:
        return ""
    if "<" not in html and "&" not in html:
        text = _one_line(html)
        return text if max_chars is None else text[:max_chars]
    parser = _TextExtractor()
    step = 65536
    budget = None if max_chars is None else 4 * max_chars + 1024
    for start in range(0, len(html), step):
        parser.feed(html[start : start + step])
        if budget is not None and parser.size > budget:
            break
    else:
        parser.close()
    text = _one_line("".join(parser.parts))
    return text if max_chars is None else text[:max_chars]


def canonical_link(url: str | None) -> str | None:
    """An http(s) link in canonical form, or ``None`` for anything else."""
    if not url:
        return None
    url = url.strip()
    if not url or len(url) > 4 * MAX_LINK_CHARS or _UNWANTED.search(url) or "\\" in url:
        return None
    url = re.sub(r"[\s]", lambda m: quote(m.group()), url)
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").rstrip(".")
        port = parts.port
    except ValueError:
        return None
    if scheme not in ("http", "https") or not host:
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is not None and port != (443 if scheme == "https" else 80):
        host = f"{host}:{port}"
    query = "&".join(piece for piece in parts.query.split("&") if piece and not _is_tracking(piece))
    link = urlunsplit((scheme, host, parts.path or "/", query, ""))
    return link if len(link) <= MAX_LINK_CHARS else None


def _is_tracking(piece: str) -> bool:
    name = unquote_plus(piece.split("=", 1)[0]).strip().lower()
    return name in _TRACKING or name.startswith(_TRACKING_PREFIXES)


_identifier: Any = None
_identifier_lock = threading.Lock()


def _language_identifier() -> Any:
    global _identifier
    with _identifier_lock:
        if _identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        return _identifier


def _language_code(tag: str) -> str | None:
    primary = re.split(r"[-_]", tag.strip().lower(), maxsplit=1)[0]
    return primary if re.fullmatch(r"[a-z]{2,3}", primary) else None


def detect_language(text: str, hint: str | None = None) -> str | None:
    """ISO 639 code of ``text``: the hint's (``en-US`` -> ``en``) when one is
    given, else py3langid's guess, else ``None`` (text too short, or the
    model is unsure)."""
    if hint:
        code = _language_code(hint)
        if code:
            return code
    letters = sum(1 for ch in text[:2000] if ch.isalpha())
    if letters < MIN_LANGUAGE_TEXT:
        return None
    language, confidence = _language_identifier().classify(text[:2000])
    if confidence < LANGUAGE_CONFIDENCE or language in ("und", "zxx"):
        return None
    return _language_code(str(language))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def content_hash(title: str, summary: str) -> str:
    return _sha256(title + "\n" + summary)


def item_key(guid: str | None, link: str | None, title: str, summary: str) -> str:
    """The article's identity within its feed: the guid, else the canonical
    link, else a hash of title and summary. Keys longer than the column are
    replaced by their hash (prefixed, so kinds never collide)."""
    guid = _one_line(guid or "")
    if guid:
        return guid if len(guid) <= MAX_KEY_CHARS else "guid-sha256:" + _sha256(guid)
    if link:
        return link if len(link) <= MAX_KEY_CHARS else "link-sha256:" + _sha256(link)
    return "sha256:" + content_hash(title, summary)


def normalize_item(
    item: ParsedItem, *, feed_language: str | None, max_summary_chars: int = 2000
) -> NormalizedArticle:
    """Clean text, a safe link, a language and a stable key for one entry."""
    if item.title_is_html:
        title = html_to_text(item.title, max_chars=MAX_TITLE_CHARS)
    else:
        title = _one_line(item.title)[:MAX_TITLE_CHARS]
    if item.summary_is_html:
        summary = html_to_text(item.summary_html, max_chars=max_summary_chars)
    else:
        summary = _one_line(item.summary_html)[:max_summary_chars]
    title = unicodedata.normalize("NFC", title)
    summary = unicodedata.normalize("NFC", summary)
    link = canonical_link(item.link)
    language = detect_language(f"{title}. {summary}", item.language or feed_language)
    return NormalizedArticle(
        item_key=item_key(item.guid, link, title, summary),
        title=title,
        summary=summary,
        link=link,
        language=language,
        published_at=item.published,
        content_hash=content_hash(title, summary),
    )
