"""OPML: subscriptions in and out, as feed readers exchange them.

:func:`read_opml` takes the OPML that Feedly, Miniflux, FreshRSS, Inoreader
(and most readers) export: every ``<outline>`` with an ``xmlUrl`` is a feed;
the outlines that contain it (folders) are its category, else its OPML 2.0
``category`` attribute. A document with a DTD or an entity declaration is
refused before parsing, as feeds are. Each problem names the file and line.

:func:`write_opml` writes OPML 2.0: one folder outline per category, then
the feeds without one. Credentials are never written: URLs lose their
``user:password@``, and headers and basic auth have no place in OPML.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlsplit, urlunsplit
from xml.parsers import expat
from xml.sax.saxutils import quoteattr

from monitor.config.schema import FeedConfig

_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
CATEGORY_MAX = 200
NAME_MAX = 300


class OpmlError(ValueError):
    """A document that is no usable OPML; the message names file and line."""


@dataclass(frozen=True)
class OpmlFeed:
    url: str
    name: str | None
    category: str | None
    language: str | None
    line: int


@dataclass
class OpmlDocument:
    feeds: list[OpmlFeed] = field(default_factory=list)
    # (line, why) of outlines that were not feeds we can use.
    skipped: list[tuple[int, str]] = field(default_factory=list)


def _clean(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    text = " ".join(value.split())
    return text[:limit] or None


def read_opml(data: bytes, source: str = "<opml>") -> OpmlDocument:
    """The feeds of an OPML document; ``OpmlError`` when it is not one."""
    if _DECLARATION.search(data[:65536]):
        raise OpmlError(f"{source}:1: refused: DTD/ENTITY declarations are not allowed in OPML")
    parser = expat.ParserCreate()
    document = OpmlDocument()
    folders: list[str | None] = []  # one entry per open <outline>
    seen_root: list[str] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        line = parser.CurrentLineNumber
        if not seen_root:
            seen_root.append(tag)
            if tag.lower() != "opml":
                raise OpmlError(f"{source}:{line}: not OPML: the document starts with <{tag}>, not <opml>")
        if tag != "outline":
            return
        lowered = {k.lower(): v for k, v in attrs.items()}
        title = _clean(lowered.get("title") or lowered.get("text"), NAME_MAX)
        url = (lowered.get("xmlurl") or "").strip()
        if not url:
            folders.append(title)
            return
        folders.append(None)
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https") or "\\" in url:
            document.skipped.append((line, f"{url!r} is not an http(s) feed URL"))
            return
        open_folders = [name for name in folders[:-1] if name]
        category = " / ".join(open_folders) if open_folders else _attribute_category(lowered.get("category"))
        language = (lowered.get("language") or "").strip().lower().split("-")[0]
        document.feeds.append(
            OpmlFeed(
                url=url,
                name=title,
                category=_clean(category, CATEGORY_MAX),
                language=language if _LANGUAGE.match(language) else None,
                line=line,
            )
        )

    def end(tag: str) -> None:
        if tag == "outline" and folders:
            folders.pop()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise OpmlError(
            f"{source}:{exc.lineno}: not well-formed XML: {expat.errors.messages[exc.code]}"
        ) from None
    if not seen_root:
        raise OpmlError(f"{source}:1: not OPML: the document is empty")
    return document


def _attribute_category(value: str | None) -> str | None:
    """OPML 2.0's ``category``: comma-separated slash paths; the first one."""
    if not value:
        return None
    first = value.split(",")[0].strip().strip("/")
    return " / ".join(part for part in first.split("/") if part.strip()) or None


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def write_opml(
    feeds: Sequence[FeedConfig], *, title: str = "news-monitor feeds", now: datetime | None = None
) -> str:
    """OPML 2.0 of ``feeds``, grouped by category (config order kept)."""
    when = format_datetime(now or datetime.now(UTC), usegmt=True)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        f"  <head>\n    <title>{_text(title)}</title>\n    <dateCreated>{when}</dateCreated>\n  </head>",
        "  <body>",
    ]
    categories: dict[str, list[FeedConfig]] = {}
    loose: list[FeedConfig] = []
    for feed in feeds:
        if feed.category:
            categories.setdefault(feed.category, []).append(feed)
        else:
            loose.append(feed)
    for category, members in categories.items():
        lines.append(f"    <outline text={quoteattr(category)} title={quoteattr(category)}>")
        lines.extend(f"      {_outline(feed)}" for feed in members)
        lines.append("    </outline>")
    lines.extend(f"    {_outline(feed)}" for feed in loose)
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)


def _outline(feed: FeedConfig) -> str:
    name = feed.name or feed.display_name
    attributes = [
        'type="rss"',
        f"text={quoteattr(name)}",
        f"title={quoteattr(name)}",
        f"xmlUrl={quoteattr(_without_credentials(feed.url))}",
    ]
    if feed.category:
        attributes.append(f"category={quoteattr('/' + feed.category)}")
    if feed.language:
        attributes.append(f'language="{feed.language}"')
    return f"<outline {' '.join(attributes)}/>"


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
