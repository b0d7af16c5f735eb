"""The matching stage: matches and their outbox rows, written together, once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerting import channels as channels_mod
from monitor.alerting import deliver_due
from monitor.config import Settings
from monitor.matching import build_matcher
from monitor.matching.stage import classify_pending
from monitor.storage import Article, Delivery, Feed, Match, utcnow
from tests.support.webhook_receiver import WebhookReceiver


@pytest.fixture(autouse=True)
def _no_throttle(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(channels_mod, "REQUEST_INTERVAL_OVERRIDE", 0.0)
    channels_mod.clear_cache()
    yield
    channels_mod.clear_cache()


def settings_with(channels: dict[str, list[str]]) -> Settings:
    return Settings.model_validate(
        {
            "alerts": {"backoff_base": 10, "send_timeout": 5},
            "channels": [{"name": n, "urls": u} for n, u in channels.items()],
            "topics": [
                {
                    "id": "strikes",
                    "name": "Strikes",
                    "model": "rules",
                    "rules": {"any": ["strike"]},
                    "channels": list(channels),
                }
            ],
        }
    )


def add_articles(factory: sessionmaker[Session], *titles: str) -> list[int]:
    with factory.begin() as session:
        feed = Feed(
            url="https://x.example/rss",
            name="X",
            interval_seconds=60,
            status="active",
            consecutive_errors=0,
            poll_attempts=0,
        )
        session.add(feed)
        session.flush()
        articles = [
            Article(feed_id=feed.id, item_key=f"k{i}", title=t, summary="", content_hash=str(i))
            for i, t in enumerate(titles)
        ]
        session.add_all(articles)
        session.flush()
        return [a.id for a in articles]


def test_classifying_twice_creates_one_match_and_one_delivery(session_factory: sessionmaker[Session]) -> None:
    settings = settings_with({"hook": ["json://127.0.0.1:9/x"]})
    ids = add_articles(session_factory, "Actors strike", "Weather")
    matcher = build_matcher(settings)
    first = classify_pending(session_factory, settings, matcher)
    again = classify_pending(session_factory, settings, matcher, article_ids=ids)
    assert (first.articles, len(first.matches), len(first.delivery_ids)) == (2, 1, 1)
    assert (again.articles, again.matches, again.delivery_ids) == (0, [], [])
    with session_factory() as session:
        assert session.scalars(select(Match.topic_id)).all() == ["strikes"]
        assert session.scalars(select(Delivery.channel)).all() == ["hook"]
        assert all(a.classified_at is not None for a in session.scalars(select(Article)))


def test_a_failing_url_of_a_channel_does_not_resend_to_the_others(
    session_factory: sessionmaker[Session],
) -> None:
    """One delivery per URL: when one URL fails, the retry goes to it alone."""
    with WebhookReceiver() as good, WebhookReceiver() as bad:
        settings = settings_with({"team": [good.apprise_url("/a"), bad.apprise_url("/b")]})
        add_articles(session_factory, "Actors strike again")
        classify_pending(session_factory, settings, build_matcher(settings))
        with session_factory() as session:
            assert sorted(session.scalars(select(Delivery.channel))) == ["team#1", "team#2"]
        bad.script(500, 500)
        now = utcnow()
        for step in range(3):
            deliver_due(session_factory, settings, now=now + timedelta(seconds=60 * step))
        assert len(good.requests) == 1
        assert len(bad.requests) == 3 and len(bad.delivered) == 1
        with session_factory() as session:
            assert sorted(session.scalars(select(Delivery.state))) == ["sent", "sent"]


class _Flaky:
    """A matcher that fails on one article, as a model bug or a bad input would."""

    version = "flaky-1"

    def __init__(self, inner: object, poison: str) -> None:
        self.inner = inner
        self.poison = poison

    def classify(self, articles):  # type: ignore[no-untyped-def]
        if any(self.poison in a.title for a in articles):
            raise ValueError("cannot score this one")
        return self.inner.classify(articles)  # type: ignore[attr-defined]


def test_one_bad_article_does_not_block_the_others(session_factory: sessionmaker[Session]) -> None:
    settings = settings_with({"hook": ["json://127.0.0.1:9/x"]})
    ids = add_articles(session_factory, "Actors strike", "POISON strike", "Writers strike too")
    report = classify_pending(session_factory, settings, _Flaky(build_matcher(settings), "POISON"))
    assert report.failed == [ids[1]]
    assert report.articles == 2 and len(report.matches) == 2
    with session_factory() as session:
        assert all(a.classified_at is not None for a in session.scalars(select(Article)))
