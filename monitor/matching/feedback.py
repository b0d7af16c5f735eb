"""Feedback: a person's judgement of one (article, topic), used by ``monitor learn``."""

from __future__ import annotations

from sqlalchemy.orm import Session

from monitor.matching.base import ArticleText
from monitor.matching.learn import FeedbackExample
from monitor.storage.articles import judgements, record_judgement
from monitor.storage.models import Article, utcnow


class FeedbackError(Exception):
    pass


def record_feedback(session: Session, article_id: int, topic_id: str, relevant: bool) -> bool:
    """Store (or replace) the judgement; True when it changed something."""
    if session.get(Article, article_id) is None:
        raise FeedbackError(f"no article with id {article_id}")
    return record_judgement(session, article_id, topic_id, relevant, at=utcnow())


def load_feedback(session: Session) -> list[FeedbackExample]:
    """Every stored judgement with its article's text (title + summary), in a stable order."""
    return [
        FeedbackExample(
            article_id=judged.article_id,
            topic_id=judged.topic_id,
            relevant=judged.relevant,
            text=ArticleText(judged.title, judged.summary).text,
        )
        for judged in judgements(session)
    ]
