"""The volume knob with a controllable clock, on SQLite and PostgreSQL, the
real stage and sender, a loopback webhook receiver: quiet hours hold alerts
until they end, max_per_hour holds the rest back for the digest and says
so, a mute holds (or drops) until it ends or is lifted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerting import deliver_due
from monitor.config import Settings
from monitor.matching import build_matcher
from monitor.matching.stage import classify_pending
from monitor.storage import Article, Delivery, Feed, run_in_transaction
from monitor.storage import volume as volume_store
from monitor.storage.story_models import Digest
from tests.support.webhook_receiver import WebhookReceiver

# Distinct events (their names differ), each its own story.
EVENTS = [
    ("Dockers at Le Havre strike over pensions", "The CGT at Le Havre called the strike."),
    ("Lufthansa pilots strike in Frankfurt", "The Vereinigung Cockpit union called it."),
    ("Nurses strike at the Charité in Berlin", "Verdi called the strike at the Charité."),
    ("Teachers strike in Ontario schools", "The ETFO union called the strike in Ontario."),
    ("Rail workers strike on SNCF lines near Lyon", "SUD-Rail called the SNCF strike."),
]


def settings_for(
    hook: WebhookReceiver, *, channel: dict[str, Any] | None = None, topic: dict[str, Any] | None = None
) -> Settings:
    return Settings.model_validate(
        {
            "alerts": {"send_timeout": 5},
            "channels": [
                {
                    "name": "hook",
                    "url": hook.apprise_url("/alerts"),
                    "stories": "every-article",
                    **(channel or {}),
                }
            ],
            "topics": [
                {
                    "id": "strikes",
                    "name": "Strikes",
                    "model": "rules",
                    "rules": {"any": ["strike"]},
                    "channels": ["hook"],
                    **(topic or {}),
                }
            ],
        }
    )


def add_events(factory: sessionmaker[Session], count: int, at: datetime, start: int = 0) -> None:
    with factory.begin() as session:
        feed = session.scalars(select(Feed)).first()
        if feed is None:
            feed = Feed(url="https://news.example/rss", name="News", interval_seconds=60)
            session.add(feed)
            session.flush()
        for n in range(start, start + count):
            title, summary = EVENTS[n]
            session.add(
                Article(
                    feed_id=feed.id,
                    item_key=f"e{n}",
                    title=title,
                    summary=summary,
                    link=f"https://news.example/{n}",
                    language="en",
                    published_at=at,
                    fetched_at=at,
                    content_hash=f"{n:064d}",
                )
            )


def classify(factory: sessionmaker[Session], settings: Settings, at: datetime) -> None:
    classify_pending(factory, settings, build_matcher(settings), now=at)


def deliveries(factory: sessionmaker[Session]) -> list[Delivery]:
    with factory() as session:
        rows = list(session.scalars(select(Delivery).order_by(Delivery.id)))
        for row in rows:
            session.expunge(row)
        return rows


def test_quiet_hours_hold_alerts_until_they_end(
    session_factory: sessionmaker[Session], hook: WebhookReceiver
) -> None:
    settings = settings_for(hook, channel={"quiet_hours": "22:00-07:00", "timezone": "Europe/Paris"})
    night = datetime(2026, 7, 13, 21, 30, tzinfo=UTC)  # 23:30 in Paris (UTC+2)
    add_events(session_factory, 1, night)
    classify(session_factory, settings, night)
    report = deliver_due(session_factory, settings, now=night)
    assert (report.sent, report.held) == (0, 1)
    (row,) = deliveries(session_factory)
    morning = datetime(2026, 7, 14, 5, 0, tzinfo=UTC)  # 07:00 in Paris
    assert (row.state, row.hold_reason, row.attempts, row.next_attempt_at) == (
        "pending",
        "quiet-hours",
        0,
        morning,
    )
    assert deliver_due(session_factory, settings, now=morning - timedelta(minutes=1)).handled == 0
    assert deliver_due(session_factory, settings, now=morning).sent == 1
    assert len(hook.delivered) == 1
    (row,) = deliveries(session_factory)
    assert (row.state, row.attempts) == ("sent", 1)


def test_topic_quiet_hours_apply_on_the_channel(
    session_factory: sessionmaker[Session], hook: WebhookReceiver
) -> None:
    settings = settings_for(hook, topic={"quiet_hours": "12:00-13:00"})
    noon = datetime(2026, 7, 13, 12, 15, tzinfo=UTC)
    add_events(session_factory, 1, noon)
    classify(session_factory, settings, noon)
    assert deliver_due(session_factory, settings, now=noon).sent == 0
    assert deliver_due(session_factory, settings, now=noon.replace(hour=13, minute=0)).sent == 1


def test_max_per_hour_holds_back_for_the_digest_and_says_so(
    session_factory: sessionmaker[Session], hook: WebhookReceiver
) -> None:
    settings = settings_for(hook, channel={"max_per_hour": 2})
    ten = datetime(2026, 7, 13, 10, 5, tzinfo=UTC)
    add_events(session_factory, 4, ten)
    classify(session_factory, settings, ten)
    report = deliver_due(session_factory, settings, now=ten)
    assert (report.sent, report.held) == (2, 2)
    assert [row.state for row in deliveries(session_factory)] == ["sent", "sent", "held", "held"]
    first, second = (request.json["message"] for request in hook.delivered)
    assert "Note:" not in first
    assert "Note: This is the last instant alert this hour (max_per_hour 2)" in second

    # The next hour: the overflow digest lists the two held back, and the
    # first instant alert says how many were held back.
    eleven = ten.replace(hour=11, minute=1)
    add_events(session_factory, 1, eleven, start=4)
    classify(session_factory, settings, eleven)
    report = deliver_due(session_factory, settings, now=eleven)
    assert (report.sent, report.digests_sent) == (1, 1)
    messages = [request.json["message"] for request in hook.delivered]
    alert = next(m for m in messages[2:] if m.startswith("Topic:"))
    assert "Note: 2 alert(s) held back by max_per_hour since 2026-07-13 10:00 UTC are in the digest." in alert
    digest = next(m for m in messages[2:] if m.startswith("Digest of"))
    assert "2 alert(s) held back by max_per_hour are listed here" in digest
    assert EVENTS[2][0] in digest and EVENTS[3][0] in digest and EVENTS[0][0] not in digest
    with session_factory() as session:
        (stored,) = session.scalars(select(Digest))
        held = list(session.scalars(select(Delivery.digest_id).where(Delivery.state == "held")))
    assert held == [stored.id, stored.id]
    # Nothing more later: the held ones are in one digest, once.
    assert deliver_due(session_factory, settings, now=eleven + timedelta(hours=3)).digests_sent == 0
    assert len(hook.delivered) == 4


def test_a_topic_limit_counts_that_topic_only(
    session_factory: sessionmaker[Session], hook: WebhookReceiver
) -> None:
    settings = settings_for(hook, topic={"max_per_hour": 1})
    ten = datetime(2026, 7, 13, 10, 5, tzinfo=UTC)
    add_events(session_factory, 3, ten)
    classify(session_factory, settings, ten)
    report = deliver_due(session_factory, settings, now=ten)
    assert (report.sent, report.held) == (1, 2)


def test_a_mute_holds_alerts_until_unmuted(
    session_factory: sessionmaker[Session], hook: WebhookReceiver
) -> None:
    settings = settings_for(hook)
    ten = datetime(2026, 7, 13, 10, 0, tzinfo=UTC)
    mute = run_in_transaction(
        session_factory,
        lambda s: volume_store.add_mute(
            s, "topic", "strikes", until=ten + timedelta(hours=4), drop=False, at=ten
        ),
    )
    add_events(session_factory, 2, ten)
    classify(session_factory, settings, ten)
    assert deliver_due(session_factory, settings, now=ten + timedelta(minutes=5)).sent == 0
    assert {(r.state, r.hold_reason, r.next_attempt_at) for r in deliveries(session_factory)} == {
        ("pending", f"mute:{mute.id}", ten + timedelta(hours=4))
    }
    eleven = ten + timedelta(hours=1)
    ended = run_in_transaction(
        session_factory, lambda s: volume_store.end_mutes(s, "topic", "strikes", now=eleven)
    )
    assert ended == [mute.id]
    assert deliver_due(session_factory, settings, now=eleven).sent == 2
    assert len(hook.delivered) == 2


def test_a_mute_ends_by_itself_and_held_alerts_then_meet_quiet_hours(
    session_factory: sessionmaker[Session], hook: WebhookReceiver
) -> None:
    settings = settings_for(hook, channel={"quiet_hours": "14:00-15:00"})
    ten = datetime(2026, 7, 13, 10, 0, tzinfo=UTC)
    run_in_transaction(
        session_factory,
        lambda s: volume_store.add_mute(
            s, "channel", "hook", until=ten + timedelta(hours=4, minutes=10), drop=False, at=ten
        ),
    )
    add_events(session_factory, 1, ten)
    classify(session_factory, settings, ten)
    assert deliver_due(session_factory, settings, now=ten).sent == 0
    mute_over = ten + timedelta(hours=4, minutes=10)  # 14:10: inside the quiet hours
    assert deliver_due(session_factory, settings, now=mute_over).sent == 0
    (row,) = deliveries(session_factory)
    assert (row.hold_reason, row.next_attempt_at) == ("quiet-hours", ten.replace(hour=15))
    assert deliver_due(session_factory, settings, now=ten.replace(hour=15)).sent == 1


def test_a_dropping_mute_drops(session_factory: sessionmaker[Session], hook: WebhookReceiver) -> None:
    settings = settings_for(hook)
    ten = datetime(2026, 7, 13, 10, 0, tzinfo=UTC)
    run_in_transaction(
        session_factory,
        lambda s: volume_store.add_mute(
            s, "topic", "strikes", until=ten + timedelta(hours=1), drop=True, at=ten
        ),
    )
    add_events(session_factory, 1, ten)
    classify(session_factory, settings, ten)
    assert deliver_due(session_factory, settings, now=ten).sent == 0
    assert [row.state for row in deliveries(session_factory)] == ["dropped"]
    assert deliver_due(session_factory, settings, now=ten + timedelta(days=1)).handled == 0
    assert hook.requests == []
