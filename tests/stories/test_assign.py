"""Stories through the real matching stage and sender, on SQLite and
PostgreSQL, with the real embedding model and a loopback webhook receiver:
one instant alert per story (per topic and channel), every-article for
comparison, a follow-up when a story reaches N outlets, min_score."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerting import channels as channels_mod
from monitor.alerting import deliver_due
from monitor.config import Settings
from monitor.matching import build_matcher
from monitor.matching.stage import classify_pending
from monitor.storage import Article, Delivery, Feed
from monitor.storage.story_models import StoryArticle
from monitor.storage.story_views import list_stories
from monitor.storage.views import MatchFilter, find_matches
from tests.support.webhook_receiver import WebhookReceiver

NOW = datetime(2026, 7, 14, 9, tzinfo=UTC)

# (outlet, language, title, summary): the first three are one event in two
# languages; the fourth is another event of the same topic, the same day.
STRIKE_EN = (
    "Variety",
    "en",
    "SAG-AFTRA calls a strike against the Hollywood studios",
    "The actors' union SAG-AFTRA ordered its 160,000 members to strike after talks with the AMPTP failed.",
)
STRIKE_FR = (
    "Le Monde",
    "fr",
    "Le syndicat SAG-AFTRA appelle à la grève contre les studios d'Hollywood",
    "Le syndicat des acteurs SAG-AFTRA a appelé ses 160 000 membres à la grève après l'échec des "
    "négociations avec l'AMPTP.",
)
STRIKE_EN_2 = (
    "Deadline",
    "en",
    "Hollywood actors' union SAG-AFTRA orders a strike as talks with studios fail",
    "SAG-AFTRA told its 160,000 members to strike after negotiations with the AMPTP broke down.",
)
DOCKS = (
    "Ouest-France",
    "fr",
    "Les dockers du Havre en grève pour leurs retraites",
    "La CGT des dockers du port du Havre appelle à une grève de 48 heures contre la réforme des retraites.",
)


@pytest.fixture(autouse=True)
def _no_throttle(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(channels_mod, "REQUEST_INTERVAL_OVERRIDE", 0.0)
    channels_mod.clear_cache()
    yield
    channels_mod.clear_cache()


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def settings_for(hook: WebhookReceiver, **channel: Any) -> Settings:
    return Settings.model_validate(
        {
            "alerts": {"send_timeout": 5},
            "channels": [{"name": "hook", "url": hook.apprise_url("/alerts"), **channel}],
            "topics": [
                {
                    "id": "strikes",
                    "name": "Strikes",
                    "model": "rules",
                    "rules": {"any": ["strike", "grève"]},
                    "channels": ["hook"],
                }
            ],
        }
    )


def add(factory: sessionmaker[Session], *reports: tuple[str, str, str, str], start: int = 0) -> list[int]:
    ids: list[int] = []
    with factory.begin() as session:
        for n, (outlet, language, title, summary) in enumerate(reports, start=start):
            feed = session.scalars(select(Feed).where(Feed.name == outlet)).one_or_none()
            if feed is None:
                feed = Feed(url=f"https://{n}.example/rss", name=outlet, interval_seconds=60)
                session.add(feed)
                session.flush()
            article = Article(
                feed_id=feed.id,
                item_key=f"item-{n}",
                title=title,
                summary=summary,
                link=f"https://{n}.example/story",
                language=language,
                published_at=NOW - timedelta(hours=1),
                fetched_at=NOW,
                content_hash=f"{n:064d}",
            )
            session.add(article)
            session.flush()
            ids.append(article.id)
    return ids


def run(factory: sessionmaker[Session], settings: Settings) -> None:
    classify_pending(factory, settings, build_matcher(settings), now=NOW)
    deliver_due(factory, settings, now=NOW)


def stories_of(factory: sessionmaker[Session]) -> dict[int, int]:
    with factory() as session:
        return dict(session.execute(select(StoryArticle.article_id, StoryArticle.story_id)).tuples().all())


def test_one_alert_per_story_in_two_languages(
    session_factory: sessionmaker[Session], hook: WebhookReceiver
) -> None:
    settings = settings_for(hook)
    en, fr, docks = add(session_factory, STRIKE_EN, STRIKE_FR, DOCKS)
    run(session_factory, settings)
    story = stories_of(session_factory)
    assert story[en] == story[fr] != story[docks]
    assert len(hook.delivered) == 2  # one per story, not one per article
    titles = sorted(request.json["title"] for request in hook.delivered)
    assert titles == [
        "[Strikes] Les dockers du Havre en grève pour leurs retraites",
        f"[Strikes] {STRIKE_EN[2]}",
    ]

    # A third report of the strike, later: no instant alert; the story lists it.
    (later,) = add(session_factory, STRIKE_EN_2, start=3)
    run(session_factory, settings)
    assert stories_of(session_factory)[later] == story[en]
    assert len(hook.delivered) == 2
    with session_factory() as session:
        (view,) = list_stories(session, story_ids=[story[en]])
        matches = find_matches(session, MatchFilter(topic=("strikes",)))
    assert view.outlets == ["Variety", "Le Monde", "Deadline"] and view.languages == ["en", "fr"]
    assert view.headline == STRIKE_EN[2] and view.article_count == 3
    assert {row.article_id: row.story_id for row in matches} == stories_of(session_factory)


def test_every_article_keeps_one_alert_per_match(
    session_factory: sessionmaker[Session], hook: WebhookReceiver
) -> None:
    settings = settings_for(hook, stories="every-article")
    add(session_factory, STRIKE_EN, STRIKE_FR, DOCKS)
    run(session_factory, settings)
    assert len(hook.delivered) == 3
    assert len(set(stories_of(session_factory).values())) == 2  # stories are still kept


def test_one_follow_up_when_the_story_reaches_n_outlets(
    session_factory: sessionmaker[Session], hook: WebhookReceiver
) -> None:
    settings = settings_for(hook, follow_up_outlets=3)
    add(session_factory, STRIKE_EN, STRIKE_FR)
    run(session_factory, settings)
    assert len(hook.delivered) == 1
    add(session_factory, STRIKE_EN_2, start=2)
    run(session_factory, settings)
    hook.wait_for(2)
    follow_up = hook.delivered[1].json
    assert follow_up["title"] == f"[Strikes] Update: {STRIKE_EN_2[2]}"
    assert "This story is now reported by 3 outlets." in follow_up["message"]
    assert "3 articles from 3 outlet(s) in en, fr: Variety, Le Monde, Deadline" in follow_up["message"]
    with session_factory() as session:
        assert sorted(session.scalars(select(Delivery.kind))) == ["alert", "follow-up"]
    # A fourth outlet sends nothing more.
    add(session_factory, ("Reuters", "en", STRIKE_EN[2] + " (update)", STRIKE_EN[3]), start=3)
    run(session_factory, settings)
    assert len(hook.delivered) == 2


def test_min_score_keeps_low_matches_from_the_channel(
    session_factory: sessionmaker[Session], hook: WebhookReceiver
) -> None:
    """The channel's floor and the topic's: the higher one holds."""
    from monitor.alerting.routing import RoutedMatch, min_score, route
    from monitor.storage import transaction
    from monitor.storage.articles import insert_match

    settings = settings_for(hook, min_score=0.6)
    topic = {**settings.topics[0].model_dump(), "min_score": 0.7}
    stricter = Settings.model_validate({**settings.model_dump(), "topics": [topic]})
    assert min_score(settings, "hook", "strikes") == 0.6
    assert min_score(stricter, "hook", "strikes") == 0.7
    low, mid, high = add(session_factory, STRIKE_EN, STRIKE_FR, DOCKS)
    created: dict[str, list[int]] = {}
    with transaction(session_factory) as session:
        for name, article_id, score in (("low", low, 0.55), ("mid", mid, 0.65), ("high", high, 0.75)):
            match_id = insert_match(
                session, article_id, "strikes", score=score, evidence={}, model_version="t", at=NOW
            )
            assert match_id is not None
            routed = RoutedMatch(match_id, "strikes", score)
            # The stricter settings first: a delivery they create would be the only one.
            created[name + "/stricter"] = route(session, stricter, routed, None, at=NOW)
            created[name] = route(session, settings, routed, None, at=NOW)
    assert [len(created[n + "/stricter"]) for n in ("low", "mid", "high")] == [0, 0, 1]
    assert [len(created[n]) for n in ("low", "mid")] == [0, 1]


def test_classifying_again_does_not_move_or_duplicate_an_article(
    session_factory: sessionmaker[Session], hook: WebhookReceiver
) -> None:
    settings = settings_for(hook)
    ids = add(session_factory, STRIKE_EN, STRIKE_FR)
    run(session_factory, settings)
    before = stories_of(session_factory)
    again = classify_pending(session_factory, settings, build_matcher(settings), article_ids=ids, now=NOW)
    assert again.articles == 0
    assert stories_of(session_factory) == before
