"""Fixtures for the alerting tests: rows, settings, loopback servers.

Apprise's per-service throttle (5.5 s between two emails from one plugin
object, 1.2 s for Slack) is set to 0 here through
``channels.REQUEST_INTERVAL_OVERRIDE``: delivery itself is real.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerting import channels
from monitor.config import Settings
from monitor.storage import Article, Delivery, Feed, Match, transaction, utcnow
from tests.support.smtp_server import SmtpServer
from tests.support.webhook_receiver import WebhookReceiver

MakeDelivery = Callable[..., int]
MakeSettings = Callable[..., Settings]


@pytest.fixture(autouse=True)
def _no_throttle(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(channels, "REQUEST_INTERVAL_OVERRIDE", 0.0)
    channels.clear_cache()
    yield
    channels.clear_cache()


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def make_settings() -> MakeSettings:
    def build(channels: dict[str, list[str]], **alerts: Any) -> Settings:
        alerts.setdefault("send_timeout", 5.0)
        return Settings.model_validate(
            {
                "database_url": "sqlite://",
                "alerts": alerts,
                "channels": [{"name": name, "urls": urls} for name, urls in channels.items()],
                "topics": [
                    {
                        "id": "strikes",
                        "name": "Strikes & unrest",
                        "model": "rules",
                        "rules": {"any": ["strike"]},
                        "channels": [name for name in channels if name != alerts.get("operator_channel")],
                    }
                ],
            }
        )

    return build


@pytest.fixture
def make_delivery(session_factory: sessionmaker[Session]) -> MakeDelivery:
    """Create Feed/Article/Match/Delivery rows; returns the delivery id."""
    counter = iter(range(1, 1_000_000))

    def create(
        channel: str = "hook",
        *,
        title: str = "Dock workers strike in Le Havre",
        link: str | None = "https://news.example.com/a/1",
        feed_name: str = "Example News",
        published_at: datetime | None = None,
        evidence: dict[str, Any] | None = None,
        due: datetime | None = None,
    ) -> int:
        n = next(counter)
        with transaction(session_factory) as session:
            feed = session.query(Feed).filter_by(url="https://news.example.com/feed.xml").one_or_none()
            if feed is None:
                feed = Feed(url="https://news.example.com/feed.xml", name=feed_name, interval_seconds=300)
                session.add(feed)
                session.flush()
            article = Article(
                feed_id=feed.id,
                item_key=f"item-{n}",
                title=title,
                summary="summary",
                link=link,
                published_at=published_at,
                content_hash=f"{n:064d}",
            )
            session.add(article)
            session.flush()
            match = Match(
                article_id=article.id,
                topic_id="strikes",
                score=0.87654,
                evidence=evidence
                if evidence is not None
                else {
                    "reason": "keyword rule",
                    "terms": ["strike", "dock"],
                    "nearest_seed": {"file": "seeds/strikes.md", "passage": "Port workers walk out"},
                    "model_version": "m-1",
                },
                model_version="m-1",
            )
            session.add(match)
            session.flush()
            delivery = Delivery(match_id=match.id, channel=channel, next_attempt_at=due or utcnow())
            session.add(delivery)
            session.flush()
            return delivery.id

    return create


@pytest.fixture
def load_delivery(session_factory: sessionmaker[Session]) -> Callable[[int], Delivery]:
    """A fresh, detached copy of one delivery row."""

    def load(delivery_id: int) -> Delivery:
        with session_factory() as session:
            delivery = session.get(Delivery, delivery_id)
            assert delivery is not None
            session.expunge(delivery)
            return delivery

    return load
