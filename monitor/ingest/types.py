"""What the ingest stages hand each other: fetch -> parse -> normalise.

These types are the contract between ``fetch.py`` (bytes from the network,
guarded), ``parse.py`` (feedparser on those bytes, guarded) and
``normalize.py`` (clean text, canonical links, language), and ``poll.py``,
which runs the three for one feed and stores the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class FetchResult:
    """A successful HTTP exchange: a 200 with a body, or a 304."""

    url: str  # the URL finally answered, after redirects
    status: int
    body: bytes  # empty for a 304
    headers: Mapping[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    elapsed: float = 0.0

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class FetchError(Exception):
    """A fetch that produced no usable body.

    ``kind`` is a stable machine-readable cause (``timeout``, ``too_large``,
    ``blocked``, ``unsupported_url``, ``too_many_redirects``, ``http_status``,
    ``gone``, ``connection``, ``empty``); the message is for people.
    ``retry_after`` (seconds) is set from a 429/503 ``Retry-After``.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class ParsedItem:
    """One feed entry as feedparser gave it, before cleaning."""

    guid: str | None
    link: str | None
    title: str
    summary_html: str  # the entry's summary, else its first content value
    published: datetime | None  # timezone-aware UTC
    language: str | None = None
    # How feedparser typed the values: an Atom type="html" title is markup, a
    # type="text" summary is plain text (its "<" are characters, not tags).
    title_is_html: bool = False
    summary_is_html: bool = True


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    language: str | None
    items: tuple[ParsedItem, ...]
    # feedparser's bozo exception text when it recovered from bad markup.
    warning: str | None = None
    # RSS <ttl>: minutes the feed may be cached, in seconds.
    ttl_seconds: int | None = None


class ParseError(Exception):
    """A document refused or unusable (DTD/ENTITY, not a feed, too large)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class NormalizedArticle:
    """An article ready to store: plain text, safe link, a stable key."""

    item_key: str  # guid, else canonical link, else hash of title + summary
    title: str
    summary: str  # plain text, control characters removed, length-capped
    link: str | None  # http(s) only, tracking parameters removed
    language: str | None
    published_at: datetime | None
    content_hash: str  # sha256 of title + summary
    # The article page's main text (full text), and what became of fetching it.
    body: str | None = None
    body_note: str | None = None
