"""Retention on SQLite and PostgreSQL: old finished alerts, matches and
articles go, in batches; pending alerts, judged articles and every article a
kept match points to stay; `monitor db prune --dry-run` counts exactly what
the prune then removes; a pruned item still in its feed does not come back."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.cli import main
from monitor.config import Settings, load_config_text
from monitor.ingest.poll import poll_feed, sync_feeds
from monitor.retention import prune
from monitor.storage import Article, Delivery, DeliveryState, Feed, Feedback, FeedStatus, Match, utcnow
from monitor.storage.story_models import Story, StoryArticle
from tests.support.feed_server import FeedServer
from tests.support.feedgen import Item, rss

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
RETENTION = "retention: {articles: 90d, matches: 365d, deliveries: 30d, batch_size: 2}\n"


def settings(extra: str = RETENTION) -> Settings:
    return load_config_text(extra)


class Rows:
    """A feed and rows of chosen ages."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory
        with factory() as session, session.begin():
            feed = Feed(url="https://a.example/rss", name="a", interval_seconds=60, status=FeedStatus.ACTIVE)
            session.add(feed)
            session.flush()
            self.feed_id = feed.id
        self.count = 0

    def article(self, age: timedelta, *, classified: bool = True) -> int:
        self.count += 1
        with self.factory() as session, session.begin():
            article = Article(
                feed_id=self.feed_id,
                item_key=f"k{self.count}",
                title=f"t{self.count}",
                summary="s",
                fetched_at=NOW - age,
                content_hash="h",
                classified_at=NOW - age if classified else None,
            )
            session.add(article)
            session.flush()
            return article.id

    def match(self, article_id: int, age: timedelta, topic: str = "t") -> int:
        with self.factory() as session, session.begin():
            match = Match(
                article_id=article_id,
                topic_id=topic,
                score=1.0,
                evidence={},
                model_version="v",
                created_at=NOW - age,
            )
            session.add(match)
            session.flush()
            return match.id

    def delivery(self, match_id: int, age: timedelta, state: DeliveryState, channel: str = "c") -> int:
        with self.factory() as session, session.begin():
            delivery = Delivery(match_id=match_id, channel=channel, state=state, created_at=NOW - age)
            session.add(delivery)
            session.flush()
            return delivery.id

    def feedback(self, article_id: int) -> None:
        with self.factory() as session, session.begin():
            session.add(Feedback(article_id=article_id, topic_id="t", relevant=True))

    def ids(self, model: type[Article] | type[Match] | type[Delivery]) -> set[int]:
        with self.factory() as session:
            return set(session.scalars(select(model.id)))


def test_prune_removes_what_aged_out_and_keeps_the_rest(session_factory: sessionmaker[Session]) -> None:
    rows = Rows(session_factory)
    fresh = rows.article(10 * DAY)
    old_unmatched = [rows.article(100 * DAY) for _ in range(5)]  # more than one batch of 2
    pending = rows.article(200 * DAY, classified=False)
    judged = rows.article(400 * DAY)
    rows.feedback(judged)
    judged_match = rows.match(judged, 400 * DAY)
    old_with_recent_match = rows.article(120 * DAY)
    recent_match = rows.match(old_with_recent_match, 120 * DAY)
    very_old = rows.article(400 * DAY)
    old_match = rows.match(very_old, 400 * DAY)
    sent_old = rows.delivery(recent_match, 40 * DAY, DeliveryState.SENT)
    dead_old = rows.delivery(recent_match, 40 * DAY, DeliveryState.DEAD, channel="d")
    pending_old = rows.delivery(recent_match, 40 * DAY, DeliveryState.PENDING, channel="e")
    sent_recent = rows.delivery(recent_match, 5 * DAY, DeliveryState.SENT, channel="f")
    cascaded = rows.delivery(old_match, 5 * DAY, DeliveryState.SENT, channel="g")

    dry = prune(session_factory, settings(), dry_run=True, now=NOW)
    assert dry.removed == {"deliveries": 2, "matches": 1, "articles": 6}
    # A dry run changes nothing.
    assert len(rows.ids(Article)) == 10

    report = prune(session_factory, settings(), now=NOW)
    assert report.removed == dry.removed
    assert report.batches > 3  # batch_size 2: several short transactions
    assert rows.ids(Article) == {fresh, pending, judged, old_with_recent_match}
    assert not set(old_unmatched) & rows.ids(Article)
    assert rows.ids(Match) == {judged_match, recent_match}
    # Finished old alerts go; pending and recent ones stay; the old match's went with it.
    assert rows.ids(Delivery) == {pending_old, sent_recent}
    assert {sent_old, dead_old, cascaded}.isdisjoint(rows.ids(Delivery))
    # Nothing left to do.
    assert prune(session_factory, settings(), now=NOW).removed == {
        "deliveries": 0,
        "matches": 0,
        "articles": 0,
    }


def test_a_story_keeps_its_headline_while_its_other_old_articles_go(
    session_factory: sessionmaker[Session],
) -> None:
    rows = Rows(session_factory)
    headline, follower = rows.article(400 * DAY), rows.article(400 * DAY)
    headline_match, follower_match = rows.match(headline, 400 * DAY), rows.match(follower, 400 * DAY)
    with session_factory() as session, session.begin():
        story = Story(
            first_seen_at=NOW - 400 * DAY, last_seen_at=NOW - 400 * DAY, headline_article_id=headline
        )
        session.add(story)
        session.flush()
        story_id = story.id
        for article_id in (headline, follower):
            session.add(
                StoryArticle(
                    story_id=story_id,
                    article_id=article_id,
                    feed_id=rows.feed_id,
                    seen_at=NOW - 400 * DAY,
                    vector=b"",
                    vector_scale=1.0,
                    names=[],
                    title_names=[],
                    title_key=f"t{article_id}",
                )
            )
    report = prune(session_factory, settings(), now=NOW)
    assert report.removed == {"deliveries": 0, "matches": 1, "articles": 1}
    assert rows.ids(Article) == {headline} and rows.ids(Match) == {headline_match}
    assert follower_match not in rows.ids(Match)
    with session_factory() as session:
        # The story still lists its headline; the pruned article's place in it went with it.
        assert session.get(Story, story_id).headline_article_id == headline  # type: ignore[union-attr]
        assert set(session.scalars(select(StoryArticle.article_id))) == {headline}


def test_unset_retention_keeps_a_kind_forever(session_factory: sessionmaker[Session]) -> None:
    rows = Rows(session_factory)
    old = rows.article(1000 * DAY)
    match = rows.match(old, 1000 * DAY)
    keep_matches = settings("retention: {matches: null}\n")
    assert prune(session_factory, keep_matches, now=NOW).removed == {
        "deliveries": 0,
        "matches": 0,
        "articles": 0,
    }
    assert rows.ids(Match) == {match}
    assert rows.ids(Article) == {old}


def test_db_prune_command_says_what_it_removes(
    db_url: str, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    rows = Rows(session_factory)
    for _ in range(3):
        rows.article(utcnow() - NOW + 100 * DAY)
    config = tmp_path / "monitor.yaml"
    config.write_text(f"database_url: '{db_url}'\n{RETENTION}", encoding="utf-8")
    dry = CliRunner().invoke(main, ["--config", str(config), "db", "prune", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "articles    would remove 3 older than 90d (before " in dry.output
    assert "deliveries  would remove 0 older than 30d" in dry.output
    assert len(rows.ids(Article)) == 3
    done = CliRunner().invoke(main, ["--config", str(config), "db", "prune", "--format", "json"])
    assert json.loads(done.output)["removed"] == {"deliveries": 0, "matches": 0, "articles": 3}
    assert rows.ids(Article) == set()


def test_a_pruned_item_still_in_its_feed_is_not_stored_again(session_factory: sessionmaker[Session]) -> None:
    now = utcnow()
    with FeedServer() as server:
        server.add_file(
            "/f.xml",
            rss(
                [
                    Item("fresh", "Fresh", published=now - 2 * DAY),
                    Item("stale", "Stale", published=now - 120 * DAY),
                ]
            ),
        )
        config = load_config_text(
            f"fetch: {{timeout: 5s, allow_hosts: ['{server.netloc}']}}\n{RETENTION}"
            f"feeds: [{{url: '{server.url('/f.xml')}', name: f}}]\n"
        )
        sync_feeds(session_factory, config)
        with session_factory() as session:
            feed_id = session.scalars(select(Feed.id)).one()
        outcome = poll_feed(session_factory, config, feed_id, owner="t", force=True)
    assert (outcome.items_seen, len(outcome.new_article_ids)) == (2, 1)
    with session_factory() as session:
        assert session.scalars(select(Article.item_key)).all() == ["fresh"]
        assert session.scalar(select(func.count()).select_from(Article)) == 1


def test_embedded_service_prunes_once_per_interval(
    db_url: str, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    from monitor.runtime import Runtime
    from monitor.service import EmbeddedService

    rows = Rows(session_factory)
    rows.article(utcnow() - NOW + 100 * DAY)
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"database_url: '{db_url}'\nretention: {{articles: 90d, interval: 1h}}\n", encoding="utf-8"
    )
    runtime = Runtime(config)
    try:
        service = EmbeddedService(runtime)
        first = service.prune_when_due()
        assert first is not None
        assert first.removed["articles"] == 1
        rows.article(utcnow() - NOW + 100 * DAY)
        assert service.prune_when_due() is None  # within retention.interval
    finally:
        runtime.close()
    assert len(rows.ids(Article)) == 1


def test_beat_schedules_the_prune_task_every_retention_interval() -> None:
    from workers.app import make_app

    app = make_app(settings("retention: {interval: 2h}\n"))
    entry = app.conf.beat_schedule["prune"]
    assert (entry["task"], entry["schedule"]) == ("monitor.prune", 7200)
