"""The poll stage: one feed, fetched, parsed, normalised and stored.

A poll is safe to run twice and safe to die half-way:

* it first takes the feed's **lease** with a conditional UPDATE. A doubled
  beat tick (another owner) finds the lease held and does nothing; a
  redelivered Celery task (the same owner, its task id) may take it again,
  since it is the same logical poll;
* ``poll_attempts`` counts polls that took the lease; a finished poll resets
  it. A feed whose polls keep dying (it kills the worker: a parser bomb, an
  OOM) reaches ``MAX_POLL_ATTEMPTS`` and is parked for ``max_backoff`` with a
  clear error and one operator notice, instead of looping forever;
* fetching and parsing happen outside any transaction; the new articles and
  the feed's new state are written in one transaction, with
  ``INSERT ... ON CONFLICT DO NOTHING`` on (feed, item key), so a repeat
  creates nothing.

Errors never stop a feed for good (the Miniflux complaint): each one backs off
exponentially from the feed's interval up to ``fetch.max_backoff`` and the
feed recovers by itself on its next success. Only a 410 Gone stops polling,
with an operator notice, until the feed is reset.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import FeedConfig, Settings
from monitor.ingest.fetch import fetch_feed, safe_url
from monitor.ingest.normalize import normalize_item
from monitor.ingest.parse import parse_feed
from monitor.ingest.types import FetchError, NormalizedArticle, ParseError
from monitor.storage import (
    Article,
    Feed,
    FeedStatus,
    Notice,
    affected_rows,
    insert_ignore,
    run_in_transaction,
    utcnow,
)
from monitor.storage.notices import add_notice

log = logging.getLogger(__name__)

# Polls that may take a feed's lease and never finish before it is parked.
MAX_POLL_ATTEMPTS = 3
# How long a poll holds its feed, as a multiple of the poll task's hard time
# limit (workers.poll_time_limit): a live poll is never doubled.
LEASE_FACTOR = 1.5
INSERT_CHUNK = 500
ETAG_MAX = 1024  # models.Feed.etag
LAST_MODIFIED_MAX = 128  # models.Feed.last_modified


@dataclass
class PollOutcome:
    feed_id: int
    url: str
    name: str
    status: str  # ok | not_modified | error | gone | skipped | parked
    new_article_ids: list[int] = field(default_factory=list)
    items_seen: int = 0
    error: str | None = None
    next_check_at: datetime | None = None

    def describe(self) -> str:
        """One line for a person watching ``monitor run``."""
        when = f" (next check {self.next_check_at.astimezone():%H:%M:%S})" if self.next_check_at else ""
        if self.status == "ok":
            return f"{self.name}: {len(self.new_article_ids)} new of {self.items_seen} items{when}"
        if self.status == "not_modified":
            return f"{self.name}: not modified{when}"
        if self.status == "skipped":
            return f"{self.name}: skipped, another poll holds it"
        return f"{self.name}: {self.status}: {self.error}{when}"


def sync_feeds(session_factory: sessionmaker[Session], settings: Settings) -> None:
    """Make the feeds table match the config: add new feeds, update changed
    ones, and mark feeds no longer configured as removed (their articles stay)."""

    def work(session: Session) -> None:
        existing = {feed.url: feed for feed in session.scalars(select(Feed))}
        configured = {feed.url for feed in settings.feeds}
        for feed_config in settings.feeds:
            interval = int(settings.feed_interval(feed_config).total_seconds())
            feed = existing.get(feed_config.url)
            if feed is None:
                session.add(_new_feed(feed_config, interval))
                continue
            feed.name = feed_config.display_name
            feed.language = feed_config.language
            feed.interval_seconds = interval
            if feed.status == FeedStatus.REMOVED:
                feed.status = FeedStatus.ACTIVE.value
        for url, feed in existing.items():
            if url not in configured and feed.status != FeedStatus.REMOVED:
                feed.status = FeedStatus.REMOVED.value

    run_in_transaction(session_factory, work)


def _new_feed(feed_config: FeedConfig, interval: int) -> Feed:
    return Feed(
        url=feed_config.url,
        name=feed_config.display_name,
        language=feed_config.language,
        interval_seconds=interval,
        status=FeedStatus.ACTIVE.value,
        next_check_at=utcnow(),
        consecutive_errors=0,
        poll_attempts=0,
    )


def due_feed_ids(
    session_factory: sessionmaker[Session], *, now: datetime | None = None, limit: int = 500
) -> list[int]:
    """Active feeds whose next check has come and whose lease is free."""
    now = now or utcnow()
    with session_factory() as session:
        query = (
            select(Feed.id)
            .where(Feed.status == FeedStatus.ACTIVE.value, Feed.next_check_at <= now)
            .where(or_(Feed.lease_until.is_(None), Feed.lease_until < now))
            .order_by(Feed.next_check_at)
            .limit(limit)
        )
        return list(session.scalars(query))


def active_feed_ids(session_factory: sessionmaker[Session]) -> list[int]:
    with session_factory() as session:
        query = select(Feed.id).where(Feed.status == FeedStatus.ACTIVE.value).order_by(Feed.id)
        return list(session.scalars(query))


@dataclass(frozen=True)
class _Claim:
    feed_id: int
    url: str
    name: str
    language: str | None
    etag: str | None
    last_modified: str | None
    interval: timedelta
    consecutive_errors: int
    attempts: int
    last_new_article_at: datetime  # or, before the first article, when the feed was added

    @property
    def shown_url(self) -> str:
        """The URL for logs, notices and outcomes: without any user:password."""
        return safe_url(self.url)


def _claim(
    session_factory: sessionmaker[Session],
    feed_id: int,
    owner: str,
    now: datetime,
    force: bool,
    lease: timedelta,
) -> _Claim | None:
    def work(session: Session) -> _Claim | None:
        conditions = [
            Feed.id == feed_id,
            Feed.status == FeedStatus.ACTIVE.value,
            or_(Feed.lease_until.is_(None), Feed.lease_until < now, Feed.lease_owner == owner),
        ]
        if not force:
            conditions.append(Feed.next_check_at <= now)
        taken = affected_rows(
            session,
            update(Feed)
            .where(*conditions)
            .values(
                lease_owner=owner,
                lease_until=now + lease,
                poll_attempts=Feed.poll_attempts + 1,
            )
            .execution_options(synchronize_session=False),
        )
        if taken != 1:
            return None
        feed = session.get_one(Feed, feed_id)
        session.refresh(feed)
        return _Claim(
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
        )

    return run_in_transaction(session_factory, work)


def poll_feed(
    session_factory: sessionmaker[Session],
    settings: Settings,
    feed_id: int,
    *,
    owner: str,
    now: datetime | None = None,
    force: bool = False,
) -> PollOutcome:
    """Poll one feed if it is due (or ``force``) and its lease is free."""
    now = now or utcnow()
    lease = timedelta(seconds=settings.workers.poll_time_limit * LEASE_FACTOR)
    claim = _claim(session_factory, feed_id, owner, now, force, lease)
    if claim is None:
        with session_factory() as session:
            feed = session.get(Feed, feed_id)
            url, name = (safe_url(feed.url), feed.name) if feed else ("?", f"feed {feed_id}")
        log.info("poll of %s skipped: not due, not active, or leased by another poll", name)
        return PollOutcome(feed_id=feed_id, url=url, name=name, status="skipped")

    if claim.attempts > MAX_POLL_ATTEMPTS:
        return _park_poison_feed(session_factory, settings, claim, owner, now)

    try:
        result = fetch_feed(
            claim.url,
            etag=claim.etag,
            last_modified=claim.last_modified,
            settings=settings.fetch,
        )
        if result.not_modified:
            return _record_success(
                session_factory,
                settings,
                claim,
                owner,
                now,
                [],
                result.etag,
                result.last_modified,
                status="not_modified",
                items_seen=0,
            )
        parsed = parse_feed(
            result.body,
            url=result.url,
            content_type=result.headers.get("content-type"),
            max_bytes=settings.fetch.max_bytes,
            headers=result.headers,
        )
        feed_language = claim.language or parsed.language
        articles = [normalize_item(item, feed_language=feed_language) for item in parsed.items]
        return _record_success(
            session_factory,
            settings,
            claim,
            owner,
            now,
            articles,
            result.etag,
            result.last_modified,
            status="ok",
            items_seen=len(parsed.items),
        )
    except FetchError as exc:
        if exc.kind == "gone":
            return _record_gone(session_factory, claim, owner, now, str(exc))
        return _record_error(session_factory, settings, claim, owner, now, str(exc), exc.retry_after)
    except ParseError as exc:
        return _record_error(session_factory, settings, claim, owner, now, str(exc), None)
    except Exception as exc:  # a bug or an unforeseen input: keep the feed, say why
        if type(exc).__name__ == "SoftTimeLimitExceeded":
            # Celery's soft time limit (matched by name: the library does
            # not import Celery): the poll took too long, not a bug.
            message = (
                f"poll timed out: SoftTimeLimitExceeded before workers.poll_time_limit "
                f"({settings.workers.poll_time_limit:g}s) ran out"
            )
            log.warning("feed %s (%s): %s", claim.name, claim.shown_url, message)
        else:
            log.exception("unexpected error while polling %s", claim.shown_url)
            message = f"internal error: {type(exc).__name__}: {exc}"
        return _record_error(session_factory, settings, claim, owner, now, message, None)


# Written with every outcome of a poll that held the lease: the poll finished.
_RELEASED: dict[str, object] = {"lease_owner": None, "lease_until": None, "poll_attempts": 0}


def _owned(feed_id: int, owner: str) -> ColumnElement[bool]:
    """Only the poll holding the lease writes the feed's outcome."""
    return and_(Feed.id == feed_id, Feed.lease_owner == owner)


def _record_success(
    session_factory: sessionmaker[Session],
    settings: Settings,
    claim: _Claim,
    owner: str,
    now: datetime,
    articles: Sequence[NormalizedArticle],
    etag: str | None,
    last_modified: str | None,
    *,
    status: str,
    items_seen: int,
) -> PollOutcome:
    next_check = now + claim.interval
    silent_after = timedelta(seconds=settings.fetch.silent_after)

    def work(session: Session) -> list[int]:
        new_ids = _insert_articles(session, claim.feed_id, articles, now)
        values: dict[str, object] = {
            **_RELEASED,
            "consecutive_errors": 0,
            "last_error": None,
            "last_success_at": now,
            "next_check_at": next_check,
        }
        # A 304 may carry fresh validators (RFC 9111 4.3.4); keep the old ones
        # otherwise. A validator too long for its column is not kept (the
        # feed is then fetched in full next time) rather than failing the poll.
        if etag is not None:
            values["etag"] = etag if len(etag) <= ETAG_MAX else None
        if last_modified is not None:
            values["last_modified"] = last_modified if len(last_modified) <= LAST_MODIFIED_MAX else None
        if new_ids:
            values["last_new_article_at"] = now
        elif now - claim.last_new_article_at > silent_after:
            # Reachable but silent for too long: a moved feed, a dead
            # generator. Announced once per silence (Huginn's `working?`).
            add_notice(
                session,
                f"feed-silent:{claim.feed_id}:{claim.last_new_article_at:%Y%m%dT%H%M%S}",
                "feed_silent",
                f"Feed {claim.name} ({claim.shown_url}) has had no new item since "
                f"{claim.last_new_article_at:%Y-%m-%d %H:%M} UTC.",
                at=now,
            )
        session.execute(update(Feed).where(_owned(claim.feed_id, owner)).values(**values))
        return new_ids

    new_ids = run_in_transaction(session_factory, work)
    outcome = PollOutcome(
        feed_id=claim.feed_id,
        url=claim.shown_url,
        name=claim.name,
        status=status,
        new_article_ids=new_ids,
        items_seen=items_seen,
        next_check_at=next_check,
    )
    log.info("polled %s", outcome.describe())
    return outcome


def _insert_articles(
    session: Session, feed_id: int, articles: Sequence[NormalizedArticle], now: datetime
) -> list[int]:
    rows: dict[str, dict[str, object]] = {}
    for article in articles:
        # The first occurrence of a key in one document wins, as in the feed's order.
        rows.setdefault(
            article.item_key,
            {
                "feed_id": feed_id,
                "item_key": article.item_key,
                "title": article.title,
                "summary": article.summary,
                "link": article.link,
                "language": article.language,
                "published_at": article.published_at,
                "fetched_at": now,
                "content_hash": article.content_hash,
            },
        )
    new_ids: list[int] = []
    values = list(rows.values())
    for start in range(0, len(values), INSERT_CHUNK):
        chunk = values[start : start + INSERT_CHUNK]
        inserted = insert_ignore(session, Article.__table__, chunk, returning=["id"])  # type: ignore[arg-type]
        new_ids.extend(row.id for row in inserted)
    return sorted(new_ids)


def error_backoff(interval: timedelta, consecutive_errors: int, cap: timedelta) -> timedelta:
    """interval x 2^(errors-1), capped: 1 error waits one interval, 2 wait two, 3 wait four."""
    factor: int = 2 ** max(0, min(consecutive_errors - 1, 30))
    return min(cap, interval * factor)


def _record_error(
    session_factory: sessionmaker[Session],
    settings: Settings,
    claim: _Claim,
    owner: str,
    now: datetime,
    message: str,
    retry_after: float | None,
) -> PollOutcome:
    errors = claim.consecutive_errors + 1
    cap = timedelta(seconds=settings.fetch.max_backoff)
    wait = error_backoff(claim.interval, errors, cap)
    if retry_after is not None:
        # The server said when to come back: never earlier, within our cap.
        wait = max(wait, timedelta(seconds=min(retry_after, cap.total_seconds())))
    log.warning(
        "feed %s (%s): %s; error %d in a row, next check in %s",
        claim.name,
        claim.shown_url,
        message,
        errors,
        wait,
    )
    return _record_failure(session_factory, claim, owner, now, message, status="error", wait=wait)


def _record_gone(
    session_factory: sessionmaker[Session], claim: _Claim, owner: str, now: datetime, message: str
) -> PollOutcome:
    log.warning("feed %s (%s) is gone (410); polling stopped", claim.name, claim.shown_url)
    notice = (
        f"feed-gone:{claim.feed_id}",
        "feed_gone",
        f"Feed {claim.name} ({claim.shown_url}) answered 410 Gone; polling stopped. "
        f"Remove it from the config or run `monitor feeds reset {claim.feed_id}`.",
    )
    return _record_failure(session_factory, claim, owner, now, message, status="gone", notice=notice)


def _park_poison_feed(
    session_factory: sessionmaker[Session], settings: Settings, claim: _Claim, owner: str, now: datetime
) -> PollOutcome:
    wait = timedelta(seconds=settings.fetch.max_backoff)
    message = (
        f"poll did not finish {MAX_POLL_ATTEMPTS} times in a row (the worker died or was killed "
        f"while polling this feed); parked for {wait}"
    )
    log.error("feed %s (%s): %s", claim.name, claim.shown_url, message)
    notice = (
        f"feed-poison:{claim.feed_id}:{now:%Y%m%d%H}",
        "feed_failed",
        f"Feed {claim.name} ({claim.shown_url}): {message}.",
    )
    return _record_failure(
        session_factory, claim, owner, now, message, status="parked", wait=wait, notice=notice
    )


def _record_failure(
    session_factory: sessionmaker[Session],
    claim: _Claim,
    owner: str,
    now: datetime,
    message: str,
    *,
    status: str,
    wait: timedelta | None = None,
    notice: tuple[str, str, str] | None = None,
) -> PollOutcome:
    """Write a failed poll's outcome and release the lease, in one transaction.

    ``wait`` schedules the next check; without it the feed is not scheduled
    again (a gone feed). ``notice`` is (key, kind, message), announced once.
    """
    next_check = now + wait if wait is not None else None
    values: dict[str, object] = {
        **_RELEASED,
        "consecutive_errors": claim.consecutive_errors + 1,
        "last_error": message[:2000],
        "last_error_at": now,
    }
    if next_check is not None:
        values["next_check_at"] = next_check
    if status == "gone":
        values["status"] = FeedStatus.GONE.value

    def work(session: Session) -> None:
        session.execute(update(Feed).where(_owned(claim.feed_id, owner)).values(**values))
        if notice is not None:
            add_notice(session, *notice, at=now)

    run_in_transaction(session_factory, work)
    return PollOutcome(
        feed_id=claim.feed_id,
        url=claim.shown_url,
        name=claim.name,
        status=status,
        error=message,
        next_check_at=next_check,
    )


def reset_feed(session_factory: sessionmaker[Session], feed_id: int) -> bool:
    """Make a gone or backed-off feed due now, with its error count cleared."""

    def work(session: Session) -> bool:
        changed = affected_rows(
            session,
            update(Feed)
            .where(Feed.id == feed_id, Feed.status != FeedStatus.REMOVED.value)
            .values(
                status=FeedStatus.ACTIVE.value,
                consecutive_errors=0,
                next_check_at=utcnow(),
                lease_owner=None,
                lease_until=None,
                poll_attempts=0,
            ),
        )
        # A gone feed that answers 410 again after a reset is announced again.
        session.execute(delete(Notice).where(Notice.key == f"feed-gone:{feed_id}"))
        return changed == 1

    return run_in_transaction(session_factory, work)
