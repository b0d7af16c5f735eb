"""The story index on its own (no database, synthetic vectors): cheap
signals, the vote over a story's articles, the window, the names veto."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from monitor.stories.features import ArticleSignals, Vector, signals
from monitor.stories.grouping import ArticleToPlace, GroupingParams, StoryIndex

T0 = datetime(2026, 7, 13, 9, tzinfo=UTC)
PARAMS = GroupingParams(window=timedelta(hours=72), similarity=0.89)
RNG = np.random.default_rng(42)


def unit(vector: np.ndarray) -> Vector:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def near(base: Vector, cosine: float) -> Vector:
    """A unit vector at exactly ``cosine`` from ``base``."""
    noise = RNG.normal(size=base.shape).astype(np.float32)
    noise -= (noise @ base) * base
    noise = unit(noise)
    return unit(cosine * base + np.sqrt(1 - cosine**2) * noise)


def article(
    article_id: int,
    vector: Vector,
    *,
    at: datetime = T0,
    language: str = "en",
    title: str | None = None,
    summary: str = "",
    link: str | None = None,
) -> ArticleToPlace:
    # Distinct titles without names or numbers unless a test gives some.
    words = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
    found: ArticleSignals = signals(title or f"a report, {words[article_id % len(words)]}", summary, link)
    return ArticleToPlace(article_id, article_id, language, at, vector, found)


def add(index: StoryIndex, story_id: int, item: ArticleToPlace) -> None:
    index.add(story_id, item.at, None, item)


def test_the_first_article_starts_a_story() -> None:
    placement = StoryIndex().place(article(1, unit(RNG.normal(size=384))), PARAMS)
    assert placement.story_id is None


def test_same_link_or_same_title_joins_whatever_the_vector() -> None:
    index = StoryIndex()
    add(index, 10, article(1, unit(RNG.normal(size=384)), link="https://a.example/x", title="Strike called"))
    unrelated = unit(RNG.normal(size=384))
    assert index.place(article(2, unrelated, link="https://www.a.example/x"), PARAMS).reason == "same link"
    assert index.place(article(3, unrelated, title="STRIKE called!"), PARAMS).story_id == 10


def test_an_article_joins_the_story_it_is_close_to_and_not_the_other() -> None:
    index = StoryIndex()
    strike, deal = unit(RNG.normal(size=384)), unit(RNG.normal(size=384))
    add(index, 1, article(1, strike))
    add(index, 2, article(2, deal))
    placement = index.place(article(3, near(strike, 0.93)), PARAMS)
    assert placement.story_id == 1 and placement.reason.startswith("similar")
    assert index.place(article(4, near(strike, 0.85)), PARAMS).story_id is None


def test_a_translation_gets_the_cross_language_allowance() -> None:
    index = StoryIndex()
    base = unit(RNG.normal(size=384))
    add(index, 1, article(1, base, language="en"))
    # 0.87 is below the similarity (0.89) but within the 0.03 allowance.
    assert index.place(article(2, near(base, 0.87), language="fr"), PARAMS).story_id == 1
    assert index.place(article(3, near(base, 0.87), language="en"), PARAMS).story_id is None


def test_most_of_the_story_must_agree_so_a_story_does_not_drift() -> None:
    index = StoryIndex()
    base = unit(RNG.normal(size=384))
    for n in range(1, 4):
        add(index, 1, article(n, near(base, 0.97)))
    drifting = near(base, 0.80)  # close to nothing of the story
    add(index, 1, article(4, drifting))
    # Close to the one drifting article only: 1 link out of 4, not a majority.
    assert index.place(article(5, near(drifting, 0.95)), PARAMS).story_id is None


def test_the_window_runs_from_the_storys_first_article() -> None:
    index = StoryIndex()
    base = unit(RNG.normal(size=384))
    add(index, 1, article(1, base, at=T0))
    add(index, 1, article(2, near(base, 0.95), at=T0 + timedelta(hours=60)))
    assert index.place(article(3, near(base, 0.95), at=T0 + timedelta(hours=71)), PARAMS).story_id == 1
    late = index.place(article(4, near(base, 0.95), at=T0 + timedelta(hours=73)), PARAMS)
    assert late.story_id is None  # 73 h after the first article, though 13 h after the last


def test_distinct_names_on_both_sides_veto_a_join() -> None:
    index = StoryIndex()
    base = unit(RNG.normal(size=384))
    add(
        index,
        1,
        article(
            1,
            base,
            title="Oppenheimer cast leaves the London premiere",
            summary="The cast of Oppenheimer left.",
        ),
    )
    other_premiere = article(
        2,
        near(base, 0.95),
        title="Stars skip the Haunted Mansion premiere",
        summary="Disney held it without Justin.",
    )
    assert index.place(other_premiere, PARAMS).story_id is None
    same_event = article(
        3, near(base, 0.95), title="Oppenheimer premiere ends early", summary="Nolan's cast left in London."
    )
    assert index.place(same_event, PARAMS).story_id == 1


def test_a_near_duplicate_joins_despite_a_veto() -> None:
    index = StoryIndex()
    base = unit(RNG.normal(size=384))
    add(index, 1, article(1, base, title="Oppenheimer premiere", summary="In London."))
    copy = article(2, near(base, 0.99), title="Haunted Mansion premiere", summary="By Disney.")
    assert index.place(copy, PARAMS).reason == "near duplicate"


def test_eviction_forgets_stories_that_began_before_the_cutoff() -> None:
    index = StoryIndex()
    old, recent = unit(RNG.normal(size=384)), unit(RNG.normal(size=384))
    add(index, 1, article(1, old, at=T0))
    add(index, 2, article(2, recent, at=T0 + timedelta(days=5)))
    assert index.evict(T0 + timedelta(days=1)) == 1
    assert len(index) == 1 and index.member_count == 1 and not index.has_article(1)
    assert index.place(article(3, near(recent, 0.95), at=T0 + timedelta(days=5)), PARAMS).story_id == 2


def test_names_stay_common_after_the_stories_that_made_them_common_are_evicted() -> None:
    """ "Hollywood" in five stories is no distinctive name, even when only one
    of them is still open: a day count in a title then does not veto."""
    index = StoryIndex()
    for n in range(1, 5):
        old = article(
            n,
            unit(RNG.normal(size=384)),
            at=T0 - timedelta(days=10),
            title=f"News from Hollywood, part {'abcd'[n - 1]}",
        )
        add(index, n, old)
    base = unit(RNG.normal(size=384))
    add(index, 10, article(10, base, title="Actors in Hollywood may end their strike on Tuesday"))
    assert index.evict(T0 - timedelta(days=6)) == 4
    day_110 = article(11, near(base, 0.95), title="On day 110 of the strike, talks on digital doubles")
    assert index.place(day_110, PARAMS).story_id == 10
