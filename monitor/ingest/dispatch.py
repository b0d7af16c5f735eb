"""Which feeds to poll, and when they are handed out: the due feeds,
Celery's tick queueing them (at most a few per host slot), a freed host
slot handed to the host's next due feed, the embedded service's per-host
lanes, and resetting a gone or backed-off feed. The poll itself is
:mod:`monitor.ingest.poll`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Settings
from monitor.ingest.poll import lease_hold
from monitor.storage import feed_queue, feeds, run_in_transaction, utcnow

# Polls of one host queued per request it may run at once (polling.max_per_host):
# enough to keep a fast host busy between two ticks, few enough that a slow
# host's polls do not crowd the queue (one that finds its host busy is skipped
# and queued again at the next tick).
QUEUED_PER_SLOT = 8


def due_feed_ids(
    session_factory: sessionmaker[Session], *, now: datetime | None = None, limit: int = 500
) -> list[int]:
    """Active feeds whose next check has come and whose lease is free."""
    with session_factory() as session:
        return feed_queue.due_feed_ids(session, now=now or utcnow(), limit=limit)


def host_lanes(
    session_factory: sessionmaker[Session], feed_ids: Sequence[int], per_host: int
) -> list[list[int]]:
    """``feed_ids`` dealt into lanes, each to be polled one feed after
    another: a host's feeds go round-robin into at most ``per_host`` lanes."""
    with session_factory() as session:
        hosts = feed_queue.hosts_of(session, feed_ids)
    by_host: dict[str | None, list[list[int]]] = {}
    for feed_id in feed_ids:
        lanes = by_host.setdefault(hosts.get(feed_id), [])
        count = sum(len(lane) for lane in lanes)
        if len(lanes) < per_host:
            lanes.append([feed_id])
        else:
            lanes[count % per_host].append(feed_id)
    return [lane for lanes in by_host.values() for lane in lanes]


def queue_due_feeds(
    session_factory: sessionmaker[Session], settings: Settings, *, limit: int = 500
) -> list[int]:
    """Due feeds to queue a poll for (Celery's tick): each is marked queued
    for as long as a poll may hold its lease, so a backed-up queue does not
    fill with the same feeds at every tick."""
    hold = lease_hold(settings)
    return run_in_transaction(
        session_factory,
        lambda session: feed_queue.queue_due_feeds(
            session,
            now=utcnow(),
            hold=hold,
            limit=limit,
            max_per_host=settings.polling.max_per_host * QUEUED_PER_SLOT,
        ),
    )


def queue_next_of_host(
    session_factory: sessionmaker[Session], settings: Settings, feed_id: int
) -> int | None:
    """After a poll of ``feed_id`` (its host's slot now free): the next due
    feed of the same host to poll, marked queued, if one waits.

    Beat's tick queues polls every few seconds, and those that find their
    host busy are skipped; a host that answers slowly would then run one
    poll per slot per tick. Handing the freed slot to the host's next feed
    keeps it busy at ``polling.max_per_host`` polls at a time."""
    hold = lease_hold(settings)
    return run_in_transaction(
        session_factory,
        lambda session: feed_queue.queue_next_of_host(session, feed_id, now=utcnow(), hold=hold),
    )


def active_feed_ids(session_factory: sessionmaker[Session]) -> list[int]:
    with session_factory() as session:
        return feeds.active_feed_ids(session)


def reset_feed(session_factory: sessionmaker[Session], feed_id: int) -> bool:
    """Make a gone or backed-off feed due now, with its error count cleared."""
    return run_in_transaction(session_factory, lambda session: feeds.reset_feed(session, feed_id))
