"""Placing newly matched articles into stories, inside the matching stage's
transaction.

Each process keeps one :class:`~monitor.stories.grouping.StoryIndex` per
database engine. A grouping transaction first takes the grouping lock
(``storage.stories.lock_grouping``), then loads only the members written
since it last looked (ids grow in commit order under the lock), evicts the
stories that can no longer be joined, and places the batch's articles one
after the other, each seeing the ones before it.

The index is changed as the transaction goes; if the transaction does not
commit, the next one rebuilds the index from the database
(:meth:`StoryPlacer.confirm` is what marks it good), so an index never
keeps a story that was rolled back.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from monitor.config import Settings
from monitor.storage import stories as story_store
from monitor.storage.stories import NewMember, StoryCounts, StoryGrowth
from monitor.stories.features import Vector, dequantize, quantize, signals
from monitor.stories.grouping import ArticleToPlace, GroupingParams, StoryIndex


@dataclass(frozen=True)
class ArticleForStory:
    article_id: int
    feed_id: int
    language: str | None
    at: datetime  # published, at the latest fetched
    title: str
    summary: str
    link: str | None
    vector: Vector


@dataclass
class _Cached:
    index: StoryIndex = field(default_factory=StoryIndex)
    last_id: int = 0
    confirmed: bool = True


_indexes: weakref.WeakKeyDictionary[Engine, _Cached] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def params_of(settings: Settings) -> GroupingParams:
    return GroupingParams(
        window=timedelta(seconds=settings.stories.window), similarity=settings.stories.similarity
    )


def _to_place(member: story_store.MemberRow) -> ArticleToPlace:
    from monitor.stories.features import ArticleSignals

    return ArticleToPlace(
        article_id=member.article_id,
        feed_id=member.feed_id,
        language=member.language,
        at=member.seen_at,
        vector=dequantize(member.vector, member.vector_scale),
        signals=ArticleSignals(
            names=frozenset(member.names),
            title_names=frozenset(member.title_names),
            link_key=member.link_key,
            title_key=member.title_key,
        ),
    )


def new_member(article: ArticleToPlace) -> NewMember:
    """The member row of a placed article: its vector in int8, its names and keys."""
    vector_bytes, scale = quantize(article.vector)
    found = article.signals
    return NewMember(
        article_id=article.article_id,
        feed_id=article.feed_id,
        language=article.language,
        seen_at=article.at,
        vector=vector_bytes,
        vector_scale=scale,
        names=sorted(found.names),
        title_names=sorted(found.title_names),
        link_key=found.link_key,
        title_key=found.title_key,
    )


class StoryPlacer:
    """The open stories of one grouping transaction (lock taken, index fresh)."""

    def __init__(self, session: Session, settings: Settings, *, now: datetime) -> None:
        self.session = session
        self.params = params_of(settings)
        story_store.lock_grouping(session)
        engine = session.get_bind()
        assert isinstance(engine, Engine)
        with _lock:
            cached = _indexes.get(engine)
            if cached is None or not cached.confirmed:
                cached = _Cached()
                _indexes[engine] = cached
        self._cached = cached
        self._last_id: int | None = None
        # Written by finish(): the member rows, and each grown story's latest counts.
        self._members: list[tuple[int, NewMember]] = []
        self._counts: dict[int, dict[str, Any]] = {}
        self._at = now
        cached.confirmed = False  # until this transaction commits
        since = now - 2 * self.params.window
        cached.index.evict(since)
        while True:
            rows = story_store.load_members(session, after_id=cached.last_id, since=since)
            for row in rows:
                cached.index.add(row.story_id, row.story_first_seen, row.headline_article_id, _to_place(row))
                cached.last_id = max(cached.last_id, row.id)
            if len(rows) < 5000:
                break
        cached.last_id = max(cached.last_id, story_store.last_member_id(session))

    @property
    def index(self) -> StoryIndex:
        return self._cached.index

    def place(self, article: ArticleForStory, *, at: datetime) -> StoryGrowth:
        """Put ``article`` in a story (joining one or starting one) and say how it grew."""
        found = signals(article.title, article.summary, article.link)
        to_place = ArticleToPlace(
            article.article_id, article.feed_id, article.language, article.at, article.vector, found
        )
        member = new_member(to_place)
        # An article is placed once: the stage places it in the transaction
        # that marks it classified, which only one caller wins.
        target = self.index.place(to_place, self.params).story_id
        stats = None if target is None else self.index.story_stats(target)
        if target is not None and stats is not None:
            counts = StoryCounts(
                stats.first_seen,
                stats.last_seen,
                stats.headline_article_id,
                stats.article_count,
                stats.feed_ids,
                stats.languages,
            )
            growth, self._counts[target] = story_store.join_story(target, member, counts)
        else:
            growth = story_store.start_story(self.session, member, at=at)
        self._members.append((growth.story_id, member))
        self._at = at
        self.index.add(growth.story_id, growth.first_seen_at, growth.headline_article_id, to_place)
        return growth

    def finish(self) -> None:
        """At the end of the transaction (the lock still held): the member
        rows and the grown stories' counts are written, in two statements
        for the whole batch; every member row so far is in the index, ours
        included; the next refresh starts after them."""
        if self._members:
            story_store.insert_members(self.session, self._members, at=self._at)
            story_store.update_story_counts(self.session, list(self._counts.values()))
            self._members, self._counts = [], {}
        self._last_id = story_store.last_member_id(self.session)

    def confirm(self) -> None:
        """The transaction committed: the index may be kept as it is."""
        if self._last_id is not None:
            self._cached.last_id = max(self._cached.last_id, self._last_id)
        self._cached.confirmed = True
