"""Feedback: a person's judgement of one (article, topic), used by ``monitor learn``."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.matching.base import ArticleText
from monitor.matching.learn import FeedbackExample
from monitor.storage.db import insert_ignore
from monitor.storage.models import Article, Feedback, utcnow


class FeedbackError(Exception):
    pass


def record_feedback(session: Session, article_id: int, topic_id: str, relevant: bool) -> bool:
    """Store (or replace) the judgement; True when it changed something."""
    if session.get(Article, article_id) is None:
        raise FeedbackError(f"no article with id {article_id}")
    inserted = insert_ignore(
        session,
        Feedback.__table__,  # type: ignore[arg-type]
        [{"article_id": article_id, "topic_id": topic_id, "relevant": relevant, "created_at": utcnow()}],
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
    row.created_at = utcnow()
    return True


def load_feedback(session: Session) -> list[FeedbackExample]:
    """Every stored judgement with its article's text (title + summary), in a stable order."""
    rows = session.execute(
        select(Feedback.article_id, Feedback.topic_id, Feedback.relevant, Article.title, Article.summary)
        .join(Article, Article.id == Feedback.article_id)
        .order_by(Feedback.article_id, Feedback.topic_id)
    ).all()
    return [
        FeedbackExample(
            article_id=int(article_id),
            topic_id=str(topic_id),
            relevant=bool(relevant),
            text=ArticleText(title or "", summary or "").text,
        )
        for article_id, topic_id, relevant, title, summary in rows
    ]
