"""End to end in distributed mode: Celery beat + a prefork worker as real
processes, the machine's Redis as broker, PostgreSQL as the database.

Same scenario and same expectations as the embedded test: exactly the
expected matches, exactly one alert per match and channel, nothing new on the
next polls, exactly the new item's alerts when one appears.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor.storage import (
    Article,
    Delivery,
    Feed,
    Match,
    create_db_engine,
    make_session_factory,
    utcnow,
)
from tests.conftest import REDIS_URL
from tests.support.databases import migrated_schema
from tests.support.feed_server import FeedServer
from tests.support.processes import start_beat, start_worker, stop, wait_until
from tests.support.scenario import EXPECTED, EXPECTED_AFTER_NEW_ITEM, add_new_item, serve_feeds, write_config
from tests.support.smtp_server import SmtpServer
from tests.support.webhook_receiver import WebhookReceiver


@pytest.fixture
def servers() -> Iterator[tuple[FeedServer, WebhookReceiver, SmtpServer]]:
    with FeedServer() as feeds, WebhookReceiver() as hook, SmtpServer() as smtp:
        serve_feeds(feeds)
        yield feeds, hook, smtp


def distributed_config(
    tmp_path: Path, db_url: str, servers: tuple[FeedServer, WebhookReceiver, SmtpServer]
) -> tuple[Path, str]:
    """The scenario's config on a migrated database, with a Celery queue of
    its own (polls: ``<queue>.poll``) and fast ticks; and that queue."""
    migrated_schema(db_url)
    feeds, hook, smtp = servers
    queue = f"monitor-test-{uuid.uuid4().hex[:8]}"
    config = write_config(
        tmp_path / "monitor.yaml",
        database_url=db_url,
        server=feeds,
        hook=hook,
        smtp=smtp,
        broker_url=REDIS_URL,
        extra=f"workers:\n  queue: {queue}\n  beat_tick: 1s\n  sweep_interval: 2s\n",
    )
    return config, queue


def snapshot(db_url: str) -> tuple[set[tuple[str, str]], list[str]]:
    engine = create_db_engine(db_url)
    with make_session_factory(engine)() as session:
        matches = {
            (key, topic)
            for key, topic in session.execute(
                select(Article.item_key, Match.topic_id).join(Match, Match.article_id == Article.id)
            )
        }
        states = sorted(session.scalars(select(Delivery.state)))
    engine.dispose()
    return matches, states


def test_worker_and_beat_deliver_each_alert_once(
    postgres_url: str, tmp_path: Path, servers: tuple[FeedServer, WebhookReceiver, SmtpServer]
) -> None:
    db_url = postgres_url  # distributed mode runs on PostgreSQL
    feeds, hook, smtp = servers
    config, _ = distributed_config(tmp_path, db_url, servers)
    log = tmp_path / "celery.log"
    worker = start_worker(config, log)
    beat = start_beat(config, log, tmp_path / "beat-schedule")
    try:
        wait_until(lambda: len(hook.delivered) >= 3 and len(smtp.messages) >= 2, 90, what="the first alerts")
        wait_until(lambda: snapshot(db_url)[1] == ["sent"] * 5, 30, what="all deliveries sent")
        assert snapshot(db_url)[0] == EXPECTED
        # Let beat tick a few more times: feeds are not due yet, sweeps find nothing.
        time.sleep(5)
        assert len(hook.requests) == 3 and len(smtp.messages) == 2

        add_new_item(feeds)
        # Make the feeds due now instead of waiting out the 60 s interval.
        engine = create_db_engine(db_url)
        with make_session_factory(engine).begin() as session:
            for feed in session.scalars(select(Feed)):
                feed.next_check_at = utcnow()
        engine.dispose()
        wait_until(
            lambda: len(hook.delivered) >= 4 and len(smtp.messages) >= 3, 60, what="the new item's alerts"
        )
        time.sleep(3)
        matches, states = snapshot(db_url)
        assert matches == EXPECTED_AFTER_NEW_ITEM
        assert states == ["sent"] * 7
        assert len(hook.requests) == 4 and len(smtp.messages) == 3
    finally:
        stop(beat)
        stop(worker)
    assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")[-3000:]


def test_polls_run_on_their_own_queue_while_classification_waits(
    postgres_url: str, tmp_path: Path, servers: tuple[FeedServer, WebhookReceiver, SmtpServer]
) -> None:
    """Beat's tick and the polls go through ``<queue>.poll``: a worker on that
    queue alone (a thread pool, as docker-compose runs it) stores the feeds'
    articles while nothing consumes the main queue, so a backlog of
    classification never holds due feeds back; a worker on the main queue
    then classifies and alerts them, once each."""
    db_url = postgres_url
    _, hook, smtp = servers
    config, queue = distributed_config(tmp_path, db_url, servers)
    log = tmp_path / "celery.log"
    engine = create_db_engine(db_url)
    factory = make_session_factory(engine)

    def stored() -> tuple[int, int]:
        with factory() as session:
            articles = len(session.scalars(select(Article.id)).all())
            classified = len(
                session.scalars(select(Article.id).where(Article.classified_at.is_not(None))).all()
            )
        return articles, classified

    poller = start_worker(config, log, pool="threads", concurrency=4, name="poller", queues=f"{queue}.poll")
    beat = start_beat(config, log, tmp_path / "beat-schedule")
    worker = None
    try:
        wait_until(lambda: stored()[0] >= 5, 60, what="the feeds' articles stored by the poller")
        time.sleep(3)  # beat ticks and sweeps meanwhile: they queue work nobody takes yet
        articles, classified = stored()
        assert classified == 0 and not hook.requests and not smtp.messages
        worker = start_worker(config, log, concurrency=1, name="classifier", queues=queue)
        wait_until(lambda: snapshot(db_url)[1] == ["sent"] * 5, 90, what="the alerts sent")
        assert snapshot(db_url)[0] == EXPECTED
        assert stored() == (articles, articles)
        assert len(hook.requests) == 3 and len(smtp.messages) == 2
    finally:
        stop(beat)
        stop(poller)
        if worker is not None:
            stop(worker)
        engine.dispose()
    assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")[-3000:]
