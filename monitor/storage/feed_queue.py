"""Which feeds to poll now: the due feeds, queued for Celery's tick with a
per-host cap, and the hand-over of a freed host slot to the host's next due
feed. Callers own the transaction: every function takes its session."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from monitor.storage.db import affected_rows
from monitor.storage.feeds import lease_free
from monitor.storage.models import Feed, FeedStatus


def due_feed_ids(session: Session, *, now: datetime, limit: int = 500) -> list[int]:
    """Active feeds whose next check has come and whose lease is free, the
    longest waiting first."""
    query = (
        select(Feed.id)
        .where(Feed.status == FeedStatus.ACTIVE, Feed.next_check_at <= now, lease_free(now))
        .order_by(Feed.next_check_at)
        .limit(limit)
    )
    return list(session.scalars(query))


def hosts_of(session: Session, feed_ids: Sequence[int]) -> dict[int, str | None]:
    """The host of each feed."""
    hosts: dict[int, str | None] = {}
    ids = list(feed_ids)
    for start in range(0, len(ids), 500):
        rows = session.execute(select(Feed.id, Feed.host).where(Feed.id.in_(ids[start : start + 500])))
        hosts.update({int(feed_id): host for feed_id, host in rows})
    return hosts


def _waiting(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """Due, active, not leased, and no poll queued for it (or its mark expired)."""
    return (
        Feed.status == FeedStatus.ACTIVE,
        Feed.next_check_at <= now,
        lease_free(now),
        or_(Feed.queued_until.is_(None), Feed.queued_until < now),
    )


def queue_due_feeds(
    session: Session, *, now: datetime, hold: timedelta, limit: int = 500, max_per_host: int | None = None
) -> list[int]:
    """The due feeds whose poll is not queued yet (or whose queueing has
    expired), marked queued until ``now + hold``, the longest waiting first.

    With ``max_per_host``, a host has at most that many polls in flight
    (queued or running, those of earlier ticks included): a host that
    answers slowly does not fill the queue with polls that would find it
    busy. The feeds left out stay due and are queued as its polls finish."""
    query = select(Feed.id, Feed.host).where(*_waiting(now)).order_by(Feed.next_check_at, Feed.id)
    if max_per_host is None:
        ids = list(session.scalars(query.with_only_columns(Feed.id).limit(limit)))
    else:
        in_flight = or_(
            and_(Feed.lease_until.is_not(None), Feed.lease_until >= now),
            and_(Feed.queued_until.is_not(None), Feed.queued_until >= now),
        )
        busy: dict[str | None, int] = {
            host: int(count)
            for host, count in session.execute(
                select(Feed.host, func.count()).where(Feed.host.is_not(None), in_flight).group_by(Feed.host)
            )
        }
        ids = []
        for feed_id, host in session.execute(query):
            if host is not None:
                if busy.get(host, 0) >= max_per_host:
                    continue
                busy[host] = busy.get(host, 0) + 1
            ids.append(int(feed_id))
            if len(ids) >= limit:
                break
    if ids:
        session.execute(
            update(Feed)
            .where(Feed.id.in_(ids))
            .values(queued_until=now + hold)
            .execution_options(synchronize_session=False)
        )
    return ids


def queue_next_of_host(session: Session, polled_id: int, *, now: datetime, hold: timedelta) -> int | None:
    """The longest-waiting due feed of ``polled_id``'s host whose poll is
    not queued, marked queued until ``now + hold`` (None when there is none)."""
    host = session.scalar(select(Feed.host).where(Feed.id == polled_id))
    if host is None:
        return None
    feed_id = session.scalar(
        select(Feed.id)
        .where(Feed.host == host, Feed.id != polled_id, *_waiting(now))
        .order_by(Feed.next_check_at, Feed.id)
        .limit(1)
    )
    if feed_id is None:
        return None
    taken = affected_rows(
        session,
        update(Feed)
        .where(Feed.id == feed_id, or_(Feed.queued_until.is_(None), Feed.queued_until < now))
        .values(queued_until=now + hold)
        .execution_options(synchronize_session=False),
    )
    return int(feed_id) if taken == 1 else None


def unqueue_skipped(session: Session, feed_id: int, *, now: datetime) -> None:
    """A queued poll that did not take the lease (its host busy, the feed
    not due any more) drops the feed's queued mark, so the next tick may
    queue it again instead of waiting for the mark to expire. A feed leased
    by another poll keeps it: that poll clears it when it finishes."""
    session.execute(
        update(Feed)
        .where(Feed.id == feed_id, lease_free(now))
        .values(queued_until=None)
        .execution_options(synchronize_session=False)
    )
