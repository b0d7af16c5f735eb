"""Which feeds are handed out to poll (``monitor.storage.feed_queue``)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from monitor.storage import run_in_transaction, utcnow
from monitor.storage.feed_queue import queue_due_feeds, queue_next_of_host, unqueue_skipped
from monitor.storage.feeds import claim_feed, release_after_success
from tests.storage.test_feeds import LEASE, configure, feed


def test_a_queued_feed_is_not_queued_again_until_polled_or_expired(
    session_factory: sessionmaker[Session],
) -> None:
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
