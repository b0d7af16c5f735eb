"""Per-host politeness held by the database: at most ``max_per_host`` feeds of
one host hold a poll lease at once, also when claims race (SQLite and
PostgreSQL); disabled feeds are kept and never due."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.storage import Feed, FeedStatus, run_in_transaction, utcnow
from monitor.storage.feed_queue import due_feed_ids
from monitor.storage.feeds import ConfiguredFeed, claim_feed, host_of, sync_feeds

LEASE = timedelta(minutes=5)


def configure(factory: sessionmaker[Session], feeds: list[ConfiguredFeed]) -> dict[str, int]:
    now = utcnow() - timedelta(seconds=1)
    run_in_transaction(factory, lambda session: sync_feeds(session, feeds, now=now))
    with factory() as session:
        return {url: fid for fid, url in session.execute(select(Feed.id, Feed.url))}


def feed(url: str, *, enabled: bool = True) -> ConfiguredFeed:
    return ConfiguredFeed(url=url, name=url, language=None, interval_seconds=60, enabled=enabled)


def claim(factory: sessionmaker[Session], feed_id: int, owner: str, per_host: int = 2) -> bool:
    lease = run_in_transaction(
        factory,
        lambda session: claim_feed(
            session, feed_id, owner=owner, now=utcnow(), lease=LEASE, max_per_host=per_host
        ),
    )
    return lease is not None


def test_host_of_is_the_lower_case_host() -> None:
    assert host_of("https://User:pw@News.Example.ORG:8443/rss") == "news.example.org"
    assert host_of("http://127.0.0.1:8080/f.xml") == "127.0.0.1"


def test_at_most_max_per_host_leases_per_host(session_factory: sessionmaker[Session]) -> None:
    ids = configure(
        session_factory,
        [feed(f"https://one.example/{i}") for i in range(3)] + [feed("https://two.example/a")],
    )
    one = [ids[f"https://one.example/{i}"] for i in range(3)]
    assert claim(session_factory, one[0], "a")
    assert claim(session_factory, one[1], "b")
    # The third feed of the same host waits; another host does not.
    assert not claim(session_factory, one[2], "c")
    assert claim(session_factory, ids["https://two.example/a"], "d")
    # A finished (or expired) poll frees its slot.
    with session_factory() as session, session.begin():
        session.get_one(Feed, one[0]).lease_until = utcnow() - timedelta(seconds=1)
    assert claim(session_factory, one[2], "c")


def test_racing_claims_never_exceed_the_cap(session_factory: sessionmaker[Session]) -> None:
    ids = list(configure(session_factory, [feed(f"https://busy.example/{i}") for i in range(12)]).values())
    won: list[int] = []
    start = threading.Barrier(len(ids))

    def race(feed_id: int) -> None:
        start.wait()
        if claim(session_factory, feed_id, f"owner-{feed_id}"):
            won.append(feed_id)

    threads = [threading.Thread(target=race, args=(feed_id,)) for feed_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(won) == 2
    with session_factory() as session:
        leased = session.scalars(select(Feed.id).where(Feed.lease_owner.is_not(None))).all()
    assert sorted(leased) == sorted(won)


def test_disabled_feed_is_kept_and_never_due(session_factory: sessionmaker[Session]) -> None:
    ids = configure(session_factory, [feed("https://a.example/"), feed("https://b.example/", enabled=False)])
    with session_factory() as session:
        due = due_feed_ids(session, now=utcnow())
        status = session.get_one(Feed, ids["https://b.example/"]).status
    assert due == [ids["https://a.example/"]]
    assert status == FeedStatus.DISABLED
    from monitor.storage.views import list_feeds

    with session_factory() as session:
        shown = {view.url: view for view in list_feeds(session, now=utcnow(), silent_after=86400)}
    assert shown["https://b.example/"].interval_reason == "disabled in the config"
    assert shown["https://a.example/"].interval_reason == "not polled yet"
    assert not claim(session_factory, ids["https://b.example/"], "x")
    # Enabled again: polled again.
    configure(session_factory, [feed("https://a.example/"), feed("https://b.example/")])
    with session_factory() as session:
        assert session.get_one(Feed, ids["https://b.example/"]).status == FeedStatus.ACTIVE
