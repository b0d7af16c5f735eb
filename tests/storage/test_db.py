"""Storage behaviour shared by every stage, on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.storage import (
    Article,
    Base,
    Feed,
    create_db_engine,
    insert_ignore,
    make_session_factory,
    run_in_transaction,
)


def make_feed(session: Session, url: str = "https://example.org/rss") -> Feed:
    feed = Feed(
        url=url, name="Example", interval_seconds=60, status="active", consecutive_errors=0, poll_attempts=0
    )
    session.add(feed)
    session.flush()
    return feed


def article_row(feed_id: int, key: str) -> dict[str, object]:
    return {
        "feed_id": feed_id,
        "item_key": key,
        "title": f"title {key}",
        "summary": "summary",
        "link": None,
        "language": "en",
        "published_at": None,
        "fetched_at": datetime.now(UTC),
        "content_hash": key,
    }


def test_insert_ignore_is_idempotent_and_reports_new_rows(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        feed_id = make_feed(session).id
    with session_factory.begin() as session:
        first = insert_ignore(
            session,
            Article.__table__,
            [article_row(feed_id, "a"), article_row(feed_id, "b")],
            returning=["id"],
        )
    with session_factory.begin() as session:
        second = insert_ignore(
            session,
            Article.__table__,
            [article_row(feed_id, "b"), article_row(feed_id, "c")],
            returning=["id"],
        )
    assert len(first) == 2
    assert len(second) == 1  # only "c" is new
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Article)) == 3


def test_datetimes_come_back_as_utc(session_factory: sessionmaker[Session]) -> None:
    paris = timezone(timedelta(hours=1))
    moment = datetime(2026, 11, 20, 9, 30, tzinfo=paris)
    with session_factory.begin() as session:
        feed = make_feed(session)
        feed.next_check_at = moment
    with session_factory() as session:
        stored = session.scalars(select(Feed)).one().next_check_at
    assert stored == moment
    assert stored.tzinfo is not None and stored.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(session_factory: sessionmaker[Session]) -> None:
    with pytest.raises(Exception, match="naive datetime"), session_factory.begin() as session:
        feed = make_feed(session)
        feed.next_check_at = datetime(2026, 1, 1)
        session.flush()


def _writer(url: str, feed_id: int, keys: list[str]) -> int:
    engine = create_db_engine(url)
    factory = make_session_factory(engine)
    inserted = 0
    for key in keys:

        def work(session: Session, key: str = key) -> int:
            return len(
                insert_ignore(session, Article.__table__, [article_row(feed_id, key)], returning=["id"])
            )

        inserted += run_in_transaction(factory, work)
    engine.dispose()
    return inserted


def test_concurrent_writers_on_sqlite_never_fail_and_never_duplicate(tmp_path: Path) -> None:
    """Reliability case 28 (writers): 4 processes insert the same 100 entries."""
    url = f"sqlite:///{tmp_path / 'race.sqlite3'}"
    engine = create_db_engine(url)
    Base.metadata.create_all(engine)
    with make_session_factory(engine).begin() as session:
        feed_id = make_feed(session).id
    keys = [f"item-{i}" for i in range(100)]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        results = pool.starmap(
            _writer, [(url, feed_id, keys[i::1] if i % 2 else list(reversed(keys))) for i in range(4)]
        )
    with make_session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Article)) == 100
    assert sum(results) == 100  # each row was new for exactly one writer
    engine.dispose()
