"""Stories in the database: the grouping lock, the members the in-memory
index loads, creating and growing stories, and the per-story alert gate
(the read models are in ``story_views``).

Grouping reads the open stories and then writes, so two workers grouping
at once could each start a story for the same event. :func:`lock_grouping`
serialises grouping transactions: PostgreSQL takes a transaction-scoped
advisory lock; SQLite's ``BEGIN IMMEDIATE`` already serialises writers.
Under the lock, member ids are committed in increasing order, which is what
lets an index load only the rows after the last id it has seen.

Callers own the transaction: every function takes the session it works in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from monitor.storage.db import insert_ignore
from monitor.storage.story_models import Story, StoryAlert, StoryArticle

# pg_advisory_xact_lock key of story grouping ("nmstory" in ASCII).
GROUPING_LOCK = 0x6E6D73746F7279


def lock_grouping(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": GROUPING_LOCK})


@dataclass(frozen=True)
class MemberRow:
    """A story article as the index needs it."""

    id: int
    story_id: int
    story_first_seen: datetime
    headline_article_id: int | None
    article_id: int
    feed_id: int
    language: str | None
    seen_at: datetime
    vector: bytes
    vector_scale: float
    names: list[str]
    title_names: list[str]
    link_key: str | None
    title_key: str


def load_members(session: Session, *, after_id: int, since: datetime, limit: int = 5000) -> list[MemberRow]:
    """Members with an id after ``after_id`` whose story began at ``since``
    or later, by id."""
    member = StoryArticle
    rows = session.execute(
        select(
            member.id,
            member.story_id,
            Story.first_seen_at,
            Story.headline_article_id,
            member.article_id,
            member.feed_id,
            member.language,
            member.seen_at,
            member.vector,
            member.vector_scale,
            member.names,
            member.title_names,
            member.link_key,
            member.title_key,
        )
        .join(Story, Story.id == member.story_id)
        .where(member.id > after_id, Story.first_seen_at >= since)
        .order_by(member.id)
        .limit(limit)
    ).all()
    return [
        MemberRow(
            id=int(row[0]),
            story_id=int(row[1]),
            story_first_seen=row[2],
            headline_article_id=row[3],
            article_id=int(row[4]),
            feed_id=int(row[5]),
            language=row[6],
            seen_at=row[7],
            vector=row[8],
            vector_scale=float(row[9]),
            names=list(row[10]),
            title_names=list(row[11]),
            link_key=row[12],
            title_key=row[13],
        )
        for row in rows
    ]


def last_member_id(session: Session) -> int:
    return int(session.scalar(select(func.max(StoryArticle.id))) or 0)


@dataclass(frozen=True)
class NewMember:
    article_id: int
    feed_id: int
    language: str | None
    seen_at: datetime
    vector: bytes
    vector_scale: float
    names: Sequence[str]
    title_names: Sequence[str]
    link_key: str | None
    title_key: str


@dataclass(frozen=True)
class StoryGrowth:
    """A story after an article joined it."""

    story_id: int
    first_seen_at: datetime
    headline_article_id: int | None
    outlets_before: int
    outlets_after: int
    created: bool


def _member_row(story_id: int, member: NewMember, at: datetime) -> dict[str, Any]:
    return {
        "story_id": story_id,
        "article_id": member.article_id,
        "feed_id": member.feed_id,
        "language": member.language,
        "seen_at": member.seen_at,
        "vector": member.vector,
        "vector_scale": member.vector_scale,
        "names": sorted(member.names),
        "title_names": sorted(member.title_names),
        "link_key": member.link_key,
        "title_key": member.title_key,
        "created_at": at,
    }


# Statements built once per dialect and executed with parameters, so that
# SQLAlchemy compiles them once (a statement with inline values is compiled
# per call: a third of the cost of grouping an article).
_MEMBER_INSERTS: dict[str, Any] = {}
_STORY_INSERT = insert(Story).returning(Story.id)
# A Core statement (the table, not the class): run with a list of
# parameters it is one executemany, where the ORM would expect primary keys.
_STORIES = cast(Table, Story.__table__)
_STORY_COUNTS = (
    update(_STORIES)
    .where(_STORIES.c.id == bindparam("story_id"))
    .values(
        article_count=bindparam("article_count"),
        outlet_count=bindparam("outlet_count"),
        languages=bindparam("languages"),
        first_seen_at=bindparam("first_seen"),
        last_seen_at=bindparam("last_seen"),
    )
)


def insert_members(session: Session, members: Sequence[tuple[int, NewMember]], *, at: datetime) -> None:
    """The member rows of ``(story id, member)`` pairs, in one statement
    (executemany): grouping writes them when its transaction's articles
    are all placed."""
    if not members:
        return
    dialect = session.get_bind().dialect.name
    statement = _MEMBER_INSERTS.get(dialect)
    if statement is None:
        module = postgresql if dialect == "postgresql" else sqlite
        statement = _MEMBER_INSERTS[dialect] = module.insert(StoryArticle.__table__).on_conflict_do_nothing()
    session.execute(statement, [_member_row(story_id, member, at) for story_id, member in members])


def start_story(session: Session, member: NewMember, *, at: datetime) -> StoryGrowth:
    """A new story whose headline is ``member``'s article (its member row is
    for :func:`insert_members`)."""
    story_id = session.execute(
        _STORY_INSERT,
        {
            "first_seen_at": member.seen_at,
            "last_seen_at": member.seen_at,
            "headline_article_id": member.article_id,
            "article_count": 1,
            "outlet_count": 1,
            "languages": member.language or "",
            "created_at": at,
        },
    ).scalar_one()
    return StoryGrowth(story_id, member.seen_at, member.article_id, 0, 1, True)


@dataclass(frozen=True)
class StoryCounts:
    """A story as the grouping index knows it, before the new member."""

    first_seen_at: datetime
    last_seen_at: datetime
    headline_article_id: int | None
    article_count: int
    feed_ids: frozenset[int]
    languages: frozenset[str]


def join_story(story_id: int, member: NewMember, counts: StoryCounts) -> tuple[StoryGrowth, dict[str, Any]]:
    """``member`` added to a story whose members ``counts`` describes (the
    grouping index holds them all, refreshed under the grouping lock): how
    it grew, and the story's new counts for :func:`update_story_counts`."""
    feeds = counts.feed_ids | {member.feed_id}
    languages = counts.languages | ({member.language} if member.language else set())
    first_seen = min(counts.first_seen_at, member.seen_at)
    values = {
        "story_id": story_id,
        "article_count": counts.article_count + 1,
        "outlet_count": len(feeds),
        "languages": ",".join(sorted(languages))[:64],
        "first_seen": first_seen,
        "last_seen": max(counts.last_seen_at, member.seen_at),
    }
    growth = StoryGrowth(
        story_id, first_seen, counts.headline_article_id, len(counts.feed_ids), len(feeds), False
    )
    return growth, values


def update_story_counts(session: Session, counts: Sequence[dict[str, Any]]) -> None:
    """The stories' counts (one entry per story, the latest), in one statement.
    Open stories are never deleted while grouping holds its lock; one that
    is gone all the same fails the transaction (the matching stage then
    retries its articles one by one)."""
    if not counts:
        return
    result = cast(CursorResult[Any], session.connection().execute(_STORY_COUNTS, list(counts)))
    if session.get_bind().dialect.supports_sane_multi_rowcount and result.rowcount != len(counts):
        raise RuntimeError(f"{len(counts) - result.rowcount} of the stories grouping grew no longer exist")


def take_story_alert(
    session: Session, story_id: int, topic_id: str, channel: str, kind: str, match_id: int, *, at: datetime
) -> bool:
    """Take the gate of one alert per (story, topic, channel, kind); True
    for the one caller that did."""
    inserted = insert_ignore(
        session,
        StoryAlert.__table__,  # type: ignore[arg-type]
        [
            {
                "story_id": story_id,
                "topic_id": topic_id,
                "channel": channel,
                "kind": kind,
                "match_id": match_id,
                "created_at": at,
            }
        ],
        returning=["id"],
    )
    return bool(inserted)
