"""Story read models: ``monitor stories``, the digests' lists, the story
line of an alert, the story id of a match.

Callers own the session."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.storage.models import Article, Feed, Match
from monitor.storage.story_models import Story, StoryArticle


def story_of_article(session: Session, article_id: int) -> int | None:
    return session.scalar(select(StoryArticle.story_id).where(StoryArticle.article_id == article_id))


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
