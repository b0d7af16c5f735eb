"""Mutes and hourly alert counts: the storage of the volume knob.

* A mute (``monitor mute``) is a row with an end; it is in force while
  ``until > now`` and it has not been ended early.
* ``max_per_hour`` takes a slot in the hour's count row by a conditional
  UPDATE (``sent < limit``) checked by its row count, so concurrent senders
  never exceed the limit between them; a refused alert increments ``held``.

Callers own the transaction: every function takes the session it works in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from monitor.storage.db import affected_rows, insert_ignore
from monitor.storage.models import Delivery, DeliveryState
from monitor.storage.story_models import AlertCount, Digest, DigestState, Mute


@dataclass(frozen=True)
class MuteView:
    id: int
    scope: str
    name: str
    until: datetime
    drop: bool
    created_at: datetime


def _view(mute: Mute) -> MuteView:
    return MuteView(mute.id, mute.scope, mute.name, mute.until, mute.drop, mute.created_at)


def add_mute(
    session: Session, scope: str, name: str, *, until: datetime, drop: bool, at: datetime
) -> MuteView:
    mute = Mute(scope=scope, name=name, until=until, drop=drop, created_at=at)
    session.add(mute)
    session.flush()
    return _view(mute)


def active_mutes(session: Session, *, now: datetime) -> list[MuteView]:
    rows = session.scalars(
        select(Mute).where(Mute.until > now, Mute.ended_at.is_(None)).order_by(Mute.until, Mute.id)
    )
    return [_view(mute) for mute in rows]


def mute_for(session: Session, *, channel: str, topic_id: str | None, now: datetime) -> MuteView | None:
    """The mute in force for an alert of ``topic_id`` to ``channel`` (or for
    a digest of ``channel`` when ``topic_id`` is None); a dropping mute
    first, else the one that ends last."""
    scope: ColumnElement[bool] = and_(Mute.scope == "channel", Mute.name == channel)
    if topic_id is not None:
        scope = or_(scope, and_(Mute.scope == "topic", Mute.name == topic_id))
    rows = list(session.scalars(select(Mute).where(scope, Mute.until > now, Mute.ended_at.is_(None))))
    if not rows:
        return None
    return _view(max(rows, key=lambda mute: (mute.drop, mute.until)))


def end_mutes(session: Session, scope: str, name: str, *, now: datetime) -> list[int]:
    """End the mutes in force of ``scope``/``name``; their ids. What they
    held becomes due now (it is then sent by the channel's rules)."""
    ids = list(
        session.scalars(
            select(Mute.id).where(
                Mute.scope == scope, Mute.name == name, Mute.until > now, Mute.ended_at.is_(None)
            )
        )
    )
    if not ids:
        return []
    session.execute(update(Mute).where(Mute.id.in_(ids)).values(ended_at=now))
    reasons = [f"mute:{mute_id}" for mute_id in ids]
    session.execute(
        update(Delivery)
        .where(Delivery.state == DeliveryState.PENDING, Delivery.hold_reason.in_(reasons))
        .values(next_attempt_at=now)
    )
    session.execute(
        update(Digest)
        .where(Digest.state == DigestState.PENDING, Digest.hold_reason.in_(reasons))
        .values(next_attempt_at=now)
    )
    return ids


# --- max_per_hour ------------------------------------------------------------------


def _row(session: Session, channel: str, topic_id: str, hour: datetime) -> None:
    insert_ignore(
        session,
        AlertCount.__table__,  # type: ignore[arg-type]
        [
            {
                "channel": channel,
                "topic_id": topic_id,
                "hour_start": hour,
                "sent": 0,
                "held": 0,
                "held_reported": False,
            }
        ],
    )


def _key(channel: str, topic_id: str, hour: datetime) -> ColumnElement[bool]:
    return and_(AlertCount.channel == channel, AlertCount.topic_id == topic_id, AlertCount.hour_start == hour)


def take_slot(session: Session, channel: str, topic_id: str, hour: datetime, limit: int) -> int | None:
    """Count one alert in the hour if fewer than ``limit`` were; the count
    after it, or None when the hour is full."""
    _row(session, channel, topic_id, hour)
    taken = affected_rows(
        session,
        update(AlertCount)
        .where(_key(channel, topic_id, hour), AlertCount.sent < limit)
        .values(sent=AlertCount.sent + 1)
        .execution_options(synchronize_session=False),
    )
    if taken != 1:
        return None
    return int(session.scalar(select(AlertCount.sent).where(_key(channel, topic_id, hour))) or 0)


def give_back_slot(session: Session, channel: str, topic_id: str, hour: datetime) -> None:
    session.execute(
        update(AlertCount)
        .where(_key(channel, topic_id, hour), AlertCount.sent > 0)
        .values(sent=AlertCount.sent - 1)
    )


def count_held(session: Session, channel: str, topic_id: str, hour: datetime) -> None:
    _row(session, channel, topic_id, hour)
    session.execute(update(AlertCount).where(_key(channel, topic_id, hour)).values(held=AlertCount.held + 1))


def report_held(
    session: Session, channel: str, topic_ids: Sequence[str], before: datetime
) -> tuple[int, datetime | None]:
    """Alerts held back in hours before ``before`` and not yet reported
    (marked reported now): how many, since when."""
    rows = list(
        session.scalars(
            select(AlertCount).where(
                AlertCount.channel == channel,
                AlertCount.topic_id.in_(list(topic_ids)),
                AlertCount.hour_start < before,
                AlertCount.held > 0,
                AlertCount.held_reported.is_(False),
            )
        )
    )
    if not rows:
        return 0, None
    session.execute(
        update(AlertCount).where(AlertCount.id.in_([r.id for r in rows])).values(held_reported=True)
    )
    return sum(row.held for row in rows), min(row.hour_start for row in rows)
