"""Feedback: a person's judgement of one (article, topic), used by ``monitor learn``."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.orm import Session

from monitor.matching.base import ArticleText
from monitor.matching.inputs import FeedbackExample
from monitor.storage.articles import judgements, record_judgement
from monitor.storage.models import Article, utcnow

log = logging.getLogger(__name__)


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


def stored_feedback(database_url: str) -> list[FeedbackExample]:
    """Every judgement in the database, or none when there is no database yet
    (a first ``monitor learn`` before ``monitor run``): said in the log."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from monitor.storage import create_db_engine, make_session_factory

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        log.info("no database at %s: no stored feedback used", url.database)
        return []
    engine = create_db_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            return load_feedback(session)
    except SQLAlchemyError as exc:
        log.warning("no stored feedback used (%s: database not ready?)", type(exc).__name__)
        return []
    finally:
        engine.dispose()
