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
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, or_, select, tuple_
from sqlalchemy.orm import Session

from monitor.storage.db import folded_like
from monitor.storage.models import Article, Delivery, DeliveryState, Feed, FeedStatus, Match
from monitor.storage.story_models import StoryArticle
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
                    else feed.schedule_reason
                    or (
                        "not polled yet" if feed.last_success_at is None else "the feed's configured interval"
                    )
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
    article_id: int


def list_deliveries(
    session: Session,
    *,
    state: DeliveryState | None = None,
    limit: int = 50,
    before_id: int | None = None,
) -> list[DeliveryView]:
    """Deliveries newest first, optionally in one state; with ``before_id``
    the ones older than that delivery (the next page)."""
    query = (
        select(Delivery, Match.topic_id, Article.title, Article.id)
        .join(Match, Delivery.match_id == Match.id)
        .join(Article, Match.article_id == Article.id)
        .order_by(Delivery.id.desc())
        .limit(limit)
    )
    if state is not None:
        query = query.where(Delivery.state == state)
    if before_id is not None:
        query = query.where(Delivery.id < before_id)
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
            article_id=article_id,
        )
        for delivery, topic_id, title, article_id in session.execute(query)
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
    feed_id: int | None = None


@dataclass(frozen=True, order=True)
class Keyset:
    """A match's place in the newest-first order: (matched at, id). Pages
    continue from one (keyset pagination), so a page stays right while new
    matches arrive and costs the same at any depth."""

    matched_at: datetime
    match_id: int


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
    story_id: int | None = None  # the story of its article (None before stories existed)

    @property
    def keyset(self) -> Keyset:
        return Keyset(self.matched_at, self.match_id)

    def as_json(self) -> dict[str, Any]:
        """The machine-readable form: one object per match (JSON lines, API)."""
        return {
            "match_id": self.match_id,
            "story_id": self.story_id,
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


AnySelect = TypeVar("AnySelect", bound=Select[*tuple[Any, ...]])


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def filter_matches(query: AnySelect, flt: MatchFilter) -> AnySelect:
    """``query`` (over ``Match``, other tables optional) narrowed by the
    filter's conditions; ``limit`` is the caller's.

    What concerns the article (feed, language, words) is one ``article_id IN
    (SELECT ...)`` condition, so that both databases walk the matches newest
    first (``ix_matches_created_id``) and stop after a page, whatever the
    join order their planners would pick for a join: a feed's or a word's
    articles sorted in full cost 10 to 100 times more.
    """
    if flt.topic:
        query = query.where(Match.topic_id.in_(list(flt.topic)))
    if flt.since is not None:
        query = query.where(Match.created_at >= flt.since)
    if flt.until is not None:
        query = query.where(Match.created_at <= flt.until)
    if flt.min_score is not None:
        query = query.where(Match.score >= flt.min_score)
    about_article: list[ColumnElement[bool]] = []
    if flt.feed:
        pattern = f"%{_escape_like(flt.feed)}%"
        feeds = select(Feed.id).where(or_(folded_like(Feed.name, pattern), folded_like(Feed.url, pattern)))
        about_article.append(Article.feed_id.in_(feeds))
    if flt.feed_id is not None:
        about_article.append(Article.feed_id == flt.feed_id)
    if flt.lang:
        about_article.append(Article.language == flt.lang)
    for word in (flt.search or "").split():
        pattern = f"%{_escape_like(word)}%"
        about_article.append(or_(folded_like(Article.title, pattern), folded_like(Article.summary, pattern)))
    if about_article:
        # Its own ``articles``, whether or not the outer query joins them.
        article_holds = select(Article.id).where(Article.id == Match.article_id, *about_article)
        query = query.where(article_holds.correlate(Match).exists())
    return query


def find_matches(
    session: Session, flt: MatchFilter, *, older_than: Keyset | None = None, newer_than: Keyset | None = None
) -> list[MatchRow]:
    """Matches newest first, as the filter says: the ``limit`` newest, or
    the ``limit`` just older than ``older_than``, or just newer than
    ``newer_than`` (still listed newest first)."""
    query = filter_matches(
        select(Match, Article, Feed, StoryArticle.story_id)
        .join(Article, Match.article_id == Article.id)
        .join(Feed, Article.feed_id == Feed.id)
        .outerjoin(StoryArticle, StoryArticle.article_id == Article.id),
        flt,
    )
    place = tuple_(Match.created_at, Match.id)
    if older_than is not None:
        query = query.where(place < tuple_(older_than.matched_at, older_than.match_id))
    if newer_than is not None:
        # Walk up from the keyset, then show the rows newest first.
        query = query.where(place > tuple_(newer_than.matched_at, newer_than.match_id))
        query = query.order_by(Match.created_at, Match.id).limit(flt.limit)
    else:
        query = query.order_by(Match.created_at.desc(), Match.id.desc()).limit(flt.limit)
    rows = [
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
            story_id=story_id,
        )
        for match, article, feed, story_id in session.execute(query).all()
    ]
    return rows[::-1] if newer_than is not None else rows
