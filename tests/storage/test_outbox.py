"""The outbox's lease protocol, as one contract over both of its tables
(deliveries and operator notices), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from monitor.storage import Article, Delivery, DeliveryState, Feed, Match, Notice, run_in_transaction, utcnow
from monitor.storage.outbox import DELIVERIES, NOTICES, Claim, Queue, add_notice, claim_next, finish

LEASE = timedelta(minutes=5)
NOW = utcnow()


def _new_delivery(session: Session, n: int) -> int:
    feed = session.query(Feed).one_or_none()
    if feed is None:
        feed = Feed(url="https://news.example.com/feed.xml", name="News", interval_seconds=60)
        session.add(feed)
        session.flush()
    article = Article(feed_id=feed.id, item_key=f"k{n}", title="t", summary="s", content_hash=f"{n:064d}")
    session.add(article)
    session.flush()
    match = Match(article_id=article.id, topic_id="t", score=0.9, evidence={}, model_version="m")
    session.add(match)
    session.flush()
    delivery = Delivery(match_id=match.id, channel="hook", next_attempt_at=NOW - timedelta(seconds=1))
    session.add(delivery)
    session.flush()
    return delivery.id


def _new_notice(session: Session, n: int) -> int:
    add_notice(session, f"key-{n}", "test", f"notice {n}", at=NOW)
    return session.query(Notice).filter_by(key=f"key-{n}").one().id


MAKERS: dict[str, tuple[Queue, Callable[[Session, int], int]]] = {
    "deliveries": (DELIVERIES, _new_delivery),
    "notices": (NOTICES, _new_notice),
}


@pytest.fixture(params=sorted(MAKERS))
def queue_rows(
    request: pytest.FixtureRequest, session_factory: sessionmaker[Session]
) -> tuple[Queue, Callable[[int], int]]:
    queue, make = MAKERS[request.param]
    return queue, lambda n: run_in_transaction(session_factory, lambda session: make(session, n))


def _claim(factory: sessionmaker[Session], queue: Queue, **kwargs: object) -> tuple[Claim | None, bool]:
    return run_in_transaction(factory, lambda session: claim_next(session, queue, lease=LEASE, **kwargs))  # type: ignore[arg-type]


def test_a_row_is_claimed_once_until_its_lease_runs_out(
    session_factory: sessionmaker[Session], queue_rows: tuple[Queue, Callable[[int], int]]
) -> None:
    queue, make = queue_rows
    row_id = make(1)
    claim, lost = _claim(session_factory, queue, now=NOW)
    assert claim is not None and (claim.id, lost, claim.reclaimed_from) == (row_id, False, None)
    assert claim.lease_until == NOW + LEASE
    assert _claim(session_factory, queue, now=NOW + LEASE - timedelta(seconds=1)) == (None, False)

    # The holder died: after its lease the row is claimable again, and says so.
    taken_over, _ = _claim(session_factory, queue, now=NOW + LEASE + timedelta(seconds=1))
    assert taken_over is not None and taken_over.id == row_id
    assert taken_over.reclaimed_from == claim.lease_until

    # The first holder's outcome comes too late: it changes nothing.
    retry = {"state": DeliveryState.PENDING, "next_attempt_at": NOW} if queue is DELIVERIES else {}
    assert not run_in_transaction(session_factory, lambda s: finish(s, claim, retry))
    assert run_in_transaction(session_factory, lambda s: finish(s, taken_over, retry))
    # A failed attempt releases the lease: the row is claimable again at once.
    again, _ = _claim(session_factory, queue, now=NOW + LEASE + timedelta(seconds=2))
    assert again is not None and again.id == row_id and again.reclaimed_from is None


def test_finished_rows_are_not_claimed_and_filters_hold(
    session_factory: sessionmaker[Session], queue_rows: tuple[Queue, Callable[[int], int]]
) -> None:
    queue, make = queue_rows
    first, second, third = make(1), make(2), make(3)
    claim, _ = _claim(session_factory, queue, now=NOW, only_ids=[second])
    assert claim is not None and claim.id == second
    done = {"state": DeliveryState.SENT, "sent_at": NOW} if queue is DELIVERIES else {"sent_at": NOW}
    assert run_in_transaction(session_factory, lambda s: finish(s, claim, done))
    assert _claim(session_factory, queue, now=NOW + timedelta(days=1), only_ids=[second]) == (None, False)
    claim, _ = _claim(session_factory, queue, now=NOW, exclude={first})
    assert claim is not None and claim.id == third


def test_concurrent_claimers_never_share_a_row(
    session_factory: sessionmaker[Session], queue_rows: tuple[Queue, Callable[[int], int]]
) -> None:
    queue, make = queue_rows
    ids = {make(n) for n in range(12)}
    claimed: list[int] = []
    lock = threading.Lock()

    def claimer() -> None:
        while True:
            claim, lost = _claim(session_factory, queue, now=NOW)
            if claim is None and not lost:
                return
            if claim is not None:
                with lock:
                    claimed.append(claim.id)

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(claimed) == sorted(ids)  # every row once, none twice


def test_a_delivery_claim_counts_the_attempt_and_marks_it_sending(
    session_factory: sessionmaker[Session],
) -> None:
    delivery_id = run_in_transaction(session_factory, lambda session: _new_delivery(session, 1))
    _claim(session_factory, DELIVERIES, now=NOW)
    with session_factory() as session:
        row = session.get_one(Delivery, delivery_id)
        assert (row.state, row.attempts, row.lease_until) == (DeliveryState.SENDING, 1, NOW + LEASE)
