"""Digest periods: where the schedule's boundaries fall (pure functions).

* ``every: 6h``: boundaries at multiples of the period since the Unix
  epoch, in UTC (00:00, 06:00, 12:00, 18:00 UTC), whatever the time zone.
* ``daily: "08:00"``: each day at 08:00 in the schedule's time zone (a DST
  change moves it with the local clock).
* ``weekly: "mon 08:00"``: each Monday at 08:00 local time.

A digest covers ``[start, boundary)``; it becomes due at the boundary.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.config import DigestSchedule
from monitor.config.alerting import parse_clock


def last_boundary(schedule: DigestSchedule, zone: str, now: datetime) -> datetime:
    """The latest boundary at or before ``now`` (UTC)."""
    if schedule.every is not None:
        period = schedule.every
        stamp = now.timestamp()
        return datetime.fromtimestamp(stamp - stamp % period, tz=UTC)
    local = now.astimezone(ZoneInfo(zone))
    if schedule.daily is not None:
        at = parse_clock(schedule.daily)
        candidate = datetime.combine(local.date(), at, tzinfo=local.tzinfo)
        if candidate > local:
            candidate = datetime.combine(local.date() - timedelta(days=1), at, tzinfo=local.tzinfo)
        return candidate.astimezone(UTC)
    weekday, at = schedule.weekly_parts()
    day = local.date() - timedelta(days=(local.weekday() - weekday) % 7)
    candidate = datetime.combine(day, at, tzinfo=local.tzinfo)
    if candidate > local:
        candidate = datetime.combine(day - timedelta(days=7), at, tzinfo=local.tzinfo)
    return candidate.astimezone(UTC)


def previous_boundary(schedule: DigestSchedule, zone: str, boundary: datetime) -> datetime:
    """The boundary before ``boundary`` (a boundary itself)."""
    return last_boundary(schedule, zone, boundary - timedelta(seconds=1))


def next_boundary(schedule: DigestSchedule, zone: str, now: datetime) -> datetime:
    """The first boundary after ``now``."""
    if schedule.every is not None:
        return last_boundary(schedule, zone, now) + timedelta(seconds=schedule.every)
    step = timedelta(days=1 if schedule.daily is not None else 7)
    found = last_boundary(schedule, zone, now + step)
    while found <= now:  # pragma: no cover - only around a DST jump
        found = last_boundary(schedule, zone, found + step)
    return found


def describe(schedule: DigestSchedule, zone: str) -> str:
    if schedule.every is not None:
        return f"every {timedelta(seconds=schedule.every)}"
    if schedule.daily is not None:
        return f"daily at {schedule.daily} {zone}"
    return f"weekly on {schedule.weekly} {zone}"
