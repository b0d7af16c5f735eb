"""Stories in the database: the grouping lock, the members the in-memory
index loads, creating and growing stories, the per-story alert gate, and
the story read model (``monitor stories``).

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
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from monitor.storage.db import affected_rows, insert_ignore
from monitor.storage.models import Article, Feed, Match
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


def _insert_member(session: Session, row: dict[str, Any]) -> None:
    dialect = session.get_bind().dialect.name
    statement = _MEMBER_INSERTS.get(dialect)
    if statement is None:
        module = postgresql if dialect == "postgresql" else sqlite
        statement = _MEMBER_INSERTS[dialect] = module.insert(StoryArticle.__table__).on_conflict_do_nothing()
    session.execute(statement, row)


def story_of_article(session: Session, article_id: int) -> int | None:
    return session.scalar(select(StoryArticle.story_id).where(StoryArticle.article_id == article_id))


def start_story(session: Session, member: NewMember, *, at: datetime) -> StoryGrowth:
    """A new story whose headline is ``member``'s article."""
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
    _insert_member(session, _member_row(story_id, member, at))
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


def join_story(
    session: Session, story_id: int, member: NewMember, counts: StoryCounts, *, at: datetime
) -> StoryGrowth | None:
    """Add ``member`` to a story whose members ``counts`` describes (the
    grouping index holds them all, refreshed under the grouping lock); None
    when the story no longer exists."""
    feeds = counts.feed_ids | {member.feed_id}
    languages = counts.languages | ({member.language} if member.language else set())
    first_seen = min(counts.first_seen_at, member.seen_at)
    updated = affected_rows(
        session,
        update(Story)
        .where(Story.id == story_id)
        .values(
            article_count=counts.article_count + 1,
            outlet_count=len(feeds),
            languages=",".join(sorted(languages))[:64],
            first_seen_at=first_seen,
            last_seen_at=max(counts.last_seen_at, member.seen_at),
        )
        .execution_options(synchronize_session=False),
    )
    if updated != 1:
        return None
    _insert_member(session, _member_row(story_id, member, at))
    return StoryGrowth(
        story_id, first_seen, counts.headline_article_id, len(counts.feed_ids), len(feeds), False
    )


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


# --- the read model --------------------------------------------------------------


@dataclass(frozen=True)
class StoryArticleView:
    article_id: int
    title: str
    link: str | None
    feed_name: str
    language: str | None
    seen_at: datetime
    topics: list[str]


@dataclass(frozen=True)
class StoryView:
    id: int
    headline: str
    link: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    article_count: int
    outlets: list[str]
    languages: list[str]
    topics: list[str]
    best_score: float
    articles: list[StoryArticleView]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "headline": self.headline,
            "link": self.link,
            "first_seen_at": self.first_seen_at.isoformat(),
            "last_seen_at": self.last_seen_at.isoformat(),
            "article_count": self.article_count,
            "outlets": self.outlets,
            "languages": self.languages,
            "topics": self.topics,
            "best_score": self.best_score,
            "articles": [
                {
                    "id": a.article_id,
                    "title": a.title,
                    "link": a.link,
                    "feed": a.feed_name,
                    "language": a.language,
                    "seen_at": a.seen_at.isoformat(),
                    "topics": a.topics,
                }
                for a in self.articles
            ],
        }


def list_stories(
    session: Session,
    *,
    topics: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    min_score: float | None = None,
    story_ids: Sequence[int] | None = None,
    matched_since: datetime | None = None,
    matched_until: datetime | None = None,
    limit: int = 50,
) -> list[StoryView]:
    """Stories newest first (by their last article), with their articles.
    ``topics``: stories with a match in one of them (its articles are then
    those matching them); ``since``/``until`` bound the story's last/first
    article; ``min_score`` keeps matches scoring at least that;
    ``matched_since``/``matched_until`` keep matches made in that period
    (a digest's)."""
    query = (
        select(StoryArticle.story_id, Match.topic_id, Match.score, StoryArticle, Article, Feed.name)
        .join(Article, Article.id == StoryArticle.article_id)
        .join(Feed, Feed.id == Article.feed_id)
        .join(Match, Match.article_id == Article.id)
        .join(Story, Story.id == StoryArticle.story_id)
    )
    if topics:
        query = query.where(Match.topic_id.in_(list(topics)))
    if since is not None:
        query = query.where(Story.last_seen_at >= since)
    if until is not None:
        query = query.where(Story.first_seen_at <= until)
    if min_score is not None:
        query = query.where(Match.score >= min_score)
    if story_ids is not None:
        query = query.where(StoryArticle.story_id.in_(list(story_ids)))
    if matched_since is not None:
        query = query.where(Match.created_at >= matched_since)
    if matched_until is not None:
        query = query.where(Match.created_at < matched_until)
    rows = session.execute(query).all()
    grouped: dict[int, dict[int, tuple[StoryArticle, Article, str, list[str], float]]] = {}
    for story_id, topic_id, score, member, article, feed_name in rows:
        members = grouped.setdefault(int(story_id), {})
        entry = members.get(article.id)
        if entry is None:
            members[article.id] = (member, article, feed_name, [topic_id], float(score))
        else:
            entry[3].append(topic_id)
            members[article.id] = (*entry[:4], max(entry[4], float(score)))
    stories = {story.id: story for story in session.scalars(select(Story).where(Story.id.in_(list(grouped))))}
    views: list[StoryView] = []
    for story_id, members in grouped.items():
        story = stories[story_id]
        ordered = sorted(members.values(), key=lambda entry: (entry[0].seen_at, entry[1].id))
        headline = next((e for e in ordered if e[1].id == story.headline_article_id), ordered[0])
        views.append(
            StoryView(
                id=story_id,
                headline=headline[1].title,
                link=headline[1].link,
                first_seen_at=story.first_seen_at,
                last_seen_at=story.last_seen_at,
                article_count=story.article_count,
                outlets=list(dict.fromkeys(entry[2] for entry in ordered)),
                languages=sorted({entry[0].language for entry in ordered if entry[0].language}),
                topics=sorted({topic for entry in ordered for topic in entry[3]}),
                best_score=max(entry[4] for entry in ordered),
                articles=[
                    StoryArticleView(
                        article_id=entry[1].id,
                        title=entry[1].title,
                        link=entry[1].link,
                        feed_name=entry[2],
                        language=entry[0].language,
                        seen_at=entry[0].seen_at,
                        topics=sorted(entry[3]),
                    )
                    for entry in ordered
                ],
            )
        )
    views.sort(key=lambda view: (view.last_seen_at, view.id), reverse=True)
    return views[:limit]


def stories_of_articles(session: Session, article_ids: Sequence[int]) -> dict[int, int]:
    """article id -> story id, for those in a story."""
    if not article_ids:
        return {}
    rows = session.execute(
        select(StoryArticle.article_id, StoryArticle.story_id).where(
            StoryArticle.article_id.in_(list(article_ids))
        )
    ).all()
    return {int(article_id): int(story_id) for article_id, story_id in rows}


@dataclass(frozen=True)
class StorySummary:
    """What an alert says about its article's story."""

    id: int
    outlets: list[str]  # feed names, first reporter first
    article_count: int
    languages: list[str]


def story_summary(session: Session, article_id: int) -> StorySummary | None:
    story_id = story_of_article(session, article_id)
    if story_id is None:
        return None
    rows = session.execute(
        select(Feed.name, StoryArticle.language)
        .join(Article, Article.id == StoryArticle.article_id)
        .join(Feed, Feed.id == Article.feed_id)
        .where(StoryArticle.story_id == story_id)
        .order_by(StoryArticle.seen_at, StoryArticle.id)
    ).all()
    return StorySummary(
        id=story_id,
        outlets=list(dict.fromkeys(name for name, _ in rows)),
        article_count=len(rows),
        languages=sorted({language for _, language in rows if language}),
    )
