"""Operator notices (a feed gone or silent, a delivery dead, a poison feed)
sent to ``alerts.operator_channel``, best effort.

A notice is claimed by the outbox's lease protocol
(``monitor.storage.outbox``), so it goes out once however many senders run,
and is marked sent only after the send: a sender that dies in between leaves
a lease that expires, and a later run sends it. A failed send releases the
claim for a later try; the first failure ends the run.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from apprise import NotifyType
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerting import channels as channels_mod
from monitor.alerting.message import render_notice
from monitor.config import Settings
from monitor.storage import outbox
from monitor.storage.db import run_in_transaction
from monitor.storage.models import utcnow
from monitor.storage.outbox import Claim

log = logging.getLogger(__name__)

NOTICES_PER_RUN = 20


def send_notices(
    session_factory: sessionmaker[Session], settings: Settings, *, now: datetime | None = None
) -> int:
    """Send unsent operator notices; how many were sent."""
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

        def claim(session: Session, at: datetime = at) -> tuple[Claim, str] | None:
            taken, _lost = outbox.claim_next(session, outbox.NOTICES, now=at, lease=lease)
            return None if taken is None else (taken, outbox.notice_message(session, taken.id))

        claimed = run_in_transaction(session_factory, claim)
        if claimed is None:
            break
        notice, message = claimed
        rendered = render_notice(message, limits)
        outcome = channels_mod.notify(
            channel,
            rendered.title,
            rendered.body,
            settings.alerts.send_timeout,
            notify_type=NotifyType.WARNING,
        )
        values: dict[str, Any] = {"sent_at": now or utcnow()} if outcome.ok else {}

        def record(session: Session, notice: Claim = notice, values: dict[str, Any] = values) -> bool:
            return outbox.finish(session, notice, values)

        run_in_transaction(session_factory, record)
        if outcome.ok:
            sent += 1
            log.info("operator notice %d sent to channel %r", notice.id, name)
            continue
        log.warning("operator notice %d not sent to channel %r: %s", notice.id, name, outcome.detail)
        break
    return sent
