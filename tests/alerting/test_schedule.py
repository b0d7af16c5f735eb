"""Digest schedules: where the boundaries fall, in UTC and local time."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.alerting.schedule import last_boundary, next_boundary, previous_boundary
from monitor.config import DigestSchedule


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_every_aligns_on_utc_multiples() -> None:
    six = DigestSchedule(every=6 * 3600)
    assert last_boundary(six, "Europe/Paris", utc(2026, 7, 13, 13, 59)) == utc(2026, 7, 13, 12)
    assert last_boundary(six, "UTC", utc(2026, 7, 13, 12)) == utc(2026, 7, 13, 12)
    assert previous_boundary(six, "UTC", utc(2026, 7, 13, 12)) == utc(2026, 7, 13, 6)
    assert next_boundary(six, "UTC", utc(2026, 7, 13, 12)) == utc(2026, 7, 13, 18)


def test_daily_follows_the_local_clock_across_daylight_saving() -> None:
    daily = DigestSchedule(daily="08:00")
    # Summer in Paris is UTC+2, winter UTC+1.
    assert last_boundary(daily, "Europe/Paris", utc(2026, 7, 14, 5, 59)) == utc(2026, 7, 13, 6)
    assert last_boundary(daily, "Europe/Paris", utc(2026, 7, 14, 6, 0)) == utc(2026, 7, 14, 6)
    assert last_boundary(daily, "Europe/Paris", utc(2026, 1, 14, 7, 30)) == utc(2026, 1, 14, 7)
    # The night the clocks go back (25 Oct 2026), the period is 25 hours long.
    end = last_boundary(daily, "Europe/Paris", utc(2026, 10, 25, 12))
    assert end == utc(2026, 10, 25, 7)
    assert previous_boundary(daily, "Europe/Paris", end) == utc(2026, 10, 24, 6)
    assert next_boundary(daily, "Europe/Paris", end) == utc(2026, 10, 26, 7)


def test_weekly_falls_on_its_day() -> None:
    weekly = DigestSchedule(weekly="mon 08:00")
    # 2026-07-13 is a Monday.
    assert last_boundary(weekly, "UTC", utc(2026, 7, 16, 12)) == utc(2026, 7, 13, 8)
    assert last_boundary(weekly, "UTC", utc(2026, 7, 13, 7, 59)) == utc(2026, 7, 6, 8)
    assert next_boundary(weekly, "UTC", utc(2026, 7, 13, 8)) == utc(2026, 7, 20, 8)
