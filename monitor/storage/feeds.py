"""Feeds: the configured list, which feeds are due, the per-feed poll lease
and what each poll leaves behind.

The lease makes a poll safe to run twice: :func:`claim_feed` takes it with a
conditional UPDATE checked by its row count (free, expired, or already held
by the same owner, which is how a redelivered Celery task resumes its own
poll), and only the holder's :func:`release_after_success` or
:func:`release_after_failure` writes the outcome, releasing it in the same
statement. ``poll_attempts`` counts claims that never released: a poll that
keeps killing its worker shows up there (see ``monitor.ingest.poll``).

Callers own the transaction: every function takes the session it works in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, String, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from monitor.storage.db import affected_rows
from monitor.storage.models import Article, Feed, FeedStatus, Notice, utcnow
from monitor.urls import redact_url

LAST_ERROR_MAX = 2000


def _column_length(column: ColumnElement[object]) -> int:
    column_type = column.type
    assert isinstance(column_type, String) and column_type.length is not None
    return column_type.length


# Validators longer than their columns are not kept (the feed is then fetched
# in full next time) rather than failing the poll.
ETAG_MAX = _column_length(Feed.__table__.c.etag)
LAST_MODIFIED_MAX = _column_length(Feed.__table__.c.last_modified)

# Written with every outcome of a poll that held the lease: the poll finished.
_RELEASED: dict[str, object] = {
    "lease_owner": None,
    "lease_until": None,
    "poll_attempts": 0,
    "queued_until": None,
}


@dataclass(frozen=True)
class ConfiguredFeed:
    """A feed as the config lists it."""

    url: str
    name: str
    language: str | None
    interval_seconds: int
    category: str | None = None
    enabled: bool = True


def host_of(url: str) -> str | None:
    """The host that ``polling.max_per_host`` counts, lower-case."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.lower()[:255] if host else None


@dataclass(frozen=True)
class FeedLease:
    """A feed claimed for one poll, with what the poll needs to know."""

    feed_id: int
    url: str
    name: str
    language: str | None
    etag: str | None
    last_modified: str | None
    interval: timedelta
    consecutive_errors: int
    attempts: int  # claims in a row that never released, this one included
    last_new_article_at: datetime  # or, before the first article, when the feed was added
    ttl_seconds: int | None = None  # the feed's <ttl> as last seen

    @property
    def shown_url(self) -> str:
        """The URL for logs, notices and outcomes."""
        return redact_url(self.url)


def sync_feeds(
    session: Session, configured: Sequence[ConfiguredFeed], *, now: datetime | None = None
) -> None:
    """Make the feeds table match the config: add new feeds (due at once),
    update changed ones, and mark feeds no longer configured as removed
    (their articles stay)."""
    existing = {feed.url: feed for feed in session.scalars(select(Feed))}
    for wanted in configured:
        feed = existing.get(wanted.url)
        status = FeedStatus.ACTIVE if wanted.enabled else FeedStatus.DISABLED
        if feed is None:
            session.add(
                Feed(
                    url=wanted.url,
                    name=wanted.name,
                    language=wanted.language,
                    interval_seconds=wanted.interval_seconds,
                    host=host_of(wanted.url),
                    category=wanted.category,
                    status=status,
                    next_check_at=now or utcnow(),
                    consecutive_errors=0,
                    poll_attempts=0,
                )
            )
            continue
        # Only changed values are assigned: a sync that changes nothing
        # writes nothing (it runs every tick).
        for name, value in (
            ("name", wanted.name),
            ("language", wanted.language),
            ("interval_seconds", wanted.interval_seconds),
            ("host", host_of(wanted.url)),
            ("category", wanted.category),
        ):
            if getattr(feed, name) != value:
                setattr(feed, name, value)
        if feed.status in (FeedStatus.REMOVED, FeedStatus.DISABLED) and feed.status != status:
            feed.status = status
        elif feed.status == FeedStatus.ACTIVE and not wanted.enabled:
            feed.status = FeedStatus.DISABLED
    urls = {wanted.url for wanted in configured}
    for url, feed in existing.items():
        if url not in urls and feed.status != FeedStatus.REMOVED:
            feed.status = FeedStatus.REMOVED


def lease_free(now: datetime) -> ColumnElement[bool]:
    return or_(Feed.lease_until.is_(None), Feed.lease_until < now)


def active_feed_ids(session: Session) -> list[int]:
    return list(session.scalars(select(Feed.id).where(Feed.status == FeedStatus.ACTIVE).order_by(Feed.id)))


def claim_feed(
    session: Session,
    feed_id: int,
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
    force: bool = False,
    max_per_host: int | None = None,
) -> FeedLease | None:
    """Take the feed's lease for ``owner`` until ``now + lease``; None when
    the feed is not active, not due (unless ``force``), leased by another
    owner, or when ``max_per_host`` polls of its host already hold a lease."""
    conditions = [
        Feed.id == feed_id,
        Feed.status == FeedStatus.ACTIVE,
        or_(lease_free(now), Feed.lease_owner == owner),
    ]
    if not force:
        conditions.append(Feed.next_check_at <= now)
    if max_per_host is not None:
        host = session.scalar(select(Feed.host).where(Feed.id == feed_id))
        if host is not None:
            _serialize_host(session, host)
            others = aliased(Feed)
            busy = (
                select(func.count())
                .select_from(others)
                .where(
                    others.host == host,
                    others.id != feed_id,
                    others.lease_until.is_not(None),
                    others.lease_until >= now,
                )
                .scalar_subquery()
            )
            conditions.append(busy < max_per_host)
    taken = affected_rows(
        session,
        update(Feed)
        .where(*conditions)
        .values(lease_owner=owner, lease_until=now + lease, poll_attempts=Feed.poll_attempts + 1)
        .execution_options(synchronize_session=False),
    )
    if taken != 1:
        return None
    feed = session.get_one(Feed, feed_id)
    session.refresh(feed)
    return FeedLease(
        feed_id=feed.id,
        url=feed.url,
        name=feed.name,
        language=feed.language,
        etag=feed.etag,
        last_modified=feed.last_modified,
        interval=timedelta(seconds=feed.interval_seconds),
        consecutive_errors=feed.consecutive_errors,
        attempts=feed.poll_attempts,
        last_new_article_at=feed.last_new_article_at or feed.created_at,
        ttl_seconds=feed.ttl_seconds,
    )


def _serialize_host(session: Session, host: str) -> None:
    """Claims of one host's feeds take turns until their transaction ends, so
    that two of them cannot both see a free slot. SQLite's ``BEGIN
    IMMEDIATE`` already serialises every writer; PostgreSQL takes a
    transaction-scoped advisory lock on the host."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"monitor-host:{host}"))))


def feed_label(session: Session, feed_id: int) -> tuple[str, str]:
    """(shown URL, name) of a feed, for a message about it."""
    feed = session.get(Feed, feed_id)
    if feed is None:
        return "?", f"feed {feed_id}"
    return redact_url(feed.url), feed.name


def _held_by(lease: FeedLease, owner: str) -> ColumnElement[bool]:
    """Only the poll holding the lease writes the feed's outcome."""
    return and_(Feed.id == lease.feed_id, Feed.lease_owner == owner)


def release_after_success(
    session: Session,
    lease: FeedLease,
    owner: str,
    *,
    now: datetime,
    next_check_at: datetime,
    etag: str | None,
    last_modified: str | None,
    new_articles: bool,
    not_modified: bool = False,
    schedule: tuple[int, str] | None = None,
    ttl_seconds: int | None = None,
) -> None:
    """Record a poll that fetched the feed (200 or 304) and release the lease.

    A 304 may carry fresh validators (RFC 9111 4.3.4); None keeps the old
    ones. ``schedule`` is the interval in force and its reason;
    ``ttl_seconds`` the feed's ``<ttl>`` (None keeps the last one seen: a 304
    has no body to read it from).
    """
    counter = Feed.polls_not_modified if not_modified else Feed.polls_ok
    values: dict[str, object] = {
        **_RELEASED,
        counter.key: counter + 1,
        "consecutive_errors": 0,
        "last_error": None,
        "last_success_at": now,
        "next_check_at": next_check_at,
    }
    if schedule is not None:
        values["schedule_seconds"], values["schedule_reason"] = schedule
    if ttl_seconds is not None:
        values["ttl_seconds"] = ttl_seconds
    if etag is not None:
        values["etag"] = etag if len(etag) <= ETAG_MAX else None
    if last_modified is not None:
        values["last_modified"] = last_modified if len(last_modified) <= LAST_MODIFIED_MAX else None
    if new_articles:
        values["last_new_article_at"] = now
    session.execute(update(Feed).where(_held_by(lease, owner)).values(**values))


def release_after_failure(
    session: Session,
    lease: FeedLease,
    owner: str,
    *,
    now: datetime,
    error: str,
    next_check_at: datetime | None,
    schedule: tuple[int, str] | None = None,
) -> None:
    """Record a failed poll and release the lease. Without ``next_check_at``
    the feed is gone (410): it is not polled again until it is reset."""
    values: dict[str, object] = {
        **_RELEASED,
        "polls_failed": Feed.polls_failed + 1,
        "consecutive_errors": lease.consecutive_errors + 1,
        "last_error": error[:LAST_ERROR_MAX],
        "last_error_at": now,
    }
    if schedule is not None:
        values["schedule_seconds"], values["schedule_reason"] = schedule
    if next_check_at is None:
        values["status"] = FeedStatus.GONE
    else:
        values["next_check_at"] = next_check_at
    session.execute(update(Feed).where(_held_by(lease, owner)).values(**values))


def entry_rhythm(
    session: Session, feed_id: int, *, now: datetime
) -> tuple[int, datetime | None, datetime | None]:
    """(count, first, last) of the feed's articles dated within the week
    before ``now``, by publication date, else by when they were fetched."""
    dated = func.coalesce(Article.published_at, Article.fetched_at)
    row = session.execute(
        select(func.count(), func.min(dated), func.max(dated)).where(
            Article.feed_id == feed_id, dated >= now - timedelta(days=7), dated <= now
        )
    ).one()
    count, first, last = row
    return int(count or 0), _utc(first), _utc(last)


def _utc(value: object) -> datetime | None:
    """A datetime from an aggregate, which bypasses the column's type on SQLite."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def gone_notice_key(feed_id: int) -> str:
    return f"feed-gone:{feed_id}"


def reset_feed(session: Session, feed_id: int, *, now: datetime | None = None) -> bool:
    """Make a gone or backed-off feed due now, with its errors and its lease
    cleared; False when there is no such configured feed."""
    changed = affected_rows(
        session,
        update(Feed)
        .where(Feed.id == feed_id, Feed.status.not_in([FeedStatus.REMOVED, FeedStatus.DISABLED]))
        .values(
            status=FeedStatus.ACTIVE,
            consecutive_errors=0,
            next_check_at=now or utcnow(),
            **_RELEASED,
        ),
    )
    # A gone feed that answers 410 again after a reset is announced again.
    session.execute(delete(Notice).where(Notice.key == gone_notice_key(feed_id)))
    return changed == 1
