"""The outbox: alerts (``Delivery`` rows) and operator notices (``Notice``
rows) waiting to be sent, and the one lease protocol both are sent by.

1. :func:`claim_next` (its own short transaction) picks the next claimable
   row (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent senders pick
   different rows; SQLite's ``BEGIN IMMEDIATE`` serialises the claim) and
   takes it by a conditional UPDATE (``WHERE id AND still claimable``)
   checked by its row count, setting the row's lease to ``now + lease``. A
   row whose lease ran out (its sender died) is claimable again: the claim
   says so (``reclaimed_from``), since the provider may already have it.
2. The caller sends, outside any transaction.
3. :func:`finish` (its own short transaction) writes the outcome only if the
   row's lease is still the claim's own (``WHERE id AND lease = ours``) and
   clears it; a claim that expired and was taken over finishes nothing.

Deliveries and digests are claimable when ``pending`` and due, or
``sending`` with an expired lease; a claim moves them to ``sending`` and
counts the attempt.
Notices are claimable until sent. The protocol is tested once, as a contract
over both tables (``tests/storage/test_outbox.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from monitor.storage.db import affected_rows, insert_ignore
from monitor.storage.models import Article, Delivery, DeliveryState, Feed, Match, Notice, utcnow
from monitor.storage.story_models import Digest, DigestState
from monitor.storage.story_views import StorySummary, story_summary


@dataclass(frozen=True)
class Queue:
    """How one table keeps the lease protocol."""

    name: str
    model: type[Delivery] | type[Notice] | type[Digest]
    lease: InstrumentedAttribute[datetime | None]
    claimable: Callable[[datetime], ColumnElement[bool]]
    order_by: Sequence[ColumnElement[Any] | InstrumentedAttribute[Any]]
    claim_values: Mapping[str, Any]  # what a claim writes besides the lease


def _delivery_claimable(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(Delivery.state == DeliveryState.PENDING, Delivery.next_attempt_at <= now),
        and_(
            Delivery.state == DeliveryState.SENDING,
            Delivery.lease_until.is_not(None),
            Delivery.lease_until < now,
        ),
    )


def _notice_claimable(now: datetime) -> ColumnElement[bool]:
    return and_(Notice.sent_at.is_(None), or_(Notice.claimed_until.is_(None), Notice.claimed_until < now))


DELIVERIES = Queue(
    name="deliveries",
    model=Delivery,
    lease=Delivery.lease_until,
    claimable=_delivery_claimable,
    order_by=(Delivery.next_attempt_at, Delivery.id),
    claim_values={"state": DeliveryState.SENDING, "attempts": Delivery.attempts + 1},
)


def _digest_claimable(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(Digest.state == DigestState.PENDING, Digest.next_attempt_at <= now),
        and_(Digest.state == DigestState.SENDING, Digest.lease_until.is_not(None), Digest.lease_until < now),
    )


DIGESTS = Queue(
    name="digests",
    model=Digest,
    lease=Digest.lease_until,
    claimable=_digest_claimable,
    order_by=(Digest.next_attempt_at, Digest.id),
    claim_values={"state": DigestState.SENDING, "attempts": Digest.attempts + 1},
)
NOTICES = Queue(
    name="notices",
    model=Notice,
    lease=Notice.claimed_until,
    claimable=_notice_claimable,
    order_by=(Notice.id,),
    claim_values={},
)


@dataclass(frozen=True)
class Claim:
    queue: Queue
    id: int
    lease_until: datetime  # the claim's own lease: the token that proves it is still ours
    reclaimed_from: datetime | None  # the expired lease of the claim this one took over


def claim_next(
    session: Session,
    queue: Queue,
    *,
    now: datetime,
    lease: timedelta,
    only_ids: Sequence[int] | None = None,
    exclude: Collection[int] = (),
) -> tuple[Claim | None, bool]:
    """Claim the next claimable row (among ``only_ids``, not in ``exclude``);
    returns (claim, lost), where ``lost`` says another sender took the row
    between the select and the update."""
    model = queue.model
    query = (
        select(model.id, queue.lease)
        .where(queue.claimable(now))
        .order_by(*queue.order_by)
        .limit(1)
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite ignores it
    )
    if only_ids is not None:
        query = query.where(model.id.in_(list(only_ids)))
    if exclude:
        query = query.where(model.id.not_in(list(exclude)))
    row = session.execute(query).first()
    if row is None:
        return None, False
    row_id, previous_lease = row
    lease_until = now + lease
    taken = affected_rows(
        session,
        update(model)
        .where(model.id == row_id, queue.claimable(now))
        .values({queue.lease.key: lease_until, **queue.claim_values})
        .execution_options(synchronize_session=False),
    )
    if taken != 1:
        return None, True
    return Claim(queue, int(row_id), lease_until, previous_lease), False


def finish(session: Session, claim: Claim, values: Mapping[str, Any]) -> bool:
    """Write the outcome of a claimed row and clear its lease; False when
    the claim is no longer ours (it expired and was taken over)."""
    model = claim.queue.model
    finished = affected_rows(
        session,
        update(model)
        .where(model.id == claim.id, claim.queue.lease == claim.lease_until)
        .values({claim.queue.lease.key: None, **values})
        .execution_options(synchronize_session=False),
    )
    return finished == 1


# --- deliveries ----------------------------------------------------------------


def enqueue_deliveries(
    session: Session, match_id: int, targets: Sequence[str], *, at: datetime, kind: str = "alert"
) -> list[int]:
    """One pending delivery per target of a new match (unique per (match,
    channel): a repeat creates nothing); the ids created."""
    rows = [
        {
            "match_id": match_id,
            "channel": target,
            "state": DeliveryState.PENDING,
            "attempts": 0,
            "next_attempt_at": at,
            "created_at": at,
            "kind": kind,
        }
        for target in targets
    ]
    created = insert_ignore(session, Delivery.__table__, rows, returning=["id"])  # type: ignore[arg-type]
    return [int(row.id) for row in created]


@dataclass(frozen=True)
class OutgoingAlert:
    """A claimed delivery with what its message says."""

    delivery_id: int
    channel: str
    attempts: int  # this attempt included
    dedupe_key: str
    topic_id: str
    score: float
    evidence: dict[str, Any]
    model_version: str
    title: str
    link: str | None
    published_at: datetime | None
    feed_name: str
    article_id: int
    kind: str = "alert"
    language: str | None = None
    story: StorySummary | None = None


def outgoing_alert(session: Session, delivery_id: int) -> OutgoingAlert:
    delivery, match, article, feed_name = session.execute(
        select(Delivery, Match, Article, Feed.name)
        .join(Match, Delivery.match_id == Match.id)
        .join(Article, Match.article_id == Article.id)
        .join(Feed, Article.feed_id == Feed.id)
        .where(Delivery.id == delivery_id)
    ).one()
    return OutgoingAlert(
        delivery_id=delivery.id,
        channel=delivery.channel,
        attempts=delivery.attempts,
        dedupe_key=delivery.dedupe_key,
        topic_id=match.topic_id,
        score=match.score,
        evidence=dict(match.evidence or {}),
        model_version=match.model_version,
        title=article.title,
        link=article.link,
        published_at=article.published_at,
        feed_name=feed_name,
        article_id=article.id,
        kind=delivery.kind,
        language=article.language,
        story=story_summary(session, article.id),
    )


def dead_notice_key(delivery_id: int) -> str:
    return f"delivery-dead:{delivery_id}"


def retry_dead(session: Session, ids: Sequence[int] | None = None, *, now: datetime | None = None) -> int:
    """Put dead deliveries (all, or those of ``ids``) back to pending with 0
    attempts, due now. Their dead-notice is removed so that a second death is
    announced again. Returns how many rows were reset."""
    query = select(Delivery.id).where(Delivery.state == DeliveryState.DEAD)
    if ids is not None:
        query = query.where(Delivery.id.in_(list(ids)))
    found = list(session.scalars(query))
    if not found:
        return 0
    reset = affected_rows(
        session,
        update(Delivery)
        .where(Delivery.id.in_(found), Delivery.state == DeliveryState.DEAD)
        .values(
            state=DeliveryState.PENDING,
            attempts=0,
            next_attempt_at=now or utcnow(),
            lease_until=None,
            last_error=None,
        )
        .execution_options(synchronize_session=False),
    )
    session.execute(delete(Notice).where(Notice.key.in_([dead_notice_key(i) for i in found])))
    return reset


def delivery_counts(session: Session) -> dict[DeliveryState, int]:
    """How many deliveries are in each state (every state, zeros included)."""
    query = select(Delivery.state, func.count()).group_by(Delivery.state)
    counts: dict[DeliveryState, int] = {state: int(count) for state, count in session.execute(query)}
    return {state: int(counts.get(state, 0)) for state in DeliveryState}


# --- notices -------------------------------------------------------------------


def add_notice(session: Session, key: str, kind: str, message: str, *, at: datetime | None = None) -> bool:
    """Record a notice once per ``key`` (however many workers see the
    condition); True when this call created it."""
    inserted = insert_ignore(
        session,
        Notice.__table__,  # type: ignore[arg-type]
        [{"key": key, "kind": kind, "message": message, "created_at": at or utcnow()}],
        returning=["id"],
    )
    return bool(inserted)


def notice_message(session: Session, notice_id: int) -> str:
    return session.get_one(Notice, notice_id).message
