"""Which story a new matched article belongs to: a pure, in-memory index of
the open stories (no database), fed by ``monitor.storage.stories``.

An article joins an open story, or starts one. A story is open for an
article when the story's *first* article is at most ``window`` away from it
(so a story cannot creep along for weeks by small steps). Cheap signals
first, then meaning:

1. **Same link** or **same title** as an article of the story: the same
   report, syndicated or re-published.
2. **Near duplicate**: cosine >= 0.97 with one of its articles.
3. **Meaning**: the multilingual embedding the classifier computed. The
   article *links* to a story article when their cosine reaches
   ``similarity`` (a cross-language pair gets ``CROSS_LANGUAGE`` more,
   since the model places a translation lower than a paraphrase); it joins
   the story when it links to at least half of the story's articles, which
   keeps a story from drifting towards whatever its last article said.
4. **Names and numbers veto**: a title naming someone or something
   distinctive that the story never mentions, while the story's headline
   names something distinctive the article never mentions, is another
   event (the Haunted Mansion premiere is not the Oppenheimer premiere,
   however alike the sentences). "Distinctive" means rare among the
   articles this index has held (open stories, and those evicted since the
   process started).

Among the stories an article may join, the one it links to best wins. Cost
per article: one matrix-vector product over the open stories' centroids,
then member-level checks on the few closest (``CANDIDATES``).

The parameters (``similarity`` 0.89 by default, ``CROSS_LANGUAGE``,
``VOTE``) were chosen on the labelled stories of ``shared/eval`` (see
docs/stories.md): they are a measured trade-off, not a law.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from monitor.stories.features import ArticleSignals, Vector

CROSS_LANGUAGE = 0.03
VOTE = 0.5
NEAR_DUPLICATE = 0.97
CANDIDATES = 8
PREFILTER_MARGIN = 0.08
# A name is distinctive when at most this many open-story articles carry
# it, or this share of them, whichever is larger.
DISTINCT_COUNT = 3
DISTINCT_SHARE = 0.02
DIM = 384


@dataclass(frozen=True)
class GroupingParams:
    window: timedelta
    similarity: float = 0.89


@dataclass(frozen=True)
class ArticleToPlace:
    article_id: int
    feed_id: int
    language: str | None
    at: datetime  # the article's time (published, at the latest fetched)
    vector: Vector  # unit length
    signals: ArticleSignals


@dataclass(frozen=True)
class Placement:
    story_id: int | None  # None: the article starts a story
    reason: str
    similarity: float = 0.0


@dataclass(frozen=True)
class StoryStats:
    first_seen: datetime
    last_seen: datetime
    headline_article_id: int | None
    article_count: int
    feed_ids: frozenset[int]
    languages: frozenset[str]


@dataclass
class _Story:
    story_id: int
    first_seen: datetime
    headline_article_id: int | None
    rows: list[int] = field(default_factory=list)  # member rows in the index
    names: set[str] = field(default_factory=set)
    slot: int = -1  # row of its centroid


class StoryIndex:
    """The open stories: member vectors and signals, story centroids."""

    def __init__(self) -> None:
        self._vectors = np.zeros((64, DIM), dtype=np.float32)
        self._centroids = np.zeros((64, DIM), dtype=np.float32)  # sums of member vectors
        self._units = np.zeros((64, DIM), dtype=np.float32)  # the same, unit length
        self._centroid_story = np.full(64, -1, dtype=np.int64)
        self._story_first = np.zeros(64, dtype=np.float64)  # POSIX seconds of each centroid's story
        self._slots = 0
        self._members: list[ArticleToPlace] = []
        self._member_story: list[int] = []
        self._stories: dict[int, _Story] = {}
        self._by_link: dict[str, int] = {}
        self._by_title: dict[str, int] = {}
        self._article_ids: set[int] = set()
        self._df: Counter[str] = Counter()

    # --- contents --------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._stories)

    @property
    def member_count(self) -> int:
        return sum(len(story.rows) for story in self._stories.values())

    def has_article(self, article_id: int) -> bool:
        return article_id in self._article_ids

    def story_stats(self, story_id: int) -> StoryStats | None:
        """What the index knows of a story: all its articles when it is open."""
        story = self._stories.get(story_id)
        if story is None:
            return None
        members = [self._members[row] for row in story.rows]
        return StoryStats(
            first_seen=story.first_seen,
            last_seen=max(member.at for member in members),
            headline_article_id=story.headline_article_id,
            article_count=len(members),
            feed_ids=frozenset(member.feed_id for member in members),
            languages=frozenset(member.language for member in members if member.language),
        )

    def add(
        self, story_id: int, first_seen: datetime, headline_article_id: int | None, member: ArticleToPlace
    ) -> None:
        """Add one article to a story (creating the story's entry)."""
        if member.article_id in self._article_ids:
            return
        story = self._stories.get(story_id)
        if story is None:
            story = _Story(story_id, first_seen, headline_article_id)
            story.slot = self._new_slot(story_id, first_seen)
            self._stories[story_id] = story
        elif first_seen < story.first_seen:
            story.first_seen = first_seen
            self._story_first[story.slot] = first_seen.timestamp()
        row = len(self._members)
        if row >= len(self._vectors):
            self._vectors = np.concatenate([self._vectors, np.zeros_like(self._vectors)])
        self._vectors[row] = member.vector
        self._members.append(member)
        self._member_story.append(story_id)
        story.rows.append(row)
        story.names |= member.signals.names
        self._centroids[story.slot] += member.vector
        norm = float(np.linalg.norm(self._centroids[story.slot]))
        self._units[story.slot] = self._centroids[story.slot] / norm if norm > 0 else 0.0
        self._article_ids.add(member.article_id)
        self._df.update(member.signals.names)
        if member.signals.link_key:
            self._by_link.setdefault(member.signals.link_key, story_id)
        self._by_title.setdefault(member.signals.title_key, story_id)

    def _new_slot(self, story_id: int, first_seen: datetime) -> int:
        if self._slots >= len(self._centroids):
            grow = len(self._centroids)
            self._centroids = np.concatenate([self._centroids, np.zeros((grow, DIM), dtype=np.float32)])
            self._units = np.concatenate([self._units, np.zeros((grow, DIM), dtype=np.float32)])
            self._centroid_story = np.concatenate([self._centroid_story, np.full(grow, -1, dtype=np.int64)])
            self._story_first = np.concatenate([self._story_first, np.zeros(grow)])
        slot = self._slots
        self._slots += 1
        self._centroid_story[slot] = story_id
        self._story_first[slot] = first_seen.timestamp()
        return slot

    def evict(self, before: datetime) -> int:
        """Forget stories whose first article is older than ``before``; how many."""
        if not (self._story_first[: self._slots] < before.timestamp()).any():
            return 0  # the common case, checked without a Python loop
        old = [story for story in self._stories.values() if story.first_seen < before]
        if not old:
            return 0
        keep = [story for story in self._stories.values() if story.first_seen >= before]
        members = [
            (story.story_id, story.first_seen, story.headline_article_id, self._members[row])
            for story in keep
            for row in story.rows
        ]
        # How common a name is stays what this process has seen, evicted
        # stories included: with few open stories, "Hollywood" must not
        # look distinctive just because this week's stories are few.
        seen = self._df
        self.__init__()  # type: ignore[misc]  # rebuilt compact: eviction is rare (once per batch at most)
        for story_id, first_seen, headline, member in members:
            self.add(story_id, first_seen, headline, member)
        self._df = seen
        return len(old)

    # --- placing ---------------------------------------------------------------

    def _distinct(self, names: Iterable[str]) -> set[str]:
        limit = max(DISTINCT_COUNT, int(DISTINCT_SHARE * len(self._members)))
        return {name for name in names if self._df[name] <= limit}

    def _headline_names(self, story: _Story) -> frozenset[str]:
        for row in story.rows:
            if self._members[row].article_id == story.headline_article_id:
                return self._members[row].signals.title_names
        return self._members[story.rows[0]].signals.title_names

    def _vetoed(self, article: ArticleToPlace, story: _Story) -> bool:
        new_names = self._distinct(article.signals.title_names) - story.names
        if not new_names:
            return False
        unshared = self._distinct(self._headline_names(story)) - article.signals.names
        return bool(unshared)

    def _open(self, story_id: int, at: datetime, window: timedelta) -> bool:
        story = self._stories.get(story_id)
        return story is not None and abs(at - story.first_seen) <= window

    def place(self, article: ArticleToPlace, params: GroupingParams) -> Placement:
        """The story ``article`` joins, or a new one (``story_id`` None)."""
        signals = article.signals
        for cheap_key, index, reason in (
            (signals.link_key, self._by_link, "same link"),
            (signals.title_key, self._by_title, "same title"),
        ):
            story_id = index.get(cheap_key) if cheap_key else None
            if story_id is not None and self._open(story_id, article.at, params.window):
                return Placement(story_id, reason, 1.0)
        if not self._slots:
            return Placement(None, "first story")
        count = self._slots
        usable = np.abs(self._story_first[:count] - article.at.timestamp()) <= params.window.total_seconds()
        if not usable.any():
            return Placement(None, "no open story in the window")
        # einsum, not BLAS: a BLAS call here runs its own threads, which fight
        # the embedding model's OpenMP threads (still spinning after the
        # classifier's call) for the cores; measured 2-8 ms against < 1 ms.
        scores = np.where(usable, np.einsum("ij,j->i", self._units[:count], article.vector), -2.0)
        floor = params.similarity - CROSS_LANGUAGE - PREFILTER_MARGIN
        top = min(CANDIDATES, count)
        order = np.argpartition(-scores, top - 1)[:top] if count > top else np.arange(count)
        order = order[np.argsort(-scores[order])]
        best: tuple[float, float, int] | None = None  # (share linked, mean link score, story)
        for slot in order:
            if scores[slot] < floor:
                break
            story = self._stories[int(self._centroid_story[slot])]
            rows = story.rows
            sims = self._vectors[rows] @ article.vector
            if float(sims.max()) >= NEAR_DUPLICATE:
                return Placement(story.story_id, "near duplicate", float(sims.max()))
            allowance = np.array(
                [CROSS_LANGUAGE if self._members[row].language != article.language else 0.0 for row in rows],
                dtype=np.float32,
            )
            linked = sims + allowance >= params.similarity
            share = float(linked.mean())
            if share < VOTE or self._vetoed(article, story):
                continue
            key = (share, float((sims + allowance).mean()), story.story_id)
            if best is None or key[:2] > best[:2]:
                best = key
        if best is None:
            return Placement(None, "no story close enough")
        share, mean, story_id = best
        return Placement(story_id, f"similar ({mean:.2f}; linked to {share:.0%} of its articles)", mean)
