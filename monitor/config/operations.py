"""Config for running feeds the way operators do: how often each feed is
checked (``polling``), how long rows are kept (``retention``), when article
pages are fetched for their full text (``full_text``), and the options of one
feed (headers, user agent, basic auth, ``enabled``, category, full text,
interval bounds: :class:`FeedOptions`, the base of ``FeedConfig``).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monitor.config.fields import Duration, PollInterval

# RFC 9110 token characters: what a header name may be made of.
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_HEADER_VALUE_UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Headers the fetcher sets itself: conditional GET, framing, compression and
# the connection are ours to get right; ``user_agent`` and ``basic_auth`` are
# fields of their own.
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "accept-encoding",
        "if-none-match",
        "if-modified-since",
        "user-agent",
        "authorization",
    }
)
DEFAULT_MAX_INTERVAL = 3600.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PollingSettings(_Strict):
    """When each feed is checked again.

    ``adaptive`` (the default, Miniflux's ``entry_frequency`` scheduler)
    checks a feed about ``entry_frequency_factor`` times per average gap
    between its entries of the last week, within ``min_interval`` and
    ``max_interval``; ``fixed`` checks every feed every ``poll_interval``
    (or its own ``interval``). Either way the feed's ``<ttl>`` and the
    server's ``Cache-Control: max-age``, ``Expires`` and ``Retry-After`` are
    a floor, and ``max_interval`` a ceiling.
    """

    schedule: Literal["adaptive", "fixed"] = "adaptive"
    min_interval: PollInterval | None = Field(None, description="shortest interval; default: poll_interval")
    max_interval: PollInterval | None = Field(
        None, description="longest interval; default: 1h, or min_interval when that is longer"
    )
    entry_frequency_factor: float = Field(
        4.0, gt=0, le=1000, description="checks per average gap between a feed's entries"
    )
    max_per_host: int = Field(2, ge=1, le=100, description="concurrent requests to one host at most")


class RetentionSettings(_Strict):
    """How long rows are kept; None keeps them forever. Articles with
    feedback (and story heads) are kept whatever their age, and so is every
    article a kept match points to."""

    articles: Duration | None = Field(90 * 86400.0, description="articles, by when they were fetched")
    matches: Duration | None = Field(365 * 86400.0, description="matches, by when they were made")
    deliveries: Duration | None = Field(
        30 * 86400.0, description="sent and dead alerts, by when they were queued"
    )
    interval: Duration = Field(6 * 3600.0, description="how often the service prunes")
    batch_size: int = Field(500, ge=1, le=10_000, description="rows deleted per transaction")


class FullTextSettings(_Strict):
    """Fetching article pages when a feed carries only teasers.

    ``auto``: a feed whose summaries are mostly teasers (one sentence,
    shorter than ``teaser_words`` words, or cut with an ellipsis) has its
    new articles' pages fetched; ``always``/``never`` decide for every feed without its own
    ``full_text``. Pages go through the feed fetcher's guard (private
    networks, ``fetch.timeout``), capped at ``max_page_bytes``.
    """

    mode: Literal["auto", "always", "never"] = "auto"
    teaser_words: int = Field(25, ge=1, le=1000)
    max_page_bytes: int = Field(4 * 1024 * 1024, gt=0)
    max_pages_per_poll: int = Field(20, ge=0, le=1000, description="page fetches one poll may make")
    classify_chars: int = Field(1500, ge=0, description="characters of the body the classifier reads")
    store_chars: int = Field(20_000, ge=0, description="characters of the body stored")


class BasicAuth(_Strict):
    username: str = Field(min_length=1)
    password: str = Field("", repr=False)  # never in a log line


class FeedOptions(_Strict):
    """What one feed may set besides its URL, name, interval and language."""

    category: str | None = Field(None, min_length=1, max_length=200)
    enabled: bool = Field(True, description="false: kept in the config, never polled")
    user_agent: str | None = Field(None, min_length=1, max_length=500)
    headers: dict[str, str] = Field(default_factory=dict, description="extra request headers", repr=False)
    basic_auth: BasicAuth | None = Field(None, description="username and password (use ${ENV} for it)")
    full_text: bool | None = Field(None, description="fetch article pages; default: full_text.mode")
    min_interval: PollInterval | None = None
    max_interval: PollInterval | None = None

    @field_validator("headers")
    @classmethod
    def _headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"header name {name!r} is not a valid HTTP header name")
            if name.lower() in RESERVED_HEADERS:
                raise ValueError(
                    f"header {name!r} is set by the fetcher (use user_agent or basic_auth where they apply)"
                )
            if _HEADER_VALUE_UNSAFE.search(value):
                raise ValueError(f"header {name!r}: line breaks and control characters are not allowed")
        return headers

    @field_validator("user_agent")
    @classmethod
    def _user_agent(cls, value: str | None) -> str | None:
        if value is not None and _HEADER_VALUE_UNSAFE.search(value):
            raise ValueError("line breaks and control characters are not allowed")
        return value

    @model_validator(mode="after")
    def _bounds(self) -> FeedOptions:
        if self.min_interval and self.max_interval and self.min_interval > self.max_interval:
            raise ValueError("min_interval is longer than max_interval")
        return self
