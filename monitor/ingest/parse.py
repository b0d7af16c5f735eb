"""Parse a fetched feed body with feedparser, guarded.

feedparser 6.0.14 is safe on most hostile input, with one measured
exception: it keeps "safe" ``<!ENTITY>`` declarations (values without ``&``)
and, after expat refuses the document, its loose parser expands them itself.
One 50,000-character entity referenced 50,000 times becomes 2.5 GB of text
(reliability.md, Part 1.3). So, before feedparser sees anything:

* the body is capped (``max_bytes``, kind ``too_large``);
* the prolog is examined in the encoding feedparser itself will use
  (feedparser's own ``convert_to_utf8``, so UTF-16/32 and EBCDIC are covered):
  any ``<!ENTITY`` declaration there refuses the document (kind ``dtd``); a
  ``DOCTYPE`` without entities (``rss-0.91.dtd``, an XHTML DOCTYPE) is
  stripped, since feedparser drops it anyway and it can only point at
  external resources;
* feedparser gets a file object over our bytes (``io.BytesIO``), never a
  ``str`` and never bare ``bytes``: feedparser tries ``open()`` on bare bytes,
  so a body such as ``b"/etc/passwd"`` would be read from the local disk;
* ``response_headers`` carry the content type (its charset) and language.
  The feed URL (or ``Content-Location``) is *not* given to feedparser as the
  base: it resolves relative guids against it, and an item's key must not
  change when the feed moves. Entry links are resolved here instead.

A document with neither a feed version nor entries (an HTML page, a JSON
error, an empty document) is ``not_a_feed``. Any other exception from
feedparser becomes a ``ParseError`` (kind ``malformed``).
"""

from __future__ import annotations

import calendar
import io
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
from feedparser.encodings import convert_to_utf8

from monitor.ingest.types import ParsedFeed, ParsedItem, ParseError
from monitor.urls import redact_url

__all__ = ["DEFAULT_MAX_BYTES", "check_prolog", "parse_feed"]

DEFAULT_MAX_BYTES = 15 * 1024 * 1024

_ENTITY = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)
_DOCTYPE = re.compile(rb"<!\s*DOCTYPE", re.IGNORECASE)
# feedparser's own split of "head" (before the first element-like tag).
_FIRST_TAG = re.compile(rb"<\w")
_DOCTYPE_TOKENS = re.compile(rb"[\"'\[\]>]|<!--")
_NETSCAPE_DOCTYPE = (
    b'\n<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
    b'"http://my.netscape.com/publish/formats/rss-0.91.dtd">\n'
)
_HTML_TYPES = ("text/html", "application/xhtml+xml", "html", "xhtml")
DTD_REFUSED = "rejected: DTD/ENTITY declarations are not allowed"


@dataclass
class _Prolog:
    """What precedes the root element: whitespace, the XML declaration and
    other processing instructions, comments, DOCTYPEs."""

    end: int = 0
    doctypes: list[tuple[int, int]] = field(default_factory=list)
    others: list[tuple[int, int]] = field(default_factory=list)  # comments, PIs
    complete: bool = True


def _prolog(data: bytes) -> _Prolog:
    prolog = _Prolog()
    i, n = 0, len(data)
    if data.startswith(b"\xef\xbb\xbf"):
        i = 3
    while i < n:
        while i < n and data[i] in b" \t\r\n":
            i += 1
        if data.startswith(b"<?", i) or data.startswith(b"<!--", i):
            closing = b"?>" if data[i + 1] == ord("?") else b"-->"
            end = data.find(closing, i + 2)
            if end < 0:
                prolog.end, prolog.complete = n, False
                return prolog
            prolog.others.append((i, end + len(closing)))
            i = end + len(closing)
        elif _DOCTYPE.match(data, i):
            end = _doctype_end(data, i)
            if end < 0:
                prolog.doctypes.append((i, n))
                prolog.end, prolog.complete = n, False
                return prolog
            prolog.doctypes.append((i, end))
            i = end
        else:
            break
    prolog.end = i
    return prolog


def _doctype_end(data: bytes, start: int) -> int:
    """Index just past the ``>`` closing a DOCTYPE, or -1 if it never closes."""
    depth = 0
    quote: bytes | None = None
    pos = start + 2
    while True:
        if quote is not None:
            close = data.find(quote, pos)
            if close < 0:
                return -1
            pos, quote = close + 1, None
            continue
        match = _DOCTYPE_TOKENS.search(data, pos)
        if match is None:
            return -1
        token = match.group()
        pos = match.end()
        if token == b"<!--":
            close = data.find(b"-->", pos)
            if close < 0:
                return -1
            pos = close + 3
        elif token in (b'"', b"'"):
            quote = token
        elif token == b"[":
            depth += 1
        elif token == b"]":
            depth = max(0, depth - 1)
        elif depth == 0:  # ">"
            return pos


def check_prolog(body: bytes, headers: Mapping[str, str]) -> tuple[bytes, dict[str, str]]:
    """Refuse ENTITY declarations; strip a DOCTYPE. Returns what to parse.

    The check runs on the document as feedparser will decode it. When nothing
    needs stripping the original bytes and headers come back unchanged;
    otherwise the UTF-8 text with its DOCTYPE removed, and a content type
    saying UTF-8.
    """
    scratch: dict[str, Any] = {}
    try:
        data = convert_to_utf8(dict(headers), body, scratch)
    except Exception:  # feedparser will fail on it the same way
        data = body
    if not isinstance(data, bytes):
        data = body
    # Comments count here: feedparser's ENTITY regex does not skip them. The
    # raw bytes and a BOM-decoded copy are checked too, in case feedparser's
    # encoding detection and ours ever disagree.
    for view in (data, *_other_views(body, data)):
        if _ENTITY.search(view[: _head_end(view, _prolog(view))]):
            raise ParseError("dtd", DTD_REFUSED)
    prolog = _prolog(data)
    head = data[: _head_end(data, prolog)]
    spans = prolog.doctypes
    if not spans and not _DOCTYPE.search(head):
        return body, dict(headers)
    if not prolog.complete and spans and spans[-1][1] == len(data):
        raise ParseError("dtd", DTD_REFUSED + " (a DOCTYPE that never ends)")
    if any(_DOCTYPE.search(part) for part in _cut(head, sorted(spans + prolog.others))):
        raise ParseError("dtd", DTD_REFUSED + " (a DOCTYPE outside the document prolog)")
    if not spans:
        return body, dict(headers)  # "<!DOCTYPE" only inside comments
    replacement = b""
    if any(b"netscape" in data[a:b].lower() for a, b in spans):
        replacement = _NETSCAPE_DOCTYPE  # feedparser reads the RSS 0.91 flavour from it
    stripped = bytearray()
    last = 0
    for a, b in spans:
        stripped += data[last:a]
        stripped += replacement
        last = b
    stripped += data[last:]
    new_headers = dict(headers)
    content_type = new_headers.get("content-type")
    if content_type:
        mime = content_type.split(";", 1)[0].strip() or "application/xml"
        new_headers["content-type"] = f"{mime}; charset=utf-8"
    return bytes(stripped), new_headers


def _head_end(data: bytes, prolog: _Prolog) -> int:
    """The end of the prolog, or of feedparser's "head" when that goes further."""
    first_tag = _FIRST_TAG.search(data)
    return max(prolog.end, first_tag.start() + 1 if first_tag else 0)


_SIGNATURES = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
)


def _other_views(body: bytes, converted: bytes) -> list[bytes]:
    views = [] if converted is body else [body]
    for signature, codec in _SIGNATURES:
        if body.startswith(signature):
            views.append(body.decode(codec, "replace").encode("utf-8", "replace"))
            break
    return views


def _cut(data: bytes, spans: list[tuple[int, int]]) -> list[bytes]:
    parts, last = [], 0
    for a, b in spans:
        parts.append(data[last:a])
        last = b
    parts.append(data[last:])
    return parts


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _optional(value: Any) -> str | None:
    text = _text(value).strip()
    return text or None


def _to_datetime(value: Any) -> datetime | None:
    if not isinstance(value, time.struct_time | tuple) or len(value) < 6:
        return None
    try:
        seconds = calendar.timegm(tuple(value))
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, ValueError, OSError, TypeError):
        return None


def _is_html(detail: Any, default: bool) -> bool:
    kind = _text(getattr(detail, "get", lambda _k, _d=None: None)("type", None)).lower()
    if not kind:
        return default
    return any(t in kind for t in _HTML_TYPES)


def _language(*details: Any) -> str | None:
    for detail in details:
        if isinstance(detail, Mapping):
            lang = _optional(detail.get("language"))
            if lang:
                return lang
    return None


def _resolve(base: str, link: str | None) -> str | None:
    if link is None or not base:
        return link
    try:
        return urljoin(base, link)
    except ValueError:
        return link


def _item(entry: Mapping[str, Any], base: str) -> ParsedItem:
    summary = entry.get("summary")
    summary_detail = entry.get("summary_detail")
    contents = entry.get("content") or []
    first_content = contents[0] if contents and isinstance(contents[0], Mapping) else {}
    if summary:
        summary_html = _text(summary)
        summary_is_html = _is_html(summary_detail, True)
    else:
        summary_html = _text(first_content.get("value"))
        summary_is_html = _is_html(first_content, True)
    published = None
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        published = _to_datetime(entry.get(key))
        if published is not None:
            break
    return ParsedItem(
        guid=_optional(entry.get("id")),
        link=_resolve(base, _optional(entry.get("link"))),
        title=_text(entry.get("title")),
        summary_html=summary_html,
        published=published,
        language=_language(summary_detail, first_content, entry.get("title_detail")),
        title_is_html=_is_html(entry.get("title_detail"), False),
        summary_is_html=summary_is_html,
    )


def _looks_html(body: bytes, content_type: str | None) -> bool:
    if content_type and "html" in content_type.lower():
        return True
    start = body[:512].lstrip().lower()
    return start.startswith((b"<!doctype html", b"<html"))


def parse_feed(
    body: bytes,
    *,
    url: str,
    content_type: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    headers: Mapping[str, str] | None = None,
) -> ParsedFeed:
    """Parse feed bytes into a ``ParsedFeed``; ``ParseError`` when refused.

    ``headers`` (optional) are the response headers; ``content_type`` wins over
    the one they contain. Kinds: ``too_large``, ``dtd``, ``not_a_feed``,
    ``malformed``.
    """
    if not isinstance(body, bytes | bytearray | memoryview):
        raise TypeError("parse_feed takes the response body as bytes")
    shown = redact_url(url)
    body = bytes(body)
    if len(body) > max_bytes:
        raise ParseError(
            "too_large", f"document too large: {len(body)} bytes (limit {max_bytes}) from {shown}"
        )
    if not body.strip(b" \t\r\n\x00\xef\xbb\xbf\xfe\xff"):
        raise ParseError("not_a_feed", f"not a feed: empty document from {shown}")

    response_headers = {k.lower(): v for k, v in (headers or {}).items()}
    if content_type is not None:
        response_headers["content-type"] = content_type
    # feedparser is given no base: it would resolve relative *guids* against
    # it too, and a guid must not change when the feed's URL does (a
    # redirect to a CDN, http -> https). Relative links are resolved here.
    location = response_headers.pop("content-location", None)
    base = urljoin(url, location) if location else url
    if urlsplit(base).scheme not in ("http", "https"):
        base = ""

    data, response_headers = check_prolog(body, response_headers)
    try:
        result = feedparser.parse(
            io.BytesIO(data),
            response_headers=response_headers,
            resolve_relative_uris=True,
            sanitize_html=True,
        )
    except Exception as exc:
        raise ParseError(
            "malformed", f"cannot parse the document from {shown}: {type(exc).__name__}"
        ) from None

    version = _text(result.get("version"))
    entries = result.get("entries") or []
    bozo_exception = result.get("bozo_exception") if result.get("bozo") else None
    warning = (_text(bozo_exception)[:500] or None) if bozo_exception is not None else None
    if not version and not entries:
        if _looks_html(body, response_headers.get("content-type")):
            reason = "an HTML page, not a feed"
        elif warning:
            reason = f"not a feed ({warning})"
        else:
            reason = "no feed and no entries in it"
        raise ParseError("not_a_feed", f"not a feed: {shown} is {reason}")

    feed = result.get("feed") or {}
    items = []
    for entry in entries:
        if isinstance(entry, Mapping):
            items.append(_item(entry, base))
    language = _optional(feed.get("language")) or _language(
        feed.get("title_detail"), feed.get("subtitle_detail")
    )
    if language is None:
        language = _optional(response_headers.get("content-language"))
    return ParsedFeed(
        title=_text(feed.get("title")),
        language=language,
        items=tuple(items),
        warning=warning,
        ttl_seconds=_ttl_seconds(feed.get("ttl")),
    )


# A <ttl> above a year is a mistake, not a wish.
_TTL_MAX_MINUTES = 365 * 24 * 60


def _ttl_seconds(value: object) -> int | None:
    """RSS ``<ttl>`` (minutes) in seconds; None when absent or not a number."""
    text = _text(value).strip()
    if not (text.isascii() and text.isdigit()) or int(text) == 0:
        return None
    return min(int(text), _TTL_MAX_MINUTES) * 60
