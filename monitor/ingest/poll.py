"""The poll stage: one feed, fetched, parsed, normalised and stored.

A poll is safe to run twice and safe to die half-way:

* it first takes the feed's **lease** (``monitor.storage.feeds``). A doubled
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
feed recovers by itself on its next success. The operator hears of it once:
a notice when a feed reaches ``fetch.failure_notice_after`` failed polls in
a row, another when it recovers. Only a 410 Gone stops polling, with an
operator notice, until the feed is reset.

A success schedules the next check by ``monitor.ingest.schedule`` (the
feed's rhythm, its TTL and the server's cache headers) and records why; at
most ``polling.max_per_host`` polls of one host hold a lease at once; a
teaser-only feed has its new articles' pages read (``monitor.ingest.fulltext``);
items older than ``retention.articles`` are not stored again once pruned.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from monitor.config import FeedConfig, Settings
from monitor.ingest.fetch import RequestOptions, fetch_feed
from monitor.ingest.fulltext import full_text_of_new, wants_full_text
from monitor.ingest.normalize import normalize_item
from monitor.ingest.outcome import PollOutcome, PollStatus
from monitor.ingest.parse import parse_feed
from monitor.ingest.schedule import (
    Cadence,
    EntryRhythm,
    ServerHint,
    cadence_for,
    plan_next_check,
    server_hint,
)
from monitor.ingest.types import FetchError, NormalizedArticle, ParseError
from monitor.retries import backoff, is_soft_time_limit
from monitor.storage import feed_queue, feeds, run_in_transaction, utcnow
from monitor.storage.articles import insert_articles
from monitor.storage.feeds import FeedLease
from monitor.storage.outbox import add_notice

log = logging.getLogger(__name__)

# Polls that may take a feed's lease and never finish before it is parked.
MAX_POLL_ATTEMPTS = 3
# How long a poll holds its feed, as a multiple of the poll task's hard time
# limit (workers.poll_time_limit): a live poll is never doubled.
LEASE_FACTOR = 1.5


def lease_hold(settings: Settings) -> timedelta:
    """How long a poll holds its feed's lease (and a queued poll its mark)."""
    return timedelta(seconds=settings.workers.poll_time_limit * LEASE_FACTOR)


def sync_feeds(session_factory: sessionmaker[Session], settings: Settings) -> None:
    """Make the feeds table match the config (see ``storage.feeds.sync_feeds``)."""
    configured = [
        feeds.ConfiguredFeed(
            url=feed.url,
            name=feed.display_name,
            language=feed.language,
            interval_seconds=int(_backoff_base(settings, feed)),
            category=feed.category,
            enabled=feed.enabled,
        )
        for feed in settings.feeds
    ]
    run_in_transaction(session_factory, lambda session: feeds.sync_feeds(session, configured))


def _backoff_base(settings: Settings, feed: FeedConfig) -> float:
    """What errors back off from: a fixed interval, else the shortest one."""
    cadence = cadence_for(settings, feed)
    return cadence.fixed or cadence.min_interval


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
    started = time.monotonic()
    lease_time = lease_hold(settings)
    lease = run_in_transaction(
        session_factory,
        lambda session: feeds.claim_feed(
            session,
            feed_id,
            owner=owner,
            now=now,
            lease=lease_time,
            force=force,
            max_per_host=settings.polling.max_per_host,
        ),
    )
    if lease is None:
        run_in_transaction(
            session_factory, lambda session: feed_queue.unqueue_skipped(session, feed_id, now=now)
        )
        with session_factory() as session:
            url, name = feeds.feed_label(session, feed_id)
        log.info("poll of %s skipped: not due, not active, leased, or its host busy", name)
        return PollOutcome(feed_id=feed_id, url=url, name=name, status=PollStatus.SKIPPED)
    feed = settings.feed(lease.url)
    poll = _Poll(session_factory, settings, lease, owner, now, cadence_for(settings, feed))
    if lease.attempts > MAX_POLL_ATTEMPTS:
        return poll.park()
    options = RequestOptions.of_feed(feed)
    try:
        result = fetch_feed(
            lease.url,
            etag=lease.etag,
            last_modified=lease.last_modified,
            settings=settings.fetch,
            options=options,
        )
        if result.not_modified:
            hint = server_hint(result.headers, lease.ttl_seconds, now=now)
            return poll.succeeded([], result.etag, result.last_modified, PollStatus.NOT_MODIFIED, 0, hint)
        parsed = parse_feed(
            result.body,
            url=result.url,
            content_type=result.headers.get("content-type"),
            max_bytes=settings.fetch.max_bytes,
            headers=result.headers,
        )
        feed_language = lease.language or parsed.language
        articles = _recent(
            [normalize_item(item, feed_language=feed_language) for item in parsed.items], settings, now
        )
        if articles and wants_full_text(feed, settings, articles):
            budget = settings.workers.work_budget(settings.workers.poll_time_limit) - (
                time.monotonic() - started
            )
            articles = full_text_of_new(session_factory, settings, lease, options, articles, budget / 2)
        hint = server_hint(result.headers, parsed.ttl_seconds, now=now)
        return poll.succeeded(
            articles,
            result.etag,
            result.last_modified,
            PollStatus.OK,
            len(parsed.items),
            hint,
            ttl_seconds=parsed.ttl_seconds,
        )
    except FetchError as exc:
        if exc.kind == "gone":
            return poll.gone(str(exc))
        return poll.failed(str(exc), exc.retry_after)
    except ParseError as exc:
        return poll.failed(str(exc), None)
    except Exception as exc:  # a bug or an unforeseen input: keep the feed, say why
        if is_soft_time_limit(exc):
            message = (
                f"poll timed out: SoftTimeLimitExceeded before workers.poll_time_limit "
                f"({settings.workers.poll_time_limit:g}s) ran out"
            )
            log.warning("feed %s (%s): %s", lease.name, lease.shown_url, message)
        else:
            log.exception("unexpected error while polling %s", lease.shown_url)
            message = f"internal error: {type(exc).__name__}: {exc}"
        return poll.failed(message, None)


def _recent(articles: list[NormalizedArticle], settings: Settings, now: datetime) -> list[NormalizedArticle]:
    """Items published before ``retention.articles`` would be pruned at once:
    not storing them keeps a pruned article from coming back as new (and
    alerting again) while its feed still lists it."""
    keep = settings.retention.articles
    if keep is None:
        return articles
    cutoff = now - timedelta(seconds=keep)
    return [a for a in articles if a.published_at is None or a.published_at >= cutoff]


@dataclass(frozen=True)
class _Poll:
    """One poll that holds its feed's lease: each outcome is written, and the
    lease released, in one transaction."""

    session_factory: sessionmaker[Session]
    settings: Settings
    lease: FeedLease
    owner: str
    now: datetime
    cadence: Cadence

    def succeeded(
        self,
        articles: Sequence[NormalizedArticle],
        etag: str | None,
        last_modified: str | None,
        status: PollStatus,
        items_seen: int,
        hint: ServerHint | None,
        *,
        ttl_seconds: int | None = None,
    ) -> PollOutcome:
        lease, now = self.lease, self.now
        silent_after = timedelta(seconds=self.settings.fetch.silent_after)

        def work(session: Session) -> tuple[list[int], datetime]:
            new_ids = insert_articles(session, lease.feed_id, articles, fetched_at=now)
            rhythm = EntryRhythm(*feeds.entry_rhythm(session, lease.feed_id, now=now))
            scheduled = plan_next_check(self.cadence, rhythm, hint)
            next_check_at = scheduled.at(now)
            if not new_ids and now - lease.last_new_article_at > silent_after:
                # Reachable but silent for too long: a moved feed, a dead
                # generator. Announced once per silence (Huginn's `working?`).
                add_notice(
                    session,
                    f"feed-silent:{lease.feed_id}:{lease.last_new_article_at:%Y%m%dT%H%M%S}",
                    "feed_silent",
                    f"Feed {lease.name} ({lease.shown_url}) has had no new item since "
                    f"{lease.last_new_article_at:%Y-%m-%d %H:%M} UTC.",
                    at=now,
                )
            if lease.consecutive_errors >= self.settings.fetch.failure_notice_after:
                add_notice(session, *self._recovery_notice(), at=now)
            feeds.release_after_success(
                session,
                lease,
                self.owner,
                now=now,
                next_check_at=next_check_at,
                etag=etag,
                last_modified=last_modified,
                new_articles=bool(new_ids),
                not_modified=status == PollStatus.NOT_MODIFIED,
                schedule=(round(scheduled.seconds), scheduled.reason),
                ttl_seconds=ttl_seconds,
            )
            return new_ids, next_check_at

        new_ids, next_check = run_in_transaction(self.session_factory, work)
        outcome = self._outcome(status, next_check, new_article_ids=new_ids, items_seen=items_seen)
        log.info("polled %s", outcome.describe())
        return outcome

    def failed(self, message: str, retry_after: float | None) -> PollOutcome:
        lease = self.lease
        errors = lease.consecutive_errors + 1
        cap = self.settings.fetch.max_backoff
        wait = backoff(lease.interval.total_seconds(), errors, cap)
        reason = f"backoff after {errors} error(s) in a row"
        if retry_after is not None and min(retry_after, cap) > wait:
            # The server said when to come back: never earlier, within our cap.
            wait = min(retry_after, cap)
            reason = f"Retry-After, after {errors} error(s) in a row"
        log.warning(
            "feed %s (%s): %s; error %d in a row, next check in %s",
            lease.name,
            lease.shown_url,
            message,
            errors,
            timedelta(seconds=wait),
        )
        notice = (
            self._failing_notice(errors, message, wait)
            if errors == self.settings.fetch.failure_notice_after
            else None
        )
        return self._release_failed(
            PollStatus.ERROR,
            message,
            self.now + timedelta(seconds=wait),
            notice,
            schedule=(round(wait), reason),
        )

    def _failing_notice(self, errors: int, message: str, wait: float) -> tuple[str, str, str]:
        """Announced once per run of failures: when it reaches fetch.failure_notice_after."""
        lease = self.lease
        return (
            f"feed-failing:{lease.feed_id}:{self.now:%Y%m%dT%H%M%S}",
            "feed_failing",
            f"Feed {lease.name} ({lease.shown_url}) failed {errors} polls in a row: {message}. "
            f"It keeps being polled with backoff (next in {timedelta(seconds=round(wait))}); "
            "a notice follows when it recovers.",
        )

    def _recovery_notice(self) -> tuple[str, str, str]:
        lease = self.lease
        return (
            f"feed-recovered:{lease.feed_id}:{self.now:%Y%m%dT%H%M%S}",
            "feed_recovered",
            f"Feed {lease.name} ({lease.shown_url}) recovered after {lease.consecutive_errors} failed polls.",
        )

    def gone(self, message: str) -> PollOutcome:
        lease = self.lease
        log.warning("feed %s (%s) is gone (410); polling stopped", lease.name, lease.shown_url)
        notice = (
            feeds.gone_notice_key(lease.feed_id),
            "feed_gone",
            f"Feed {lease.name} ({lease.shown_url}) answered 410 Gone; polling stopped. "
            f"Remove it from the config or run `monitor feeds reset {lease.feed_id}`.",
        )
        return self._release_failed(PollStatus.GONE, message, None, notice)

    def park(self) -> PollOutcome:
        lease = self.lease
        wait = timedelta(seconds=self.settings.fetch.max_backoff)
        message = (
            f"poll did not finish {MAX_POLL_ATTEMPTS} times in a row (the worker died or was killed "
            f"while polling this feed); parked for {wait}"
        )
        log.error("feed %s (%s): %s", lease.name, lease.shown_url, message)
        notice = (
            f"feed-poison:{lease.feed_id}:{self.now:%Y%m%d%H}",
            "feed_failed",
            f"Feed {lease.name} ({lease.shown_url}): {message}.",
        )
        return self._release_failed(
            PollStatus.PARKED,
            message,
            self.now + wait,
            notice,
            schedule=(round(wait.total_seconds()), "parked"),
        )

    def _release_failed(
        self,
        status: PollStatus,
        message: str,
        next_check: datetime | None,
        notice: tuple[str, str, str] | None = None,
        *,
        schedule: tuple[int, str] | None = None,
    ) -> PollOutcome:
        """``next_check`` None: the feed is not scheduled again (gone).
        ``notice`` is (key, kind, message), announced once; ``schedule`` the
        wait and its reason."""

        def work(session: Session) -> None:
            feeds.release_after_failure(
                session,
                self.lease,
                self.owner,
                now=self.now,
                error=message,
                next_check_at=next_check,
                schedule=schedule,
            )
            if notice is not None:
                add_notice(session, *notice, at=self.now)

        run_in_transaction(self.session_factory, work)
        return self._outcome(status, next_check, error=message)

    def _outcome(
        self,
        status: PollStatus,
        next_check: datetime | None,
        *,
        new_article_ids: list[int] | None = None,
        items_seen: int = 0,
        error: str | None = None,
    ) -> PollOutcome:
        return PollOutcome(
            feed_id=self.lease.feed_id,
            url=self.lease.shown_url,
            name=self.lease.name,
            status=status,
            new_article_ids=new_article_ids or [],
            items_seen=items_seen,
            error=error,
            next_check_at=next_check,
        )
