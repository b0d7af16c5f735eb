"""/metrics and /health, on SQLite and PostgreSQL: the figures are the
database's, the health check asks the database and the broker for real."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.storage import Article, Delivery, DeliveryState, Feed, Match, utcnow
from tests.conftest import REDIS_URL
from tests.support.corpus import Corpus
from tests.support.processes import free_port
from tests.web.conftest import MakeClient


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_are_the_databases_figures(
    make_client: MakeClient, corpus: Corpus, session_factory: sessionmaker[Session]
) -> None:
    now = utcnow()
    with session_factory.begin() as session:
        # One alert due for two minutes (the corpus's others are sent), one
        # article waiting to be classified.
        session.execute(
            update(Delivery).where(Delivery.state == DeliveryState.PENDING).values(state=DeliveryState.DEAD)
        )
        waiting = session.scalars(select(Delivery).where(Delivery.state == DeliveryState.SENT).limit(1)).one()
        waiting.state, waiting.next_attempt_at, waiting.sent_at = (
            DeliveryState.PENDING,
            now - timedelta(minutes=2),
            None,
        )
        session.execute(
            update(Article)
            .where(Article.id == corpus.article_ids[-1])
            .values(classified_at=None, fetched_at=now - timedelta(minutes=5))
        )
        polls = session.execute(
            select(func.sum(Feed.polls_ok), func.sum(Feed.polls_not_modified), func.sum(Feed.polls_failed))
        ).one()
        states = dict(session.execute(select(Delivery.state, func.count()).group_by(Delivery.state)).all())
        topics = dict(session.execute(select(Match.topic_id, func.count()).group_by(Match.topic_id)).all())
        recent = session.scalar(
            select(func.count()).select_from(Article).where(Article.classified_at >= now - timedelta(hours=1))
        )
    response = make_client().get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    got = samples(response.text)
    assert [
        got[("monitor_polls_total", (("outcome", o),))] for o in ("ok", "not_modified", "failed")
    ] == list(polls)
    for state in DeliveryState:
        assert got[("monitor_deliveries", (("state", state.value),))] == states.get(state, 0)
    for topic, count in topics.items():
        assert got[("monitor_matches", (("topic", topic),))] == count
    assert got[("monitor_articles", ())] == len(corpus.article_ids)
    assert got[("monitor_articles_pending", ())] == 1
    assert 120 <= got[("monitor_outbox_lag_seconds", ())] < 180
    assert 300 <= got[("monitor_classification_lag_seconds", ())] < 360
    assert got[("monitor_classification_latency_seconds_bucket", (("le", "+Inf"),))] == recent
    # Every article of the corpus is classified within 20 s of its fetch.
    assert got[("monitor_classification_latency_seconds_bucket", (("le", "30.0"),))] == recent


def test_health_asks_the_database_and_the_broker(make_client: MakeClient) -> None:
    healthy = make_client(extra=f"broker_url: '{REDIS_URL}'\n").get("/health")
    assert healthy.status_code == 200
    assert healthy.json() == {"status": "ok", "database": "ok", "broker": "ok"}
    down = make_client(extra=f"broker_url: 'redis://127.0.0.1:{free_port()}/0'\n").get("/health")
    assert down.status_code == 503
    assert down.json()["broker"].startswith("failed: ") and down.json()["database"] == "ok"
