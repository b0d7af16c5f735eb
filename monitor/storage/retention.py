"""What retention may delete, a batch at a time.

Three kinds of rows age out (``retention`` in the config):

* **deliveries** that are finished (``sent`` or ``dead``), by when they were
  queued; a pending or sending alert is never deleted;
* **matches**, by when they were made, except the matches of an article a
  person judged (feedback) or that heads a story; their deliveries go with
  them (``ON DELETE CASCADE``);
* **articles**, by when they were fetched, once classified and left without
  any match (a kept match keeps its article), without feedback, and not
  heading a story.

Every function selects at most ``limit`` ids and deletes exactly those, so a
caller commits each batch on its own and no transaction holds its locks for
long. Callers own the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, exists, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from monitor.storage.db import affected_rows
from monitor.storage.models import Article, Delivery, DeliveryState, Feedback, Match
from monitor.storage.story_models import Story

FINISHED = (DeliveryState.SENT, DeliveryState.DEAD)
_IdColumn = ColumnElement[int] | InstrumentedAttribute[int]


def story_head_article_ids() -> Select[Any]:
    """The articles that head a story (its headline), which retention keeps
    with their matches: a story listed by ``monitor stories`` keeps its
    headline and link however old it is. The story's other articles age out
    as usual (their ``story_articles`` rows go with them)."""
    return select(Story.headline_article_id).where(Story.headline_article_id.is_not(None))


def _judged(article_id: _IdColumn) -> ColumnElement[bool]:
    return exists().where(Feedback.article_id == article_id)


def _kept_article(article_id: _IdColumn) -> ColumnElement[bool]:
    """An article that is kept whatever its age: judged, or a story's head."""
    return _judged(article_id) | article_id.in_(story_head_article_ids())


def _old_deliveries(cutoff: datetime) -> ColumnElement[bool]:
    return and_(Delivery.created_at < cutoff, Delivery.state.in_(FINISHED))


def _old_matches(cutoff: datetime) -> ColumnElement[bool]:
    return and_(Match.created_at < cutoff, ~_kept_article(Match.article_id))


def _old_articles(cutoff: datetime, matches_cutoff: datetime | None) -> ColumnElement[bool]:
    """Old articles without a match that outlives this prune (the matches
    are pruned first, so a dry run counts what the prune will remove)."""
    surviving = exists().where(Match.article_id == Article.id)
    if matches_cutoff is not None:
        surviving = surviving.where(Match.created_at >= matches_cutoff)
    return and_(
        Article.fetched_at < cutoff,
        Article.classified_at.is_not(None),
        ~surviving,
        ~_kept_article(Article.id),
    )


def count_old(
    session: Session, *, deliveries: datetime | None, matches: datetime | None, articles: datetime | None
) -> dict[str, int]:
    """How many rows each cutoff would remove now (None: kept forever)."""
    counts = {"deliveries": 0, "matches": 0, "articles": 0}
    if deliveries is not None:
        counts["deliveries"] = _count(
            session, select(func.count()).select_from(Delivery).where(_old_deliveries(deliveries))
        )
    if matches is not None:
        counts["matches"] = _count(
            session, select(func.count()).select_from(Match).where(_old_matches(matches))
        )
    if articles is not None:
        counts["articles"] = _count(
            session, select(func.count()).select_from(Article).where(_old_articles(articles, matches))
        )
    return counts


def _count(session: Session, query: Select[Any]) -> int:
    return int(session.scalar(query) or 0)


def delete_old_deliveries(session: Session, cutoff: datetime, *, limit: int) -> int:
    ids = list(
        session.scalars(select(Delivery.id).where(_old_deliveries(cutoff)).order_by(Delivery.id).limit(limit))
    )
    return _delete(session, Delivery.__table__.c.id, ids, Delivery)


def delete_old_matches(session: Session, cutoff: datetime, *, limit: int) -> int:
    ids = list(session.scalars(select(Match.id).where(_old_matches(cutoff)).order_by(Match.id).limit(limit)))
    return _delete(session, Match.__table__.c.id, ids, Match)


def delete_old_articles(
    session: Session, cutoff: datetime, *, limit: int, matches_cutoff: datetime | None = None
) -> int:
    query = select(Article.id).where(_old_articles(cutoff, matches_cutoff)).order_by(Article.id).limit(limit)
    ids = list(session.scalars(query))
    return _delete(session, Article.__table__.c.id, ids, Article)


def _delete(session: Session, column: ColumnElement[int], ids: Sequence[int], model: type[object]) -> int:
    if not ids:
        return 0
    return affected_rows(session, delete(model).where(column.in_(ids)))
