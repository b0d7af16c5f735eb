"""The volume knob, applied when an alert (or a digest) is claimed to be sent.

Deciding at send time rather than when the match is stored means a held
alert meets the rules in force when it becomes due: an alert muted until
10:00 that falls into quiet hours then waits for their end, and the hourly
limit counts what is actually sent. In order:

1. **Mute** (``monitor mute TOPIC|CHANNEL``): held until the mute ends
   (``hold_reason`` ``mute:<id>``; ``monitor unmute`` makes it due at
   once), or dropped (state ``dropped``) for a ``--drop`` mute.
2. **Quiet hours** (the channel's or the topic's, in the channel's time
   zone): held until the quiet period ends.
3. **max_per_hour** (the channel's over all topics, and the topic's on that
   channel; clock hours in UTC): an alert past a limit is not sent but
   ``held`` for the next digest. The alert that takes an hour's last slot
   says so; the first alert after a held-back period says how many were
   held back.

A held alert goes back to ``pending`` with its attempt given back, in the
claim's own transaction: holding is not a failed send.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from monitor.config import ChannelConfig, Settings, TopicConfig
from monitor.storage import outbox
from monitor.storage import volume as store
from monitor.storage.models import DeliveryState
from monitor.storage.outbox import Claim, OutgoingAlert

QUIET = "quiet-hours"


@dataclass(frozen=True)
class Verdict:
    send: bool
    notes: tuple[str, ...] = ()
    outcome: str = "send"  # send | deferred | held | dropped


def quiet_until(period: tuple[time, time] | None, zone: str, now: datetime) -> datetime | None:
    """The end of the quiet period ``now`` falls in (UTC), or None."""
    if period is None:
        return None
    start, end = period
    local = now.astimezone(ZoneInfo(zone))
    moment = local.time().replace(tzinfo=None)
    inside = start <= moment < end if start < end else moment >= start or moment < end
    if not inside:
        return None
    ends = datetime.combine(local.date(), end, tzinfo=local.tzinfo)
    if ends <= local:
        ends = datetime.combine(local.date() + timedelta(days=1), end, tzinfo=local.tzinfo)
    return ends.astimezone(now.tzinfo)


def _quiet_end(channel: ChannelConfig, topic: TopicConfig | None, now: datetime) -> datetime | None:
    ends = [quiet_until(channel.quiet_period, channel.timezone, now)]
    if topic is not None:
        ends.append(quiet_until(topic.quiet_period, channel.timezone, now))
    found = [end for end in ends if end is not None]
    return max(found) if found else None


def hour_of(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0)


def _defer(session: Session, claim: Claim, attempts: int, until: datetime, reason: str) -> Verdict:
    outbox.finish(
        session,
        claim,
        {
            "state": DeliveryState.PENDING,
            "next_attempt_at": until,
            "hold_reason": reason,
            "attempts": max(0, attempts - 1),
        },
    )
    return Verdict(False, outcome="deferred")


def _limits(channel: ChannelConfig, topic: TopicConfig | None) -> list[tuple[str, int]]:
    limits: list[tuple[str, int]] = []
    if channel.max_per_hour is not None:
        limits.append(("", channel.max_per_hour))
    if topic is not None and topic.max_per_hour is not None:
        limits.append((topic.id, topic.max_per_hour))
    return limits


def gate_alert(
    session: Session, settings: Settings, claim: Claim, alert: OutgoingAlert, now: datetime
) -> Verdict:
    """Decide (and, when not sending, record) what happens to a claimed alert."""
    try:
        channel = settings.target(alert.channel)
    except KeyError:
        return Verdict(True)  # the send reports the missing channel
    try:
        topic: TopicConfig | None = settings.topic(alert.topic_id)
    except KeyError:
        topic = None
    mute = store.mute_for(session, channel=channel.name, topic_id=alert.topic_id, now=now)
    if mute is not None:
        if mute.drop:
            outbox.finish(session, claim, {"state": DeliveryState.DROPPED, "hold_reason": f"mute:{mute.id}"})
            return Verdict(False, outcome="dropped")
        return _defer(session, claim, alert.attempts, mute.until, f"mute:{mute.id}")
    quiet_end = _quiet_end(channel, topic, now)
    if quiet_end is not None:
        return _defer(session, claim, alert.attempts, quiet_end, QUIET)
    limits = _limits(channel, topic)
    if not limits:
        return Verdict(True)
    hour = hour_of(now)
    taken: list[tuple[str, int, int]] = []
    for topic_key, limit in limits:
        count = store.take_slot(session, alert.channel, topic_key, hour, limit)
        if count is None:
            for given_key, _, _ in taken:
                store.give_back_slot(session, alert.channel, given_key, hour)
            store.count_held(session, alert.channel, topic_key, hour)
            values: dict[str, Any] = {
                "state": DeliveryState.HELD,
                "hold_reason": f"max_per_hour {limit}",
                "attempts": max(0, alert.attempts - 1),
            }
            outbox.finish(session, claim, values)
            return Verdict(False, outcome="held")
        taken.append((topic_key, limit, count))
    notes: list[str] = []
    held, since = store.report_held(session, alert.channel, [key for key, _ in limits], hour)
    if held:
        assert since is not None
        notes.append(
            f"{held} alert(s) held back by max_per_hour since {since:%Y-%m-%d %H:%M} UTC are in the digest."
        )
    full = [limit for _, limit, count in taken if count >= limit]
    if full:
        notes.append(
            f"This is the last instant alert this hour (max_per_hour {min(full)}): "
            "further alerts go to the next digest."
        )
    return Verdict(True, tuple(notes))
