"""SQLAlchemy models: feeds, articles, matches, deliveries (the alert outbox),
feedback and operator notices.

Correctness rests on the unique constraints declared here, not on locks held
elsewhere: an article is unique per (feed, item key), a match per (article,
topic), a delivery per (match, channel). Every insert that could be repeated
by a redelivered task goes through ``insert_ignore`` (``ON CONFLICT DO
NOTHING``), so a repeat is a no-op on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    DDL,
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Explicit constraint names keep Alembic migrations identical on both dialects.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every dialect.

    SQLite has no time zones; storing naive UTC and re-attaching UTC on the way
    out keeps comparisons identical on SQLite and PostgreSQL.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a time zone")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


E = TypeVar("E", bound=enum.StrEnum)


class EnumText(TypeDecorator[E]):
    """A state column: an enum in Python, its value as plain text in the
    database (a VARCHAR on both dialects, so the schema stays the migrated one)."""

    impl = String
    cache_ok = True

    def __init__(self, enum_type: type[E], length: int = 16) -> None:
        super().__init__(length)
        self.enum_type = enum_type

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum_type(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self.enum_type(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}  # noqa: RUF012


# The trigram operator classes of the search indexes (PostgreSQL's contrib
# extension pg_trgm, trusted since PostgreSQL 13: a database owner may create it).
event.listen(
    Base.metadata,
    "before_create",
    DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql"),  # type: ignore[no-untyped-call]
)


def created_on(schema_item: object, dialect: str) -> bool:
    """False for an index declared for another dialect only (``ddl_if``):
    Alembic's comparison of models and database must skip it."""
    condition = getattr(schema_item, "_ddl_if", None)
    wanted = getattr(condition, "dialect", None)
    return wanted is None or wanted == dialect


class FeedStatus(enum.StrEnum):
    ACTIVE = "active"
    GONE = "gone"  # the server answered 410: polling stops until the config changes
    REMOVED = "removed"  # no longer in the config; its articles and matches stay
    DISABLED = "disabled"  # ``enabled: false`` in the config: kept, never polled


class DeliveryState(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"
    HELD = "held"  # held back by max_per_hour: listed by the next digest instead
    DROPPED = "dropped"  # muted with --drop


class Feed(Base):
    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    language: Mapped[str | None] = mapped_column(String(16))
    interval_seconds: Mapped[int] = mapped_column(Integer)
    status: Mapped[FeedStatus] = mapped_column(EnumText(FeedStatus), default=FeedStatus.ACTIVE)
    # The URL's host, lower-case: at most ``polling.max_per_host`` polls of
    # one host hold a lease at once.
    host: Mapped[str | None] = mapped_column(String(255), index=True)
    category: Mapped[str | None] = mapped_column(String(200))
    # The interval in force after the last poll and why (adaptive schedule,
    # the server's TTL, a backoff); the feed's <ttl> as last seen, in seconds.
    schedule_seconds: Mapped[int | None] = mapped_column(Integer)
    schedule_reason: Mapped[str | None] = mapped_column(String(200))
    ttl_seconds: Mapped[int | None] = mapped_column(Integer)

    # Conditional GET validators, as the server last sent them.
    etag: Mapped[str | None] = mapped_column(String(1024))
    last_modified: Mapped[str | None] = mapped_column(String(128))

    next_check_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    consecutive_errors: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_new_article_at: Mapped[datetime | None]

    # Per-feed lease: a doubled beat tick or a redelivered poll finds the lease
    # held and does nothing. ``poll_attempts`` counts polls that took the lease
    # and never finished (the worker died): past a limit the feed is a poison
    # feed and is marked failed instead of killing workers forever.
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None]
    poll_attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Set by beat's tick when it queues a poll of the feed: a due feed whose
    # poll is already queued is not queued again at every tick while the
    # queue drains (cleared by the poll; a lost message expires it).
    queued_until: Mapped[datetime | None]

    # Polls that finished, by outcome (``/metrics``): counted on the feed's
    # own row, which the poll updates anyway, so no counter row is shared by
    # every worker.
    polls_ok: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    polls_not_modified: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    polls_failed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    articles: Mapped[list[Article]] = relationship(back_populates="feed")


class Article(Base):
    __tablename__ = "articles"
    __table_args__ = (
        UniqueConstraint("feed_id", "item_key"),
        Index("ix_articles_pending", "classified_at"),
        Index("ix_articles_published_at", "published_at"),
        Index("ix_articles_fetched_at", "fetched_at"),
        # Word search (``folded_like``) on PostgreSQL: trigram indexes answer
        # ILIKE '%word%' without reading every article. SQLite scans, fast
        # enough with its own LIKE (see docs/benchmarks.md).
        *(
            Index(
                f"ix_articles_{column}_trgm",
                column,
                postgresql_using="gin",
                postgresql_ops={column: "gin_trgm_ops"},
            ).ddl_if(dialect="postgresql")
            for column in ("title", "summary")
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    # The feed item's identity: its guid, else its canonical link, else a hash
    # of title and summary (see monitor.ingest.normalize.item_key).
    item_key: Mapped[str] = mapped_column(String(512))
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(2048))
    language: Mapped[str | None] = mapped_column(String(16))
    published_at: Mapped[datetime | None]
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
    content_hash: Mapped[str] = mapped_column(String(64))
    # The main text of the article's page when the feed carries only a
    # teaser (``full_text``), and what became of fetching it.
    body: Mapped[str | None] = mapped_column(Text)
    body_note: Mapped[str | None] = mapped_column(String(300))
    # NULL until the matching stage has scored the article against every topic.
    classified_at: Mapped[datetime | None]

    feed: Mapped[Feed] = relationship(back_populates="articles")
    matches: Mapped[list[Match]] = relationship(back_populates="article")


class Match(Base):
    __tablename__ = "matches"
    __table_args__ = (
        UniqueConstraint("article_id", "topic_id"),
        Index("ix_matches_topic_created", "topic_id", "created_at"),
        # Newest first, with the id as tie-break: the pages' keyset pagination.
        # With the article id in the index, a filter on the article (words,
        # feed, language) walks it without reading the match rows: half the
        # time of a search that scans the history.
        Index("ix_matches_created_id", "created_at", "id", "article_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    topic_id: Mapped[str] = mapped_column(String(128))
    score: Mapped[float] = mapped_column(Float)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    model_version: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    article: Mapped[Article] = relationship(back_populates="matches")
    deliveries: Mapped[list[Delivery]] = relationship(back_populates="match")


class Delivery(Base):
    """One alert to send: the transactional outbox.

    Written in the same transaction as its match; the sender claims rows by a
    conditional UPDATE (pending -> sending, with a lease), so two senders never
    send the same row, and a sender that dies leaves a lease that expires.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("match_id", "channel"),
        Index("ix_deliveries_due", "state", "next_attempt_at"),
        Index("ix_deliveries_state_id", "state", "id"),
        Index("ix_deliveries_sent_at", "sent_at"),
        Index("ix_deliveries_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(128))
    state: Mapped[DeliveryState] = mapped_column(EnumText(DeliveryState), default=DeliveryState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # "alert" (a story's first, or every article's) or "follow-up" (the
    # story reached the channel's follow_up_outlets).
    kind: Mapped[str] = mapped_column(String(16), default="alert")
    # Why a due delivery was put off: "quiet-hours", "mute:<id>"; the held
    # back ones (state held) wait for the digest that lists them.
    hold_reason: Mapped[str | None] = mapped_column(String(64))
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("digests.id", ondelete="SET NULL"))

    match: Mapped[Match] = relationship(back_populates="deliveries")

    @property
    def dedupe_key(self) -> str:
        """Stable key logged with every send, to spot the one ambiguous duplicate."""
        return f"match-{self.match_id}/{self.channel}"


class Feedback(Base):
    """A person's judgement of one (article, topic): relevant or not."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("article_id", "topic_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    topic_id: Mapped[str] = mapped_column(String(128))
    relevant: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    article: Mapped[Article] = relationship()


class Notice(Base):
    """An operator notice (feed gone, delivery dead, poison feed).

    ``key`` is unique so that a condition is announced once, however many
    workers notice it.
    """

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(256), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Sent to the operator channel: claimed with a lease, marked sent after
    # the send, so a sender that dies in between leaves it to be sent again.
    claimed_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
