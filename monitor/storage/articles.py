"""Articles and their matches: stored once, classified once, matched once.

* :func:`insert_articles` stores a poll's items with ``INSERT ... ON
  CONFLICT DO NOTHING`` on (feed, item key): a repeated poll creates nothing.
* An article is *pending* until the matching stage has scored it;
  :func:`claim_for_classification` marks it classified by a conditional
  UPDATE, and only the caller that wins inserts its matches
  (:func:`insert_match`, unique per (article, topic)).

Callers own the transaction: every function takes the session it works in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from monitor.ingest.types import NormalizedArticle
from monitor.storage.db import affected_rows, insert_ignore
from monitor.storage.models import Article, Feedback, Match

INSERT_CHUNK = 500


def insert_articles(
    session: Session, feed_id: int, articles: Sequence[NormalizedArticle], *, fetched_at: datetime
) -> list[int]:
    """Store the articles not stored yet; the ids of the new ones, ascending.
    The first occurrence of an item key in one document wins, as in the feed's order."""
    rows: dict[str, dict[str, object]] = {}
    for article in articles:
        rows.setdefault(
            article.item_key,
            {
                "feed_id": feed_id,
                "item_key": article.item_key,
                "title": article.title,
                "summary": article.summary,
                "link": article.link,
                "language": article.language,
                "published_at": article.published_at,
                "fetched_at": fetched_at,
                "content_hash": article.content_hash,
                "body": article.body,
                "body_note": article.body_note,
            },
        )
    new_ids: list[int] = []
    values = list(rows.values())
    for start in range(0, len(values), INSERT_CHUNK):
        chunk = values[start : start + INSERT_CHUNK]
        inserted = insert_ignore(session, Article.__table__, chunk, returning=["id"])  # type: ignore[arg-type]
        new_ids.extend(row.id for row in inserted)
    return sorted(new_ids)


def known_item_keys(session: Session, feed_id: int, item_keys: Sequence[str]) -> set[str]:
    """Which of ``item_keys`` the feed already has."""
    known: set[str] = set()
    for start in range(0, len(item_keys), INSERT_CHUNK):
        chunk = item_keys[start : start + INSERT_CHUNK]
        known.update(
            session.scalars(
                select(Article.item_key).where(Article.feed_id == feed_id, Article.item_key.in_(chunk))
            )
        )
    return known


@dataclass(frozen=True)
class PendingArticle:
    """An article waiting to be classified: what the matcher reads."""

    id: int
    title: str
    summary: str
    language: str | None
    # What story grouping needs besides the text.
    feed_id: int = 0
    link: str | None = None
    published_at: datetime | None = None
    fetched_at: datetime | None = None
    body: str | None = None  # the page's main text (full text), when fetched
    body_note: str | None = None

    @property
    def seen_at(self) -> datetime | None:
        """The article's time: when it was published, at the latest when it was fetched."""
        if self.published_at is None or self.fetched_at is None:
            return self.fetched_at or self.published_at
        return min(self.published_at, self.fetched_at)


def pending_article_ids(session: Session, *, limit: int = 1000) -> list[int]:
    query = select(Article.id).where(Article.classified_at.is_(None)).order_by(Article.id).limit(limit)
    return list(session.scalars(query))


def pending_articles(
    session: Session, ids: Sequence[int] | None = None, *, limit: int = 0
) -> list[PendingArticle]:
    """The pending articles among ``ids``, or the ``limit`` oldest pending ones."""
    query = select(
        Article.id,
        Article.title,
        Article.summary,
        Article.language,
        Article.feed_id,
        Article.link,
        Article.published_at,
        Article.fetched_at,
        Article.body,
        Article.body_note,
    ).where(Article.classified_at.is_(None))
    query = query.where(Article.id.in_(ids)) if ids is not None else query.limit(limit)
    rows = session.execute(query.order_by(Article.id)).all()
    return [
        PendingArticle(
            row.id,
            row.title,
            row.summary,
            row.language,
            row.feed_id,
            row.link,
            row.published_at,
            row.fetched_at,
            row.body,
            row.body_note,
        )
        for row in rows
    ]


def claim_for_classification(session: Session, article_id: int, *, at: datetime) -> bool:
    """Mark a pending article classified; True for the one caller that did."""
    won = affected_rows(
        session,
        update(Article)
        .where(Article.id == article_id, Article.classified_at.is_(None))
        .values(classified_at=at),
    )
    return won == 1


def insert_match(
    session: Session,
    article_id: int,
    topic_id: str,
    *,
    score: float,
    evidence: dict[str, Any],
    model_version: str,
    at: datetime,
) -> int | None:
    """Store one match; its id, or None when the (article, topic) match exists."""
    inserted = insert_ignore(
        session,
        Match.__table__,  # type: ignore[arg-type]
        [
            {
                "article_id": article_id,
                "topic_id": topic_id,
                "score": score,
                "evidence": evidence,
                "model_version": model_version,
                "created_at": at,
            }
        ],
        returning=["id"],
    )
    return int(inserted[0].id) if inserted else None


def articles_fetched_since(
    session: Session, since: datetime, *, after_id: int = 0, limit: int = 256
) -> list[Article]:
    """Articles the monitor fetched at or after ``since`` (whatever their
    publication date), by id, the next ``limit`` after ``after_id``."""
    query = (
        select(Article)
        .where(Article.fetched_at >= since, Article.id > after_id)
        .order_by(Article.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def matched_article_ids(session: Session, topic_id: str) -> set[int]:
    return set(session.scalars(select(Match.article_id).where(Match.topic_id == topic_id)))


@dataclass(frozen=True)
class Judgement:
    """A stored feedback row with its article's text."""

    article_id: int
    topic_id: str
    relevant: bool
    title: str
    summary: str


def record_judgement(
    session: Session, article_id: int, topic_id: str, relevant: bool, *, at: datetime
) -> bool:
    """Store (or replace) whether an article is relevant to a topic; True
    when it changed something. The article must exist (``session.get``)."""
    inserted = insert_ignore(
        session,
        Feedback.__table__,  # type: ignore[arg-type]
        [{"article_id": article_id, "topic_id": topic_id, "relevant": relevant, "created_at": at}],
        returning=["id"],
    )
    if inserted:
        return True
    row = session.execute(
        select(Feedback).where(Feedback.article_id == article_id, Feedback.topic_id == topic_id)
    ).scalar_one()
    if row.relevant == relevant:
        return False
    row.relevant = relevant
    row.created_at = at
    return True


def judgements(session: Session) -> list[Judgement]:
    """Every stored judgement with its article's title and summary, in a stable order."""
    rows = session.execute(
        select(Feedback.article_id, Feedback.topic_id, Feedback.relevant, Article.title, Article.summary)
        .join(Article, Article.id == Feedback.article_id)
        .order_by(Feedback.article_id, Feedback.topic_id)
    ).all()
    return [
        Judgement(int(article_id), str(topic_id), bool(relevant), title or "", summary or "")
        for article_id, topic_id, relevant, title, summary in rows
    ]
