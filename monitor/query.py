"""Match filters from the words a person types (the CLI and the HTTP API).

The query itself is ``monitor.storage.views.find_matches``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from monitor.alerting.channels import redact_text
from monitor.alerting.message import clean_text
from monitor.storage import utcnow
from monitor.storage.views import DeliveryView, MatchFilter

_RELATIVE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(value: str, *, now: datetime | None = None, end_of_day: bool = False) -> datetime:
    """A point in time from ``24h``, ``7d``, ``2w``, a date or an ISO datetime.

    A relative value counts back from now. A bare date means its start (or,
    for ``--until``, its end), in UTC.
    """
    now = now or utcnow()
    relative = _RELATIVE.match(value)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        try:
            return now - timedelta(**{_UNITS[unit]: amount})
        except OverflowError:
            raise ValueError(f"{value!r} reaches too far back") from None
    try:
        if len(value.strip()) == 10:
            day = date.fromisoformat(value.strip())
            moment = datetime.combine(day, time.max if end_of_day else time.min)
            return moment.replace(tzinfo=UTC)
        parsed = datetime.fromisoformat(value.strip())
    except (ValueError, OverflowError):
        raise ValueError(
            f"{value!r} is not a time: use 24h, 7d, 2w, 2026-11-20 or 2026-11-20T08:00"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class FilterError(ValueError):
    """A filter value that cannot be used; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def match_filter(
    *,
    topic: Sequence[str] = (),
    since: str | None = None,
    until: str | None = None,
    feed: str | None = None,
    lang: str | None = None,
    min_score: float | None = None,
    search: str | None = None,
    limit: int = 50,
    feed_id: int | None = None,
) -> MatchFilter:
    """A ``MatchFilter`` from the words a person types (the CLI and the API):
    ``since``/``until`` as ``24h``, ``7d``, a date or an ISO time."""

    def when(value: str | None, field: str, end_of_day: bool = False) -> datetime | None:
        if value is None:
            return None
        try:
            return parse_when(value, end_of_day=end_of_day)
        except ValueError as exc:
            raise FilterError(field, str(exc)) from None

    return MatchFilter(
        topic=tuple(topic),
        since=when(since, "since"),
        until=when(until, "until", end_of_day=True),
        feed=feed,
        lang=lang,
        min_score=min_score,
        search=search,
        limit=limit,
        feed_id=feed_id,
    )


def evidence_line(evidence: dict[str, Any]) -> str:
    """The evidence in one line: the reason, else the matched terms; then
    whether the article's page was read (full text)."""
    line = ""
    reason = evidence.get("reason")
    terms = evidence.get("terms") or evidence.get("matched_terms")
    if isinstance(reason, str) and reason:
        line = reason
    elif isinstance(terms, list) and terms:
        line = "terms: " + ", ".join(str(t) for t in terms[:8])
    full_text = evidence.get("full_text")
    if isinstance(full_text, str) and full_text:
        line = f"{line} [{full_text}]" if line else f"[{full_text}]"
    return line


def _when(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds")


def delivery_json(delivery: DeliveryView) -> dict[str, Any]:
    """A delivery as shown (CLI and API): feed text without control
    characters, errors without channel secrets."""
    return {
        "id": delivery.id,
        "state": delivery.state.value,
        "attempts": delivery.attempts,
        "channel": delivery.channel,
        "topic": delivery.topic_id,
        "article_id": delivery.article_id,
        "title": clean_text(delivery.title),
        "next_attempt_at": _when(delivery.next_attempt_at),
        "lease_until": _when(delivery.lease_until),
        "sent_at": _when(delivery.sent_at),
        "last_error": clean_text(redact_text(delivery.last_error)) if delivery.last_error else None,
        "dedupe_key": delivery.dedupe_key,
    }
