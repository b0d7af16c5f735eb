"""When a feed is checked next: adaptive polling, after Miniflux's scheduler.

What we took from Miniflux v2 (``internal/model/feed.go`` ScheduleNextCheck,
``internal/reader/handler/handler.go``, ``internal/storage/feed.go``
WeeklyFeedEntryCount, ``internal/reader/fetcher/response_handler.go``):

* the ``entry_frequency`` rule: interval = one week / (entries in the last
  week x factor), clamped to [min_interval, max_interval]; a feed with no
  entry in the last week is checked every max_interval;
* the weekly count is *virtual*: one week divided by the average gap between
  the entries published in the last week, so a feed just added that carries
  a burst of recent items has its rhythm from the first poll;
* the server's word is a floor: the feed's ``<ttl>``, ``Cache-Control:
  max-age`` and ``Expires`` (rounded up to the next minute) raise the
  interval, and max_interval still caps it (a misconfigured TTL of a year);
* ``Retry-After`` on 429/503 delays the next try (``monitor.ingest.poll``).

Where we differ: a ``Retry-After`` sent with a successful answer counts as a
floor too; a feed's own ``interval`` is a fixed schedule (the old behaviour);
and every decision keeps its reason, which ``monitor feeds`` shows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from monitor.config import FeedConfig, Settings
from monitor.config.operations import DEFAULT_MAX_INTERVAL
from monitor.ingest.fetch import parse_retry_after

WEEK = 7 * 86400.0
# A server's hint is capped here before max_interval applies: a year.
HINT_MAX = 365 * 86400.0
REASON_MAX = 200


def format_seconds(seconds: float) -> str:
    """``45s``, ``150s``, ``15m``, ``1h``, ``1.5h``, ``1d``: an interval for a person."""
    whole = round(seconds)
    if whole < 600 and whole % 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{round(whole / 60)}m"
    if whole % 86400 == 0:
        return f"{whole // 86400}d"
    if whole < 2 * 86400:
        return f"{whole / 3600:.1f}".removesuffix(".0") + "h"
    return f"{whole / 86400:.1f}".removesuffix(".0") + "d"


@dataclass(frozen=True)
class Cadence:
    """How one feed is scheduled, from the config."""

    fixed: float | None  # the feed's own interval, or poll_interval under the fixed schedule
    min_interval: float
    max_interval: float
    factor: float


def cadence_for(settings: Settings, feed: FeedConfig | None) -> Cadence:
    """A feed's bounds: its own ``min_interval``/``max_interval``, else
    ``polling``'s, else ``poll_interval`` and one hour."""
    polling = settings.polling
    lowest = (feed.min_interval if feed else None) or polling.min_interval or settings.poll_interval
    highest = (
        (feed.max_interval if feed else None) or polling.max_interval or max(DEFAULT_MAX_INTERVAL, lowest)
    )
    fixed = feed.interval if feed and feed.interval else None
    if fixed is None and polling.schedule == "fixed":
        fixed = settings.poll_interval
    if fixed is not None:
        # A fixed interval longer than the ceiling is what was asked for.
        highest = max(highest, fixed)
    return Cadence(fixed, min(lowest, highest), highest, polling.entry_frequency_factor)


@dataclass(frozen=True)
class EntryRhythm:
    """A feed's entries dated within the last week (published, else fetched)."""

    count: int
    first: datetime | None = None
    last: datetime | None = None

    def weekly_count(self) -> float:
        """Entries per week from the average gap between them (Miniflux's
        virtual weekly count); the plain count when they share one moment."""
        if self.count <= 1 or self.first is None or self.last is None:
            return float(self.count)
        span = (self.last - self.first).total_seconds()
        if span <= 0:
            return float(self.count)
        return math.ceil(WEEK / (span / (self.count - 1)))


@dataclass(frozen=True)
class ServerHint:
    """The longest "not before" a server gave: seconds and where it came from."""

    seconds: float
    source: str


def _max_age(cache_control: str) -> float | None:
    for directive in cache_control.split(","):
        name, _, value = directive.strip().partition("=")
        value = value.strip().strip('"')
        if name.strip().lower() == "max-age" and value.isascii() and value.isdigit():
            return float(min(int(value), HINT_MAX))
    return None


def server_hint(
    headers: Mapping[str, str], ttl_seconds: float | None, *, now: datetime | None = None
) -> ServerHint | None:
    """The floor the feed and its server set: ``<ttl>``, ``Cache-Control:
    max-age``, ``Expires`` and ``Retry-After``; None when none says anything."""
    now = now or datetime.now(UTC)
    lower = {k.lower(): v for k, v in headers.items()}
    candidates: list[ServerHint] = []
    if ttl_seconds:
        candidates.append(ServerHint(min(ttl_seconds, HINT_MAX), "the feed's <ttl>"))
    max_age = _max_age(lower.get("cache-control", ""))
    if max_age:
        candidates.append(ServerHint(max_age, "Cache-Control max-age"))
    expires = lower.get("expires")
    if expires:
        # A number is no date (``Expires: 0`` means already expired).
        seconds = parse_retry_after(expires, now=now) if not expires.strip().isdigit() else None
        if seconds:
            # Miniflux rounds up to the next minute.
            candidates.append(ServerHint(seconds // 60 * 60 + 60, "Expires"))
    retry_after = lower.get("retry-after")
    if retry_after:
        seconds = parse_retry_after(retry_after, now=now)
        if seconds:
            candidates.append(ServerHint(seconds, "Retry-After"))
    return max(candidates, key=lambda hint: hint.seconds, default=None)


@dataclass(frozen=True)
class NextCheck:
    seconds: float
    reason: str

    def at(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.seconds)


def plan_next_check(cadence: Cadence, rhythm: EntryRhythm, hint: ServerHint | None) -> NextCheck:
    """The interval until a feed's next check, with the reason for it (the
    interval itself is shown beside the reason, so the reason omits it)."""
    if cadence.fixed is not None:
        seconds, reason = cadence.fixed, "fixed interval"
    else:
        weekly = rhythm.weekly_count()
        if weekly <= 0:
            seconds = cadence.max_interval
            reason = "no entry in the last week (max_interval)"
        else:
            wanted = WEEK / (weekly * cadence.factor)
            seconds = min(cadence.max_interval, max(cadence.min_interval, wanted))
            reason = f"{rhythm.count} {'entry' if rhythm.count == 1 else 'entries'} in the last week"
            if seconds != wanted:
                bound = "min_interval" if seconds == cadence.min_interval else "max_interval"
                reason += f" ({bound})"
    if hint is not None and hint.seconds > seconds:
        seconds = hint.seconds
        reason = hint.source
        if seconds > cadence.max_interval:
            seconds = cadence.max_interval
            reason += f" {format_seconds(hint.seconds)}, capped at max_interval"
    return NextCheck(max(1.0, seconds), reason[:REASON_MAX])
