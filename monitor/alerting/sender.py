"""The outbox sender: pending ``Delivery`` rows become Apprise notifications.

Contract (shared/research/reliability.md 2.4): no match lost, no duplicate
caused by our own retries or redeliveries, and at most one duplicate in the
single ambiguous case where the provider accepted a message but we never
learned it (a crash or a TIMEOUT between send and mark).

One delivery at a time, by the outbox's lease protocol
(``monitor.storage.outbox``):

1. **Claim** (own short transaction): the next due row (``pending`` and due,
   or ``sending`` whose lease ran out because a sender died) moves to
   ``sending`` with a lease and one more attempt.
2. **Send** outside any transaction, bounded by ``alerts.send_timeout``.
3. **Mark** (own short transaction), only while the lease is still ours:
   ``sent`` on success only; otherwise back to ``pending`` with exponential
   backoff ``min(backoff_max, backoff_base * 2**(attempts-1))`` and the
   redacted error, or ``dead`` after ``max_attempts`` with one operator
   ``Notice`` (``delivery-dead:{id}``, inserted with ON CONFLICT DO NOTHING).

Claiming one row at a time keeps the lease short: it has to cover one send
(plus Apprise's per-service throttle), not a whole batch. Operator notices
go out afterwards (``monitor.alerting.notices``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from monitor.alerting import channels as channels_mod
from monitor.alerting.channels import SendOutcome, redact_text
from monitor.alerting.message import cut, render_alert
from monitor.alerting.notices import send_notices
from monitor.config import Settings
from monitor.retries import backoff, is_soft_time_limit
from monitor.storage import outbox
from monitor.storage.db import run_in_transaction
from monitor.storage.models import DeliveryState, utcnow
from monitor.storage.outbox import Claim, OutgoingAlert
from monitor.urls import article_page_url

log = logging.getLogger(__name__)

LAST_ERROR_MAX = 1000
# Seconds a lease must exceed send_timeout by: Apprise's throttle (<= 5.5 s)
# and the two short transactions around the send.
LEASE_MARGIN = 15


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


def _claim_next(
    session: Session, now: datetime, lease: timedelta, only_ids: Sequence[int] | None, exclude: set[int]
) -> tuple[tuple[Claim, OutgoingAlert] | None, bool]:
    """Claim one due delivery and load its message; returns (claimed, lost_race)."""
    claim, lost = outbox.claim_next(
        session, outbox.DELIVERIES, now=now, lease=lease, only_ids=only_ids, exclude=exclude
    )
    if claim is None:
        return None, lost
    return (claim, outbox.outgoing_alert(session, claim.id)), False


def _send(alert: OutgoingAlert, settings: Settings) -> SendOutcome:
    try:
        channel = settings.target(alert.channel)
    except KeyError:
        return SendOutcome(
            False,
            f"channel {alert.channel!r} is no longer in the configuration",
            config_error=True,
        )
    try:
        topic_name: str | None = settings.topic(alert.topic_id).name
    except KeyError:
        topic_name = None  # the topic was removed; the match still stands
    rendered = render_alert(
        topic_id=alert.topic_id,
        topic_name=topic_name,
        title=alert.title,
        link=alert.link,
        feed_name=alert.feed_name,
        published_at=alert.published_at,
        score=alert.score,
        evidence=alert.evidence,
        model_version=alert.model_version,
        limits=channels_mod.channel_limits(channel),
        review_url=article_page_url(settings.web.base_url, alert.article_id),
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
    claim: Claim,
    alert: OutgoingAlert,
    outcome: SendOutcome,
    at: datetime,
) -> DeliveryState | None:
    """Record the outcome; returns the new state, or None if our claim was lost."""
    alerts = settings.alerts
    channel_gone = outcome.config_error and not _target_exists(settings, alert.channel)
    if outcome.ok:
        state = DeliveryState.SENT
        values: dict[str, Any] = {"state": state, "sent_at": at, "last_error": None}
    else:
        error = cut(redact_text(outcome.detail), LAST_ERROR_MAX)
        if channel_gone or alert.attempts >= alerts.max_attempts:
            state = DeliveryState.DEAD
            values = {"state": state, "last_error": error}
        else:
            state = DeliveryState.PENDING
            delay = backoff(alerts.backoff_base, alert.attempts, alerts.backoff_max)
            values = {"state": state, "last_error": error, "next_attempt_at": at + timedelta(seconds=delay)}

    def work(session: Session) -> bool:
        if not outbox.finish(session, claim, values):
            return False
        if state == DeliveryState.DEAD:
            reason = "its channel was removed" if channel_gone else f"after {alert.attempts} attempt(s)"
            message = (
                f"Delivery {alert.delivery_id} ({alert.dedupe_key}) is dead {reason}: {values['last_error']}\n"
                f"Topic: {alert.topic_id}; article: {cut(alert.title, 200)}\n"
                f"Retry with: monitor deliveries retry {alert.delivery_id}"
            )
            outbox.add_notice(
                session, outbox.dead_notice_key(alert.delivery_id), "delivery-dead", message, at=at
            )
        return True

    return state if run_in_transaction(factory, work) else None


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

        def claim_one(
            session: Session, at: datetime = claim_time
        ) -> tuple[tuple[Claim, OutgoingAlert] | None, bool]:
            return _claim_next(session, at, lease, only_ids, seen)

        claimed, lost = run_in_transaction(session_factory, claim_one)
        if lost:
            report.skipped += 1
            lost_races += 1
            if lost_races > limit:
                break
            continue
        if claimed is None:
            break
        claim, alert = claimed
        seen.add(claim.id)
        report.ids.append(claim.id)
        if claim.reclaimed_from is not None:
            log.warning(
                "delivery %d %s: its claim expired at %s without an outcome (a sender died?); "
                "sending again, so the provider may see a duplicate (at-least-once)",
                claim.id,
                alert.dedupe_key,
                claim.reclaimed_from.isoformat(),
            )
        log.info(
            "delivery %d %s: sending (attempt %d/%d)",
            claim.id,
            alert.dedupe_key,
            alert.attempts,
            settings.alerts.max_attempts,
        )
        interrupted = False
        try:
            outcome = _send(alert, settings)
        except Exception as exc:  # a bug must not leave the row claimed
            if is_soft_time_limit(exc):
                interrupted = True
                outcome = SendOutcome(
                    False, "send interrupted by the task's soft time limit; the provider may have it"
                )
            else:
                log.exception("delivery %d %s: unexpected error while sending", claim.id, alert.dedupe_key)
                outcome = SendOutcome(False, f"internal error: {type(exc).__name__}: {exc}")
        state = _mark(session_factory, settings, claim, alert, outcome, clock())
        if state is None:
            report.skipped += 1
            log.warning(
                "delivery %d %s: claim lost before the outcome was recorded (lease %.0fs too short?); "
                "outcome was %s",
                claim.id,
                alert.dedupe_key,
                settings.alerts.lease,
                "sent" if outcome.ok else "failed",
            )
        elif state == DeliveryState.SENT:
            report.sent += 1
            log.info("delivery %d %s: sent (%s)", claim.id, alert.dedupe_key, outcome.detail)
        elif state == DeliveryState.DEAD:
            report.dead += 1
            log.error(
                "delivery %d %s: dead after %d attempt(s): %s",
                claim.id,
                alert.dedupe_key,
                alert.attempts,
                redact_text(outcome.detail),
            )
        else:
            report.retried += 1
            log.warning(
                "delivery %d %s: attempt %d failed, will retry: %s",
                claim.id,
                alert.dedupe_key,
                alert.attempts,
                redact_text(outcome.detail),
            )
        if interrupted:
            break
    if budget is None or time.monotonic() - started + settings.alerts.send_timeout <= budget:
        report.notices_sent = send_notices(session_factory, settings, now=now)
    return report
