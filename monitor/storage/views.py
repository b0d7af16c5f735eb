"""Read models: what the CLI and the HTTP API show, from one set of queries.

``monitor feeds`` and ``GET /feeds`` show :class:`FeedView`; ``monitor
matches`` and ``GET /matches`` show :class:`MatchRow`; ``monitor
deliveries`` shows :class:`DeliveryView` and ``GET /deliveries`` the counts
of ``outbox.delivery_counts``. URLs leave through ``redact_url``; other text
is as stored (each front end escapes it for its medium).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from monitor.storage.models import Article, Delivery, DeliveryState, Feed, FeedStatus, Match
from monitor.urls import redact_url


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


# --- feeds ---------------------------------------------------------------------


@dataclass(frozen=True)
class FeedView:
    id: int
    name: str
    url: str
    status: FeedStatus
    next_check_at: datetime | None  # None when the feed is not polled (gone, removed)
    consecutive_errors: int
    last_error: str | None
    last_success_at: datetime | None
    last_new_article_at: datetime | None
    silent: bool  # no new item for longer than fetch.silent_after
    # The interval in force and why (schedule, TTL, backoff), once polled.
    interval_seconds: int
    interval_reason: str
    category: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "url": self.url,
            "category": self.category,
            "status": self.status.value,
            "interval_seconds": self.interval_seconds,
            "interval_reason": self.interval_reason,
            "next_check_at": _iso(self.next_check_at),
            "consecutive_errors": self.consecutive_errors,
            "last_error": self.last_error,
            "last_success_at": _iso(self.last_success_at),
            "last_new_article_at": _iso(self.last_new_article_at),
            "silent": self.silent,
        }


def list_feeds(session: Session, *, now: datetime, silent_after: float) -> list[FeedView]:
    """Every feed the monitor knows, by id."""
    views: list[FeedView] = []
    for feed in session.scalars(select(Feed).order_by(Feed.id)):
        last_new = feed.last_new_article_at or feed.created_at
        views.append(
            FeedView(
                id=feed.id,
                name=feed.name,
                url=redact_url(feed.url),
                status=feed.status,
                next_check_at=feed.next_check_at if feed.status == FeedStatus.ACTIVE else None,
                consecutive_errors=feed.consecutive_errors,
                last_error=feed.last_error,
                last_success_at=feed.last_success_at,
                last_new_article_at=feed.last_new_article_at,
                silent=(now - last_new).total_seconds() > silent_after,
                interval_seconds=feed.schedule_seconds or feed.interval_seconds,
                interval_reason=(
                    "disabled in the config"
                    if feed.status == FeedStatus.DISABLED
                    else feed.schedule_reason or "not polled yet"
                ),
                category=feed.category,
            )
        )
    return views


# --- deliveries ------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryView:
    id: int
    state: DeliveryState
    attempts: int
    channel: str
    topic_id: str
    title: str
    next_attempt_at: datetime | None  # only for a pending delivery
    lease_until: datetime | None
    sent_at: datetime | None
    last_error: str | None
    dedupe_key: str


def list_deliveries(
    session: Session, *, state: DeliveryState | None = None, limit: int = 50
) -> list[DeliveryView]:
    """Deliveries newest first, optionally in one state."""
    query = (
        select(Delivery, Match.topic_id, Article.title)
        .join(Match, Delivery.match_id == Match.id)
        .join(Article, Match.article_id == Article.id)
        .order_by(Delivery.id.desc())
        .limit(limit)
    )
    if state is not None:
        query = query.where(Delivery.state == state)
    return [
        DeliveryView(
            id=delivery.id,
            state=delivery.state,
            attempts=delivery.attempts,
            channel=delivery.channel,
            topic_id=topic_id,
            title=title,
            next_attempt_at=delivery.next_attempt_at if delivery.state == DeliveryState.PENDING else None,
            lease_until=delivery.lease_until,
            sent_at=delivery.sent_at,
            last_error=delivery.last_error,
            dedupe_key=delivery.dedupe_key,
        )
        for delivery, topic_id, title in session.execute(query)
    ]


# --- matches -------------------------------------------------------------------


@dataclass(frozen=True)
class MatchFilter:
    topic: Sequence[str] = ()
    since: datetime | None = None
    until: datetime | None = None
    feed: str | None = None  # feed name or URL, or a part of either
    lang: str | None = None
    min_score: float | None = None
    search: str | None = None
    limit: int = 50


@dataclass(frozen=True)
class MatchRow:
    match_id: int
    topic_id: str
    score: float
    matched_at: datetime
    evidence: dict[str, Any]
    model_version: str
    article_id: int
    title: str
    summary: str
    link: str | None
    language: str | None
    published_at: datetime | None
    feed_name: str
    feed_url: str

    def as_json(self) -> dict[str, Any]:
        """The machine-readable form: one object per match (JSON lines, API)."""
        return {
            "match_id": self.match_id,
            "topic": self.topic_id,
            "score": self.score,
            "matched_at": self.matched_at.isoformat(),
            "evidence": self.evidence,
            "model_version": self.model_version,
            "article": {
                "id": self.article_id,
                "title": self.title,
                "summary": self.summary,
                "link": self.link,
                "language": self.language,
                "published_at": self.published_at.isoformat() if self.published_at else None,
                "feed": {"name": self.feed_name, "url": self.feed_url},
            },
        }


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def find_matches(session: Session, flt: MatchFilter) -> list[MatchRow]:
    """Matches newest first, as the filter says."""
    query = (
        select(Match, Article, Feed)
        .join(Article, Match.article_id == Article.id)
        .join(Feed, Article.feed_id == Feed.id)
    )
    if flt.topic:
        query = query.where(Match.topic_id.in_(list(flt.topic)))
    if flt.since is not None:
        query = query.where(Match.created_at >= flt.since)
    if flt.until is not None:
        query = query.where(Match.created_at <= flt.until)
    if flt.feed:
        pattern = f"%{_escape_like(flt.feed)}%"
        query = query.where(or_(Feed.name.ilike(pattern, escape="\\"), Feed.url.ilike(pattern, escape="\\")))
    if flt.lang:
        query = query.where(Article.language == flt.lang)
    if flt.min_score is not None:
        query = query.where(Match.score >= flt.min_score)
    if flt.search:
        for word in flt.search.split():
            pattern = f"%{_escape_like(word)}%"
            query = query.where(
                or_(Article.title.ilike(pattern, escape="\\"), Article.summary.ilike(pattern, escape="\\"))
            )
    query = query.order_by(Match.created_at.desc(), Match.id.desc()).limit(flt.limit)
    return [
        MatchRow(
            match_id=match.id,
            topic_id=match.topic_id,
            score=match.score,
            matched_at=match.created_at,
            evidence=match.evidence,
            model_version=match.model_version,
            article_id=article.id,
            title=article.title,
            summary=article.summary,
            link=article.link,
            language=article.language,
            published_at=article.published_at,
            feed_name=feed.name,
            feed_url=redact_url(feed.url),
        )
        for match, article, feed in session.execute(query).all()
    ]
