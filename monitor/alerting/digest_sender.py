"""Sending stored digests, exactly once, part by part.

The outbox's lease protocol (``outbox.DIGESTS``) as for alerts: claim (its
own transaction), send outside any transaction, record. A digest has
several parts when it exceeds the service's size limit; after each part
that Apprise reports sent, ``parts_sent`` moves forward (lease-checked), so
a worker killed mid-send leaves a row whose next claim starts at the first
part not recorded. The only possible duplicate is the documented ambiguous
one: the part in flight when the worker died (the provider may have it),
logged with the digest's dedupe key when the expired claim is taken over.

A channel mute or the channel's quiet hours put a due digest off as they do
an alert. A failed part backs off like an alert; after ``max_attempts`` the
digest is dead, with one operator notice.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from monitor.alerting import channels as channels_mod
from monitor.alerting.channels import redact_text
from monitor.alerting.message import cut
from monitor.alerting.volume import QUIET, quiet_until
from monitor.config import Settings
from monitor.retries import backoff
from monitor.storage import outbox
from monitor.storage import volume as volume_store
from monitor.storage.db import run_in_transaction
from monitor.storage.digests import OutgoingDigest, mark_part_sent, outgoing_digest
from monitor.storage.models import utcnow
from monitor.storage.outbox import Claim
from monitor.storage.story_models import DigestState

log = logging.getLogger(__name__)


@dataclass
class DigestReport:
    sent: int = 0
    parts_sent: int = 0
    retried: int = 0
    dead: int = 0
    held: int = 0


def _claim(
    session: Session, settings: Settings, now: datetime, lease: timedelta, seen: set[int]
) -> tuple[Claim, OutgoingDigest] | bool | None:
    """The next due digest (claimed), None when there is none, False when
    it was put off (mute, quiet hours) or lost to another sender."""
    claim, lost = outbox.claim_next(session, outbox.DIGESTS, now=now, lease=lease, exclude=seen)
    if claim is None:
        return False if lost else None
    seen.add(claim.id)
    digest = outgoing_digest(session, claim.id)
    try:
        channel = settings.target(digest.channel)
    except KeyError:
        return claim, digest  # the send reports the missing channel
    mute = volume_store.mute_for(session, channel=channel.name, topic_id=None, now=now)
    until, reason = (mute.until, f"mute:{mute.id}") if mute is not None else (None, None)
    if mute is not None and mute.drop:
        outbox.finish(
            session,
            claim,
            {"state": DigestState.SENT, "hold_reason": reason, "last_error": "dropped by mute"},
        )
        return False
    if until is None:
        until = quiet_until(channel.quiet_period, channel.timezone, now)
        reason = QUIET
    if until is not None:
        values: dict[str, Any] = {
            "state": DigestState.PENDING,
            "next_attempt_at": until,
            "hold_reason": reason,
            "attempts": max(0, digest.attempts - 1),
        }
        outbox.finish(session, claim, values)
        return False
    return claim, digest


def send_digests(
    session_factory: sessionmaker[Session],
    settings: Settings,
    *,
    now: datetime | None = None,
    limit: int = 20,
    budget: float | None = None,
) -> DigestReport:
    """Send up to ``limit`` due digests (``budget``: seconds, as for alerts)."""
    started = time.monotonic()
    lease = timedelta(seconds=settings.alerts.lease)
    report = DigestReport()
    seen: set[int] = set()
    for _ in range(limit):
        if budget is not None and time.monotonic() - started + settings.alerts.send_timeout > budget:
            break
        at = now or utcnow()

        def claim_one(session: Session, at: datetime = at) -> tuple[Claim, OutgoingDigest] | bool | None:
            return _claim(session, settings, at, lease, seen)

        claimed = run_in_transaction(session_factory, claim_one)
        if claimed is None:
            break
        if claimed is False:
            report.held += 1
            continue
        assert not isinstance(claimed, bool)
        claim, digest = claimed
        if claim.reclaimed_from is not None:
            log.warning(
                "digest %d %s: its claim expired at %s without an outcome (a sender died?); resuming at "
                "part %d of %d, which the provider may already have (at-least-once)",
                claim.id,
                digest.dedupe_key,
                claim.reclaimed_from.isoformat(),
                digest.parts_sent + 1,
                len(digest.parts),
            )
        _send_parts(session_factory, settings, claim, digest, now, report, budget, started)
    return report


def _send_parts(
    session_factory: sessionmaker[Session],
    settings: Settings,
    claim: Claim,
    digest: OutgoingDigest,
    now: datetime | None,
    report: DigestReport,
    budget: float | None,
    started: float,
) -> None:
    error: str | None = None
    config_error = False
    try:
        channel = settings.target(digest.channel)
    except KeyError:
        channel = None
        error, config_error = f"channel {digest.channel!r} is no longer in the configuration", True
    position = digest.parts_sent
    out_of_time = False
    while channel is not None and position < len(digest.parts):
        # The claim was made with time for one send; a further part needs
        # time of its own, and running out of it is no failure.
        if (
            position > digest.parts_sent
            and budget is not None
            and time.monotonic() - started + settings.alerts.send_timeout > budget
        ):
            out_of_time = True
            break
        part = digest.parts[position]
        log.info(
            "digest %d %s: sending part %d of %d",
            claim.id,
            digest.dedupe_key,
            position + 1,
            len(digest.parts),
        )
        outcome = channels_mod.notify(
            channel,
            part["title"],
            part["body"],
            settings.alerts.send_timeout,
            html=part.get("format") == "html",
        )
        if not outcome.ok:
            error, config_error = outcome.detail, outcome.config_error
            break
        position += 1
        report.parts_sent += 1

        def record(session: Session, done: int = position) -> bool:
            return mark_part_sent(session, claim, done)

        if not run_in_transaction(session_factory, record):
            log.warning("digest %d %s: claim lost after part %d", claim.id, digest.dedupe_key, position)
            return
    at = now or utcnow()
    if out_of_time:
        # The rest goes out at the next run, from the part not sent yet.
        values: dict[str, Any] = {
            "state": DigestState.PENDING,
            "next_attempt_at": at,
            "attempts": max(0, digest.attempts - 1),
        }
    elif error is None:
        values = {
            "state": DigestState.SENT,
            "sent_at": at,
            "last_error": None,
            "hold_reason": None,
        }
    else:
        message = cut(redact_text(error), 1000)
        alerts = settings.alerts
        if (config_error and channel is None) or digest.attempts >= alerts.max_attempts:
            values = {"state": DigestState.DEAD, "last_error": message}
        else:
            delay = backoff(alerts.backoff_base, digest.attempts, alerts.backoff_max)
            values = {
                "state": DigestState.PENDING,
                "last_error": message,
                "next_attempt_at": at + timedelta(seconds=delay),
            }

    def finish(session: Session) -> bool:
        if not outbox.finish(session, claim, values):
            return False
        if values["state"] == DigestState.DEAD:
            outbox.add_notice(
                session,
                f"digest-dead:{claim.id}",
                "digest-dead",
                f"Digest {claim.id} ({digest.dedupe_key}) is dead after {digest.attempts} attempt(s): "
                f"{values['last_error']}",
                at=at,
            )
        return True

    if not run_in_transaction(session_factory, finish):
        return
    state = values["state"]
    if out_of_time:
        left = len(digest.parts) - position
        log.info("digest %d %s: %d part(s) left for the next run", claim.id, digest.dedupe_key, left)
    elif state == DigestState.SENT:
        report.sent += 1
        log.info("digest %d %s: sent (%d part(s))", claim.id, digest.dedupe_key, len(digest.parts))
    elif state == DigestState.DEAD:
        report.dead += 1
        log.error("digest %d %s: dead: %s", claim.id, digest.dedupe_key, values["last_error"])
    else:
        report.retried += 1
        log.warning("digest %d %s: will retry: %s", claim.id, digest.dedupe_key, values["last_error"])
