"""Operator notices: sent once, and not lost when a sender dies mid-send."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerting import send_notices
from monitor.config import Settings
from monitor.storage import Notice, utcnow
from monitor.storage.outbox import add_notice
from tests.support.webhook_receiver import WebhookReceiver


def settings_for(hook: WebhookReceiver) -> Settings:
    return Settings.model_validate(
        {
            "alerts": {"operator_channel": "ops", "lease": 60},
            "channels": [{"name": "ops", "url": hook.apprise_url("/ops")}],
        }
    )


def test_notice_sent_once_and_abandoned_claim_is_sent_later(session_factory: sessionmaker[Session]) -> None:
    with WebhookReceiver() as hook:
        settings = settings_for(hook)
        now = utcnow()
        with session_factory.begin() as session:
            assert add_notice(session, "k1", "feed_gone", "Feed X is gone", at=now)
            assert not add_notice(session, "k1", "feed_gone", "Feed X is gone", at=now)  # once per key
            add_notice(session, "k2", "feed_failed", "Feed Y keeps killing workers", at=now)
            # k2 was claimed by a sender that died before sending.
            notice = session.scalars(select(Notice).where(Notice.key == "k2")).one()
            notice.claimed_until = now + timedelta(seconds=30)
        assert send_notices(session_factory, settings, now=now) == 1  # k2 is still claimed
        assert send_notices(session_factory, settings, now=now) == 0  # k1 is not sent twice
        assert send_notices(session_factory, settings, now=now + timedelta(seconds=31)) == 1
        bodies = [r.json["message"] for r in hook.delivered]
        assert len(bodies) == 2 and "Feed X is gone" in bodies[0] and "Feed Y" in bodies[1]
        with session_factory() as session:
            assert all(
                n.sent_at is not None and n.claimed_until is None for n in session.scalars(select(Notice))
            )
