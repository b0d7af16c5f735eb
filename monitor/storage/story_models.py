"""Tables of stories and of how alerts reach people: stories and their
articles, the one-alert-per-story gate, digests (an outbox of their own),
mutes and the hourly alert counts of ``max_per_hour``.

As everywhere, exactly-once rests on unique constraints: an article is in
one story (``story_articles.article_id``), a story alerts once per (topic,
channel, kind) (``story_alerts``), a channel has one digest per period
start (``digests``), an hour has one count row per (channel, topic).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from monitor.storage.models import Base, EnumText, utcnow


class Story(Base):
    """One event reported by one or more outlets, in one or more languages."""

    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(index=True)
    last_seen_at: Mapped[datetime]
    # The headline: the story's first article (kept when later ones join).
    headline_article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="SET NULL"))
    article_count: Mapped[int] = mapped_column(Integer, default=1)
    outlet_count: Mapped[int] = mapped_column(Integer, default=1)
    languages: Mapped[str] = mapped_column(String(64), default="")  # sorted, comma-separated
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StoryArticle(Base):
    """An article's place in a story, with what grouping compares: a compact
    vector (int8, scaled), its names and numbers, its link and title keys."""

    __tablename__ = "story_articles"
    __table_args__ = (Index("ix_story_articles_story", "story_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"))
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), unique=True)
    feed_id: Mapped[int] = mapped_column(Integer)
    language: Mapped[str | None] = mapped_column(String(16))
    seen_at: Mapped[datetime]  # the article's time: published, at the latest fetched
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    vector_scale: Mapped[float] = mapped_column(Float)
    names: Mapped[list[str]] = mapped_column(JSON)  # distinctive words: names and numbers
    title_names: Mapped[list[str]] = mapped_column(JSON)
    link_key: Mapped[str | None] = mapped_column(String(512))
    title_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StoryAlert(Base):
    """The gate of 'one instant alert per story, per topic and channel'
    (``kind`` ``first``), and of the one follow-up (``follow-up``)."""

    __tablename__ = "story_alerts"
    __table_args__ = (UniqueConstraint("story_id", "topic_id", "channel", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"))
    topic_id: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DigestState(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"


class Digest(Base):
    """One digest of one channel (outbox key) for one period, composed when
    it is created and sent part by part by the outbox's lease protocol:
    ``parts_sent`` moves forward after each part, so a sender that dies
    mid-send resumes at the part it had not finished."""

    __tablename__ = "digests"
    __table_args__ = (
        UniqueConstraint("channel", "period_start"),
        Index("ix_digests_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(128))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    state: Mapped[DigestState] = mapped_column(EnumText(DigestState), default=DigestState.PENDING)
    story_count: Mapped[int] = mapped_column(Integer, default=0)
    # [{"title": str, "body": str, "format": "text" | "html"}, ...]
    parts: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    parts_sent: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    hold_reason: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def dedupe_key(self) -> str:
        return f"digest-{self.channel}/{self.period_start:%Y%m%dT%H%M}"


class Mute(Base):
    """``monitor mute TOPIC|CHANNEL --for 4h [--drop]``: instant alerts of
    the topic (or everything of the channel) are held until ``until`` (or
    dropped) while it is in force; ``ended_at`` records an early unmute."""

    __tablename__ = "mutes"
    __table_args__ = (Index("ix_mutes_until", "until"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))  # "topic" | "channel"
    name: Mapped[str] = mapped_column(String(128))
    until: Mapped[datetime]
    drop: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]


class AlertCount(Base):
    """Instant alerts sent (``sent``) and held back (``held``) in one clock
    hour, per channel (``topic_id`` '') or per (channel, topic). A slot is
    taken by a conditional UPDATE (``sent < limit``), so two senders never
    exceed ``max_per_hour`` between them."""

    __tablename__ = "alert_counts"
    __table_args__ = (UniqueConstraint("channel", "topic_id", "hour_start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(128))
    topic_id: Mapped[str] = mapped_column(String(128))
    hour_start: Mapped[datetime]
    sent: Mapped[int] = mapped_column(Integer, default=0)
    held: Mapped[int] = mapped_column(Integer, default=0)
    held_reported: Mapped[bool] = mapped_column(Boolean, default=False)
