"""Digests in the database: one row per (channel key, period start), sent
by the outbox's lease protocol (``outbox.DIGESTS``), part by part.

* :func:`create_digest` inserts with ``ON CONFLICT DO NOTHING`` on
  (channel, period_start): two workers composing the same digest create
  one row, and a period is never composed twice.
* :func:`mark_part_sent` moves ``parts_sent`` forward only while the claim
  is still the sender's own (``lease_until`` unchanged), so a sender that
  died after part 2 of 3 leaves a row that the next claim resumes at part 3.

Callers own the transaction: every function takes the session it works in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from monitor.storage.db import affected_rows, insert_ignore
from monitor.storage.models import Delivery, DeliveryState, Match
from monitor.storage.outbox import Claim
from monitor.storage.story_models import Digest, DigestState
from monitor.storage.story_views import stories_of_articles


def last_period_end(session: Session, channel: str) -> datetime | None:
    return session.scalar(select(func.max(Digest.period_end)).where(Digest.channel == channel))


def create_digest(
    session: Session,
    channel: str,
    *,
    start: datetime,
    end: datetime,
    parts: Sequence[dict[str, Any]],
    story_count: int,
    at: datetime,
) -> int | None:
    """The new digest's id, or None when this (channel, start) exists."""
    inserted = insert_ignore(
        session,
        Digest.__table__,  # type: ignore[arg-type]
        [
            {
                "channel": channel,
                "period_start": start,
                "period_end": end,
                "state": DigestState.PENDING,
                "story_count": story_count,
                "parts": list(parts),
                "parts_sent": 0,
                "attempts": 0,
                "next_attempt_at": at,
                "created_at": at,
            }
        ],
        returning=["id"],
    )
    return int(inserted[0].id) if inserted else None


@dataclass(frozen=True)
class OutgoingDigest:
    id: int
    channel: str
    attempts: int
    parts: list[dict[str, Any]]
    parts_sent: int
    dedupe_key: str
    story_count: int


def outgoing_digest(session: Session, digest_id: int) -> OutgoingDigest:
    digest = session.get_one(Digest, digest_id)
    session.refresh(digest)
    return OutgoingDigest(
        digest.id,
        digest.channel,
        digest.attempts,
        list(digest.parts),
        digest.parts_sent,
        digest.dedupe_key,
        digest.story_count,
    )


def mark_part_sent(session: Session, claim: Claim, parts_sent: int) -> bool:
    """Record that the first ``parts_sent`` parts went out; False when the
    claim is no longer ours."""
    done = affected_rows(
        session,
        update(Digest)
        .where(Digest.id == claim.id, Digest.lease_until == claim.lease_until)
        .values(parts_sent=parts_sent)
        .execution_options(synchronize_session=False),
    )
    return done == 1


def held_deliveries(session: Session, channel: str, *, before: datetime) -> list[tuple[int, int]]:
    """(delivery id, article id) of the alerts held back by max_per_hour for
    ``channel`` before ``before`` that no digest has listed yet."""
    rows = session.execute(
        select(Delivery.id, Match.article_id)
        .join(Match, Match.id == Delivery.match_id)
        .where(
            Delivery.channel == channel,
            Delivery.state == DeliveryState.HELD,
            Delivery.digest_id.is_(None),
            Delivery.created_at < before,
        )
        .order_by(Delivery.id)
    ).all()
    return [(int(delivery_id), int(article_id)) for delivery_id, article_id in rows]


def held_story_ids(session: Session, held: Sequence[tuple[int, int]]) -> list[int]:
    stories = stories_of_articles(session, [article_id for _, article_id in held])
    return sorted(set(stories.values()))


def attach_held(session: Session, delivery_ids: Sequence[int], digest_id: int) -> None:
    if delivery_ids:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(list(delivery_ids)), Delivery.digest_id.is_(None))
            .values(digest_id=digest_id)
        )
