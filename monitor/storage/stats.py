"""Figures for ``/metrics``: what the database says about every process.

The pipeline runs in several processes (the embedded service, Celery workers
on other hosts), so the metrics are read from the database, which every one
of them writes, rather than from counters in the serving process. Each query
is an aggregate over an index or over a short recent window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.storage.models import Article, Delivery, DeliveryState, Feed, FeedStatus, Match


@dataclass(frozen=True)
class PipelineStats:
    polls: dict[str, int]  # outcome -> polls finished, over the feeds' lifetimes
    feeds: dict[str, int]  # status -> feeds
    feeds_failing: int  # active feeds whose last poll failed
    articles: int
    articles_pending: int  # not classified yet
    matches: dict[str, int]  # topic -> stored matches
    deliveries: dict[str, int]  # state -> deliveries
    outbox_lag: float  # seconds the oldest due delivery has waited (0: none waits)
    classification_lag: float  # seconds the oldest unclassified article has waited
    classification_latencies: list[float]  # fetch -> classified, the window's articles
    delivery_latencies: list[float]  # match -> sent, the window's sent deliveries


def pipeline_stats(session: Session, *, now: datetime, window: timedelta) -> PipelineStats:
    ok, not_modified, failed = session.execute(
        select(
            func.coalesce(func.sum(Feed.polls_ok), 0),
            func.coalesce(func.sum(Feed.polls_not_modified), 0),
            func.coalesce(func.sum(Feed.polls_failed), 0),
        )
    ).one()
    feeds = {status.value: 0 for status in FeedStatus}
    for status, count in session.execute(select(Feed.status, func.count()).group_by(Feed.status)):
        feeds[status.value] = int(count)
    failing = session.scalar(
        select(func.count()).where(Feed.status == FeedStatus.ACTIVE, Feed.consecutive_errors > 0)
    )
    deliveries = {state.value: 0 for state in DeliveryState}
    for state, count in session.execute(select(Delivery.state, func.count()).group_by(Delivery.state)):
        deliveries[state.value] = int(count)
    oldest_due = session.scalar(
        select(func.min(Delivery.next_attempt_at)).where(
            Delivery.state == DeliveryState.PENDING, Delivery.next_attempt_at <= now
        )
    )
    oldest_pending = session.scalar(
        select(func.min(Article.fetched_at)).where(Article.classified_at.is_(None))
    )
    since = now - window
    classified = session.execute(
        select(Article.fetched_at, Article.classified_at).where(Article.classified_at >= since)
    ).all()
    sent = session.execute(
        select(Delivery.created_at, Delivery.sent_at).where(
            Delivery.sent_at >= since, Delivery.state == DeliveryState.SENT
        )
    ).all()
    return PipelineStats(
        polls={"ok": int(ok), "not_modified": int(not_modified), "failed": int(failed)},
        feeds=feeds,
        feeds_failing=int(failing or 0),
        articles=int(session.scalar(select(func.count(Article.id))) or 0),
        articles_pending=int(
            session.scalar(select(func.count(Article.id)).where(Article.classified_at.is_(None))) or 0
        ),
        matches={
            str(topic): int(count)
            for topic, count in session.execute(select(Match.topic_id, func.count()).group_by(Match.topic_id))
        },
        deliveries=deliveries,
        outbox_lag=max(0.0, (now - oldest_due).total_seconds()) if oldest_due else 0.0,
        classification_lag=max(0.0, (now - oldest_pending).total_seconds()) if oldest_pending else 0.0,
        classification_latencies=[
            max(0.0, (done - fetched).total_seconds()) for fetched, done in classified if done is not None
        ],
        delivery_latencies=[
            max(0.0, (done - created).total_seconds()) for created, done in sent if done is not None
        ],
    )
