"""Adaptive polling: the next check follows the feed's rhythm, the server's
TTL and cache headers are a floor, min/max_interval bound it; on a real local
feed server, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.cli import main
from monitor.config import Settings, load_config_text
from monitor.ingest.poll import poll_feed, sync_feeds
from monitor.ingest.schedule import (
    Cadence,
    EntryRhythm,
    ServerHint,
    cadence_for,
    plan_next_check,
    server_hint,
)
from monitor.storage import Feed, utcnow
from tests.support.feed_server import FeedServer, route
from tests.support.feedgen import Item, rss

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ADAPTIVE = Cadence(fixed=None, min_interval=60, max_interval=3600, factor=1)


def test_rhythm_sets_the_interval_within_bounds() -> None:
    # 168 entries spread over the week: one an hour, checked once an hour.
    hourly = EntryRhythm(168, NOW - timedelta(hours=167), NOW)
    assert plan_next_check(ADAPTIVE, hourly, None).seconds == pytest.approx(3600, rel=0.01)
    # A wire: an entry a minute would want 1 min; factor 4 wants 15 s -> min_interval.
    wire = EntryRhythm(1000, NOW - timedelta(minutes=999), NOW)
    fast = plan_next_check(Cadence(None, 60, 3600, 4), wire, None)
    assert fast.seconds == 60
    assert "min_interval" in fast.reason
    # Twice a week is checked at max_interval, not every minute.
    twice = EntryRhythm(2, NOW - timedelta(days=3), NOW)
    slow = plan_next_check(ADAPTIVE, twice, None)
    assert slow.seconds == 3600
    assert "max_interval" in slow.reason
    one = plan_next_check(ADAPTIVE, EntryRhythm(1, NOW, NOW), None)
    assert one.reason == "1 entry in the last week (max_interval)"
    silent = plan_next_check(ADAPTIVE, EntryRhythm(0), None)
    assert (silent.seconds, silent.reason) == (3600, "no entry in the last week (max_interval)")


def test_server_hints_are_a_floor_capped_by_max_interval() -> None:
    busy = EntryRhythm(1000, NOW - timedelta(minutes=999), NOW)
    floor = plan_next_check(ADAPTIVE, busy, ServerHint(1800, "the feed's <ttl>"))
    assert (floor.seconds, floor.reason) == (1800, "the feed's <ttl>")
    # A hint below the rhythm changes nothing.
    assert plan_next_check(ADAPTIVE, busy, ServerHint(10, "Cache-Control max-age")).seconds == 60
    capped = plan_next_check(ADAPTIVE, busy, ServerHint(86400, "Expires"))
    assert capped.seconds == 3600
    assert capped.reason == "Expires 1d, capped at max_interval"


def test_server_hint_reads_ttl_cache_control_expires_and_retry_after() -> None:
    assert server_hint({}, None, now=NOW) is None
    assert server_hint({"Cache-Control": "public, max-age=600"}, None, now=NOW) == ServerHint(
        600, "Cache-Control max-age"
    )
    expires = format_datetime(NOW + timedelta(seconds=1250), usegmt=True)
    assert server_hint({"Expires": expires}, None, now=NOW) == ServerHint(1260, "Expires")
    assert server_hint({"Expires": "0"}, None, now=NOW) is None
    assert server_hint({"Retry-After": "900"}, 300, now=NOW) == ServerHint(900, "Retry-After")
    # The longest one wins.
    hint = server_hint({"Cache-Control": "max-age=60", "Retry-After": "120"}, 3600, now=NOW)
    assert hint == ServerHint(3600, "the feed's <ttl>")
    assert server_hint({"Cache-Control": "max-age=abc"}, None, now=NOW) is None


def test_cadence_from_config() -> None:
    settings = load_config_text(
        "poll_interval: 2m\npolling: {max_interval: 3h}\nfeeds:\n"
        "  - {url: 'https://a.example/rss'}\n"
        "  - {url: 'https://b.example/rss', interval: 10m}\n"
        "  - {url: 'https://c.example/rss', min_interval: 5m, max_interval: 30m}\n"
        "  - {url: 'https://d.example/rss', interval: 5h}\n"
    )
    a, b, c, d = (cadence_for(settings, feed) for feed in settings.feeds)
    assert (a.fixed, a.min_interval, a.max_interval) == (None, 120, 10800)
    assert (b.fixed, b.min_interval) == (600, 120)
    assert (c.min_interval, c.max_interval) == (300, 1800)
    # A fixed interval longer than max_interval is what the feed asked for.
    assert (d.fixed, d.max_interval) == (18000, 18000)
    fixed = load_config_text(
        "poll_interval: 90s\npolling: {schedule: fixed}\nfeeds: [{url: 'https://a.example/'}]"
    )
    assert cadence_for(fixed, fixed.feeds[0]).fixed == 90


def test_config_refuses_min_above_max() -> None:
    from monitor.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        load_config_text(
            "feeds:\n  - {url: 'https://a.example/', min_interval: 2h, max_interval: 1h}\n", "m.yaml"
        )
    assert "m.yaml:2: feeds[0]: min_interval is longer than max_interval" in str(caught.value)


# --- on the poll stage -----------------------------------------------------------


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        yield srv


def settings_for(server: FeedServer, extra: str = "") -> Settings:
    return load_config_text(
        f"poll_interval: 60s\nfetch:\n  timeout: 5s\n  allow_hosts: ['{server.netloc}']\n{extra}"
        f"feeds:\n  - {{url: '{server.url('/f.xml')}', name: rhythm}}\n"
    )


def recent_items(count: int, every: timedelta) -> list[Item]:
    now = utcnow()
    return [Item(f"g{i}", f"Item {i}", "text", published=now - every * i) for i in range(count)]


def poll_once(factory: sessionmaker[Session], settings: Settings, server: FeedServer) -> Feed:
    sync_feeds(factory, settings)
    with factory() as session:
        fid = session.scalars(select(Feed.id).where(Feed.url == server.url("/f.xml"))).one()
    outcome = poll_feed(factory, settings, fid, owner="t", force=True)
    assert outcome.status in ("ok", "not_modified"), outcome.error
    with factory() as session:
        return session.get_one(Feed, fid)


def test_a_busy_feed_is_checked_often_and_a_quiet_one_rarely(
    server: FeedServer, session_factory: sessionmaker[Session]
) -> None:
    # 40 items, one every 10 minutes: 1,008 a week -> every 2.5 min with factor 4.
    server.add_file("/f.xml", rss(recent_items(40, timedelta(minutes=10))))
    settings = settings_for(server, "polling: {max_interval: 2h}\n")
    feed = poll_once(session_factory, settings, server)
    assert feed.schedule_seconds == 150
    assert feed.schedule_reason == "40 entries in the last week"
    assert feed.next_check_at - feed.last_success_at == timedelta(seconds=150)


def test_twice_a_week_feed_waits_max_interval(
    server: FeedServer, session_factory: sessionmaker[Session]
) -> None:
    server.add_file("/f.xml", rss(recent_items(2, timedelta(days=3))))
    feed = poll_once(session_factory, settings_for(server, "polling: {max_interval: 2h}\n"), server)
    assert feed.schedule_seconds == 7200
    assert "max_interval" in (feed.schedule_reason or "")


def test_ttl_and_cache_control_raise_the_interval(
    server: FeedServer, session_factory: sessionmaker[Session]
) -> None:
    body = rss(recent_items(40, timedelta(minutes=10))).replace(
        b"<description>test", b"<ttl>45</ttl><description>test"
    )
    server.add_file("/f.xml", body)
    settings = settings_for(server, "polling: {max_interval: 2h}\n")
    feed = poll_once(session_factory, settings, server)
    assert (feed.schedule_seconds, feed.schedule_reason, feed.ttl_seconds) == (
        2700,
        "the feed's <ttl>",
        2700,
    )
    # The TTL is remembered: a 304 (no body to read it from) keeps honouring it.
    feed = poll_once(session_factory, settings, server)
    assert server.requests[-1].headers.get("if-none-match")
    assert (feed.schedule_seconds, feed.schedule_reason) == (2700, "the feed's <ttl>")
    # A Cache-Control max-age longer than the TTL wins; max_interval still caps it.
    server.add_file("/f.xml", body, headers={"Cache-Control": "max-age=5400"})
    feed = poll_once(session_factory, settings, server)
    assert (feed.schedule_seconds, feed.schedule_reason) == (5400, "Cache-Control max-age")
    server.add_file("/f.xml", body, headers={"Cache-Control": "max-age=86400"})
    feed = poll_once(session_factory, settings, server)
    assert feed.schedule_seconds == 7200
    assert feed.schedule_reason == "Cache-Control max-age 1d, capped at max_interval"


def test_retry_after_on_429_is_the_reason_shown(
    server: FeedServer, session_factory: sessionmaker[Session]
) -> None:
    server.add_sequence("/f.xml", [route(429, headers={"Retry-After": "1800"})])
    settings = settings_for(server)
    sync_feeds(session_factory, settings)
    with session_factory() as session:
        fid = session.scalars(select(Feed.id)).one()
    outcome = poll_feed(session_factory, settings, fid, owner="t", force=True)
    assert outcome.status == "error"
    with session_factory() as session:
        feed = session.get_one(Feed, fid)
    assert (feed.schedule_seconds, feed.schedule_reason) == (1800, "Retry-After, after 1 error(s) in a row")


def test_monitor_feeds_shows_the_interval_and_why(
    server: FeedServer, db_url: str, session_factory: sessionmaker[Session], tmp_path
) -> None:
    server.add_file("/f.xml", rss(recent_items(40, timedelta(minutes=10))))
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"database_url: '{db_url}'\npoll_interval: 60s\npolling: {{max_interval: 2h}}\n"
        f"fetch: {{timeout: 5s, allow_hosts: ['{server.netloc}']}}\n"
        f"feeds:\n  - {{url: '{server.url('/f.xml')}', name: rhythm, category: Wires}}\n",
        encoding="utf-8",
    )
    from monitor.config import load_config

    poll_once(session_factory, load_config(config), server)
    table = CliRunner().invoke(main, ["--config", str(config), "feeds"])
    assert table.exit_code == 0, table.output
    assert "every 150s: 40 entries in the last week" in table.output
    lines = CliRunner().invoke(main, ["--config", str(config), "feeds", "--format", "json"])
    import json

    row = json.loads(lines.output.splitlines()[0])
    assert (row["interval_seconds"], row["category"]) == (150, "Wires")
    assert row["interval_reason"] == "40 entries in the last week"
