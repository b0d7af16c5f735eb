"""The outbox sender: pending ``Delivery`` rows become Apprise notifications.

Contract (shared/research/reliability.md 2.4): no match lost, no duplicate
caused by our own retries or redeliveries, and at most one duplicate in the
single ambiguous case where the provider accepted a message but we never
learned it (a crash or a TIMEOUT between send and mark).

One delivery at a time:

1. **Claim** (own short transaction): pick the next due row, either
   ``pending`` with ``next_attempt_at <= now`` or ``sending`` whose
   ``lease_until < now`` (a sender died holding it), and move it to
   ``sending`` by a conditional UPDATE (``WHERE id AND state AND attempts``
   as seen) checked by rowcount, with ``lease_until = now + lease`` and
   ``attempts + 1``. PostgreSQL selects with ``FOR UPDATE SKIP LOCKED`` so
   concurrent senders pick different rows; SQLite's ``BEGIN IMMEDIATE``
   serialises the claim.
2. **Send** outside any transaction, bounded by ``alerts.send_timeout``.
3. **Mark** (own short transaction), again conditional on our claim
   (``state = sending AND attempts = ours``): ``sent`` on success only;
   otherwise back to ``pending`` with exponential backoff
   ``min(backoff_max, backoff_base * 2**(attempts-1))`` and the redacted
   error, or ``dead`` after ``max_attempts`` with one operator ``Notice``
   (``delivery-dead:{id}``, inserted with ON CONFLICT DO NOTHING).

Claiming one row at a time keeps the lease short: it has to cover one send
(plus Apprise's per-service throttle), not a whole batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from apprise import NotifyType
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerting import channels as channels_mod
from monitor.alerting.channels import SendOutcome, redact_text
from monitor.alerting.message import cut, render_alert, render_notice
from monitor.config import Settings
from monitor.storage.db import affected_rows, run_in_transaction
from monitor.storage.models import Article, Delivery, DeliveryState, Feed, Match, Notice, utcnow
from monitor.storage.notices import add_notice

log = logging.getLogger(__name__)

LAST_ERROR_MAX = 1000
NOTICES_PER_RUN = 20
# Seconds a lease must exceed send_timeout by: Apprise's throttle (<= 5.5 s)
# and the two short transactions around the send.
LEASE_MARGIN = 15

PENDING = DeliveryState.PENDING.value
SENDING = DeliveryState.SENDING.value
SENT = DeliveryState.SENT.value
DEAD = DeliveryState.DEAD.value


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    skipped: int = 0  # a claim or a mark lost to another sender
    notices_sent: int = 0
    ids: list[int] = field(default_factory=list)  # deliveries this call handled

    @property
    def handled(self) -> int:
        return self.sent + self.retried + self.dead


@dataclass(frozen=True)
class _Claim:
    id: int
    channel: str
    attempts: int
    lease_until: datetime
    reclaimed_from: datetime | None  # lease of the abandoned claim we took over
    dedupe_key: str
    topic_id: str
    score: float
    evidence: dict[str, Any]
    model_version: str
    title: str
    link: str | None
    published_at: datetime | None
    feed_name: str


def backoff_seconds(attempts: int, base: float, cap: float) -> float:
    """Delay before the next try after ``attempts`` failed tries (1-based)."""
    exponent = max(0, attempts - 1)
    if exponent > 60:  # 2**60 * base is beyond any cap
        return cap
    return float(min(cap, base * 2**exponent))


def _due_condition(now: datetime) -> Any:
    return or_(
        and_(Delivery.state == PENDING, Delivery.next_attempt_at <= now),
        and_(Delivery.state == SENDING, Delivery.lease_until.is_not(None), Delivery.lease_until < now),
    )


def _claim_next(
    session: Session, now: datetime, lease: timedelta, only_ids: Sequence[int] | None, exclude: set[int]
) -> tuple[_Claim | None, bool]:
    """Claim one due delivery; returns (claim, lost_race)."""
    query = (
        select(Delivery.id, Delivery.state, Delivery.attempts, Delivery.lease_until)
        .where(_due_condition(now))
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(1)
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite ignores it
    )
    if only_ids is not None:
        query = query.where(Delivery.id.in_(list(only_ids)))
    if exclude:
        query = query.where(Delivery.id.not_in(list(exclude)))
    row = session.execute(query).first()
    if row is None:
        return None, False
    delivery_id, seen_state, seen_attempts, seen_lease = row
    lease_until = now + lease
    taken = affected_rows(
        session,
        update(Delivery)
        .where(
            Delivery.id == delivery_id,
            Delivery.state == seen_state,
            Delivery.attempts == seen_attempts,
        )
        .values(state=SENDING, lease_until=lease_until, attempts=seen_attempts + 1)
        .execution_options(synchronize_session=False),
    )
    if taken != 1:
        return None, True
    loaded = session.execute(
        select(Delivery, Match, Article, Feed.name)
        .join(Match, Delivery.match_id == Match.id)
        .join(Article, Match.article_id == Article.id)
        .join(Feed, Article.feed_id == Feed.id)
        .where(Delivery.id == delivery_id)
    ).one()
    delivery, match, article, feed_name = loaded
    claim = _Claim(
        id=delivery_id,
        channel=delivery.channel,
        attempts=seen_attempts + 1,
        lease_until=lease_until,
        reclaimed_from=seen_lease if seen_state == SENDING else None,
        dedupe_key=delivery.dedupe_key,
        topic_id=match.topic_id,
        score=match.score,
        evidence=dict(match.evidence or {}),
        model_version=match.model_version,
        title=article.title,
        link=article.link,
        published_at=article.published_at,
        feed_name=feed_name,
    )
    return claim, False


def _send(claim: _Claim, settings: Settings) -> SendOutcome:
    try:
        channel = settings.target(claim.channel)
    except KeyError:
        return SendOutcome(
            False,
            f"channel {claim.channel!r} is no longer in the configuration",
            config_error=True,
        )
    try:
        topic_name: str | None = settings.topic(claim.topic_id).name
    except KeyError:
        topic_name = None  # the topic was removed; the match still stands
    rendered = render_alert(
        topic_id=claim.topic_id,
        topic_name=topic_name,
        title=claim.title,
        link=claim.link,
        feed_name=claim.feed_name,
        published_at=claim.published_at,
        score=claim.score,
        evidence=claim.evidence,
        model_version=claim.model_version,
        limits=channels_mod.channel_limits(channel),
    )
    return channels_mod.notify(channel, rendered.title, rendered.body, settings.alerts.send_timeout)


def _target_exists(settings: Settings, key: str) -> bool:
    try:
        settings.target(key)
    except KeyError:
        return False
    return True


def _mark(
    factory: sessionmaker[Session],
    settings: Settings,
    claim: _Claim,
    outcome: SendOutcome,
    at: datetime,
) -> str | None:
    """Record the outcome; returns the new state, or None if our claim was lost."""
    alerts = settings.alerts
    channel_gone = outcome.config_error and not _target_exists(settings, claim.channel)
    if outcome.ok:
        values: dict[str, Any] = {"state": SENT, "sent_at": at, "lease_until": None, "last_error": None}
    else:
        error = cut(redact_text(outcome.detail), LAST_ERROR_MAX)
        if channel_gone or claim.attempts >= alerts.max_attempts:
            values = {"state": DEAD, "lease_until": None, "last_error": error}
        else:
            delay = backoff_seconds(claim.attempts, alerts.backoff_base, alerts.backoff_max)
            values = {
                "state": PENDING,
                "lease_until": None,
                "last_error": error,
                "next_attempt_at": at + timedelta(seconds=delay),
            }

    def work(session: Session) -> bool:
        marked = affected_rows(
            session,
            update(Delivery)
            .where(
                Delivery.id == claim.id,
                Delivery.state == SENDING,
                Delivery.attempts == claim.attempts,
            )
            .values(**values)
            .execution_options(synchronize_session=False),
        )
        if marked != 1:
            return False
        if values["state"] == DEAD:
            reason = "its channel was removed" if channel_gone else f"after {claim.attempts} attempt(s)"
            message = (
                f"Delivery {claim.id} ({claim.dedupe_key}) is dead {reason}: {values['last_error']}\n"
                f"Topic: {claim.topic_id}; article: {cut(claim.title, 200)}\n"
                f"Retry with: monitor deliveries retry {claim.id}"
            )
            add_notice(session, f"delivery-dead:{claim.id}", "delivery-dead", message, at=at)
        return True

    if not run_in_transaction(factory, work):
        return None
    return str(values["state"])


def deliver_due(
    session_factory: sessionmaker[Session],
    settings: Settings,
    *,
    now: datetime | None = None,
    limit: int = 100,
    only_ids: Sequence[int] | None = None,
    budget: float | None = None,
) -> DeliveryReport:
    """Send up to ``limit`` due deliveries, one claim at a time.

    ``now`` fixes the clock (tests); by default the current time is read at
    each claim and each mark. ``only_ids`` restricts the run to those rows
    (they must still be due). ``budget`` (seconds) stops claiming when a
    further send might not finish within it: a Celery task passes what is
    left before its soft time limit, so that the limit does not cut a send
    in two (which would make the provider's copy a duplicate on retry).
    """
    started = time.monotonic()
    clock: Callable[[], datetime] = (lambda: now) if now is not None else utcnow
    lease = timedelta(seconds=settings.alerts.lease)
    if settings.alerts.lease < settings.alerts.send_timeout + LEASE_MARGIN:
        log.warning(
            "alerts.lease (%.0fs) should exceed send_timeout (%.0fs) by %ds or more: a slow send "
            "can outlive its claim and be sent twice",
            settings.alerts.lease,
            settings.alerts.send_timeout,
            LEASE_MARGIN,
        )
    report = DeliveryReport()
    seen: set[int] = set()
    lost_races = 0
    while report.handled + report.skipped < limit:
        if budget is not None and time.monotonic() - started + settings.alerts.send_timeout > budget:
            log.info("delivery run stopped: its time budget (%.0fs) is nearly spent", budget)
            break
        claim_time = clock()

        def claim_one(session: Session, at: datetime = claim_time) -> tuple[_Claim | None, bool]:
            return _claim_next(session, at, lease, only_ids, seen)

        claim, lost = run_in_transaction(session_factory, claim_one)
        if lost:
            report.skipped += 1
            lost_races += 1
            if lost_races > limit:
                break
            continue
        if claim is None:
            break
        seen.add(claim.id)
        report.ids.append(claim.id)
        if claim.reclaimed_from is not None:
            log.warning(
                "delivery %d %s: its claim expired at %s without an outcome (a sender died?); "
                "sending again, so the provider may see a duplicate (at-least-once)",
                claim.id,
                claim.dedupe_key,
                claim.reclaimed_from.isoformat(),
            )
        log.info(
            "delivery %d %s: sending (attempt %d/%d)",
            claim.id,
            claim.dedupe_key,
            claim.attempts,
            settings.alerts.max_attempts,
        )
        interrupted = False
        try:
            outcome = _send(claim, settings)
        except Exception as exc:  # a bug must not leave the row claimed
            if type(exc).__name__ == "SoftTimeLimitExceeded":  # Celery's, matched by name
                interrupted = True
                outcome = SendOutcome(
                    False, "send interrupted by the task's soft time limit; the provider may have it"
                )
            else:
                log.exception("delivery %d %s: unexpected error while sending", claim.id, claim.dedupe_key)
                outcome = SendOutcome(False, f"internal error: {type(exc).__name__}: {exc}")
        state = _mark(session_factory, settings, claim, outcome, clock())
        if state is None:
            report.skipped += 1
            log.warning(
                "delivery %d %s: claim lost before the outcome was recorded (lease %.0fs too short?); "
                "outcome was %s",
                claim.id,
                claim.dedupe_key,
                settings.alerts.lease,
                "sent" if outcome.ok else "failed",
            )
        elif state == SENT:
            report.sent += 1
            log.info("delivery %d %s: sent (%s)", claim.id, claim.dedupe_key, outcome.detail)
        elif state == DEAD:
            report.dead += 1
            log.error(
                "delivery %d %s: dead after %d attempt(s): %s",
                claim.id,
                claim.dedupe_key,
                claim.attempts,
                redact_text(outcome.detail),
            )
        else:
            report.retried += 1
            log.warning(
                "delivery %d %s: attempt %d failed, will retry: %s",
                claim.id,
                claim.dedupe_key,
                claim.attempts,
                redact_text(outcome.detail),
            )
        if interrupted:
            break
    if budget is None or time.monotonic() - started + settings.alerts.send_timeout <= budget:
        report.notices_sent = send_notices(session_factory, settings, now=now)
    return report


def send_notices(
    session_factory: sessionmaker[Session], settings: Settings, *, now: datetime | None = None
) -> int:
    """Send unsent operator notices to ``alerts.operator_channel`` (best effort).

    A notice is claimed with a lease (``claimed_until``, rowcount checked), so
    it goes out once however many senders run, and is marked ``sent_at`` only
    after the send: a sender that dies in between leaves a lease that
    expires, and the notice is sent by a later run. A failed send releases
    the claim for a later try; the first failure ends this run.
    """
    name = settings.alerts.operator_channel
    if not name:
        return 0
    try:
        channel = settings.channel(name)
    except KeyError:
        return 0
    limits = channels_mod.channel_limits(channel)
    lease = timedelta(seconds=settings.alerts.lease)
    sent = 0
    for _ in range(NOTICES_PER_RUN):
        at = now or utcnow()

        def claim(session: Session, at: datetime = at) -> tuple[int, str] | None:
            free = and_(
                Notice.sent_at.is_(None),
                or_(Notice.claimed_until.is_(None), Notice.claimed_until < at),
            )
            row = session.execute(
                select(Notice.id, Notice.message)
                .where(free)
                .order_by(Notice.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if row is None:
                return None
            taken = affected_rows(
                session,
                update(Notice)
                .where(Notice.id == row.id, free)
                .values(claimed_until=at + lease)
                .execution_options(synchronize_session=False),
            )
            return (row.id, row.message) if taken == 1 else None

        claimed = run_in_transaction(session_factory, claim)
        if claimed is None:
            break
        notice_id, message = claimed
        rendered = render_notice(message, limits)
        outcome = channels_mod.notify(
            channel,
            rendered.title,
            rendered.body,
            settings.alerts.send_timeout,
            notify_type=NotifyType.WARNING,
        )

        def record(session: Session, notice_id: int = notice_id, ok: bool = outcome.ok) -> None:
            values: dict[str, Any] = {"claimed_until": None}
            if ok:
                values["sent_at"] = now or utcnow()
            session.execute(
                update(Notice)
                .where(Notice.id == notice_id, Notice.sent_at.is_(None))
                .values(**values)
                .execution_options(synchronize_session=False)
            )

        run_in_transaction(session_factory, record)
        if outcome.ok:
            sent += 1
            log.info("operator notice %d sent to channel %r", notice_id, name)
            continue
        log.warning("operator notice %d not sent to channel %r: %s", notice_id, name, outcome.detail)
        break
    return sent


def retry_dead(session_factory: sessionmaker[Session], ids: Sequence[int] | None = None) -> int:
    """Put dead deliveries (all, or those of ``ids``) back to pending with 0
    attempts, due now. Their dead-notice is removed so that a second death is
    announced again. Returns how many rows were reset."""
    at = utcnow()

    def work(session: Session) -> int:
        query = select(Delivery.id).where(Delivery.state == DEAD)
        if ids is not None:
            query = query.where(Delivery.id.in_(list(ids)))
        found = [row[0] for row in session.execute(query)]
        if not found:
            return 0
        reset = affected_rows(
            session,
            update(Delivery)
            .where(Delivery.id.in_(found), Delivery.state == DEAD)
            .values(state=PENDING, attempts=0, next_attempt_at=at, lease_until=None, last_error=None)
            .execution_options(synchronize_session=False),
        )
        session.execute(delete(Notice).where(Notice.key.in_([f"delivery-dead:{i}" for i in found])))
        return reset

    return run_in_transaction(session_factory, work)
