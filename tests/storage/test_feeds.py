"""Per-host politeness held by the database: at most ``max_per_host`` feeds of
one host hold a poll lease at once, also when claims race (SQLite and
PostgreSQL); disabled feeds are kept and never due."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.storage import Feed, FeedStatus, run_in_transaction, utcnow
from monitor.storage.feeds import ConfiguredFeed, claim_feed, due_feed_ids, host_of, sync_feeds

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


def test_a_queued_feed_is_not_queued_again_until_polled_or_expired(
    session_factory: sessionmaker[Session],
) -> None:
    from monitor.storage.feeds import queue_due_feeds, release_after_success

    ids = configure(session_factory, [feed("https://a.example/"), feed("https://b.example/")])
    hold = timedelta(minutes=3)

    def tick(at: timedelta = timedelta()) -> list[int]:
        return run_in_transaction(
            session_factory, lambda session: queue_due_feeds(session, now=utcnow() + at, hold=hold)
        )

    assert sorted(tick()) == sorted(ids.values())
    # The queue has not drained: the next ticks queue nothing again.
    assert tick() == []
    assert tick(timedelta(minutes=1)) == []
    # A poll of feed a releases it (and schedules it later); b's message was lost:
    # b is queued again once its hold has expired.
    a = ids["https://a.example/"]
    lease = run_in_transaction(
        session_factory, lambda session: claim_feed(session, a, owner="p", now=utcnow(), lease=LEASE)
    )
    assert lease is not None
    run_in_transaction(
        session_factory,
        lambda session: release_after_success(
            session,
            lease,
            "p",
            now=utcnow(),
            next_check_at=utcnow() - timedelta(seconds=1),
            etag=None,
            last_modified=None,
            new_articles=False,
        ),
    )
    assert tick() == [a]
    assert tick(timedelta(minutes=2)) == []
    # Neither polled since: once their holds expire, both are queued again.
    assert sorted(tick(timedelta(minutes=4))) == sorted(ids.values())


def test_a_tick_queues_no_more_polls_for_a_host_than_it_may_run(
    session_factory: sessionmaker[Session],
) -> None:
    """Polls queued past a host's limit would be skipped (host busy) and
    their feeds left marked queued: the tick queues up to the limit per host,
    counting the host's polls queued or running, and the rest as they finish."""
    from monitor.storage.feeds import queue_due_feeds, release_after_success, unqueue_skipped

    slow = [f"https://slow.example/{n}" for n in range(5)]
    ids = configure(session_factory, [feed(url) for url in [*slow, "https://other.example/"]])
    hold = timedelta(minutes=3)

    def tick() -> list[int]:
        return run_in_transaction(
            session_factory,
            lambda session: queue_due_feeds(session, now=utcnow(), hold=hold, max_per_host=2),
        )

    first = tick()
    assert len([i for i in first if i != ids["https://other.example/"]]) == 2
    assert ids["https://other.example/"] in first
    assert tick() == []  # two of slow.example's polls are queued: nothing more for it
    # One of them runs and finishes: one more slow.example feed is queued, no more.
    running = first[0] if first[0] != ids["https://other.example/"] else first[1]
    lease = run_in_transaction(
        session_factory, lambda session: claim_feed(session, running, owner="p", now=utcnow(), lease=LEASE)
    )
    assert lease is not None
    assert tick() == []  # still two in flight: one running, one queued
    run_in_transaction(
        session_factory,
        lambda session: release_after_success(
            session,
            lease,
            "p",
            now=utcnow(),
            next_check_at=utcnow() + timedelta(hours=1),
            etag=None,
            last_modified=None,
            new_articles=False,
        ),
    )
    second = tick()
    assert len(second) == 1 and second[0] not in first
    # A queued poll that found its host busy drops its mark: queued again at once.
    run_in_transaction(session_factory, lambda session: unqueue_skipped(session, second[0], now=utcnow()))
    assert tick() == [second[0]]
    # Without a per-host limit, every due feed is queued.
    leftover = run_in_transaction(
        session_factory, lambda session: queue_due_feeds(session, now=utcnow(), hold=hold)
    )
    assert len(leftover) == 2


def test_a_finished_poll_hands_its_host_slot_to_the_hosts_next_due_feed(
    session_factory: sessionmaker[Session],
) -> None:
    from monitor.storage.feeds import queue_next_of_host

    ids = configure(
        session_factory,
        [feed("https://slow.example/a"), feed("https://slow.example/b"), feed("https://other.example/")],
    )
    hold = timedelta(minutes=3)
    a, b = ids["https://slow.example/a"], ids["https://slow.example/b"]

    def next_of(polled: int) -> int | None:
        return run_in_transaction(
            session_factory, lambda session: queue_next_of_host(session, polled, now=utcnow(), hold=hold)
        )

    # b is the host's other due feed (other.example's feed is another host's).
    assert next_of(a) == b
    # b is now marked queued: not handed out twice.
    assert next_of(a) is None
    # The other host has no other feed.
    assert next_of(ids["https://other.example/"]) is None
