"""Digests: a channel's stories of one period, grouped by topic, best first.

Per channel (and per outbox key, one per URL), a digest covers
``[start, boundary)`` where the boundary comes from the channel's schedule
(``monitor.alerting.schedule``) and ``start`` is where the previous digest
of that key ended (or the boundary before, for the first one): periods
follow each other without gaps or overlaps, so a match is in exactly one
digest. Which stories:

* ``mode: digest`` / ``both``: every story with a match of the channel's
  topics made in the period (at or above ``min_score``);
* ``mode: instant``: only the stories of alerts ``max_per_hour`` held back
  (nothing held back, no digest).

The digest is composed once, when it becomes due, into parts within the
service's size limit (plain text for chat, HTML for e-mail: Apprise sends
the HTML with a plain-text alternative) and stored in its outbox row;
``monitor.alerting.digest_sender`` sends the parts. A period is due a short
grace after its boundary, so a match stored by a transaction that began
just before the boundary is not missed.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from monitor.alerting.message import (
    Limits,
    _slack_cost,
    cut,
    limits_for_urls,
    safe_link,
    safe_text,
    schema_of,
)
from monitor.alerting.routing import min_score
from monitor.alerting.schedule import last_boundary, previous_boundary
from monitor.config import ChannelConfig, Settings
from monitor.storage import digests as store
from monitor.storage.db import run_in_transaction
from monitor.storage.story_views import StoryView, list_stories

GRACE = timedelta(seconds=30)
EMAIL_SCHEMAS = ("mailto", "mailtos", "email", "emails")


@dataclass(frozen=True)
class TopicStories:
    topic_id: str
    topic_name: str
    stories: list[StoryView]


@dataclass(frozen=True)
class DigestPlan:
    channel: ChannelConfig
    key: str
    start: datetime
    end: datetime
    topics: list[TopicStories]
    held: list[int] = field(default_factory=list)  # delivery ids held back, listed here

    @property
    def story_count(self) -> int:
        return len({story.id for group in self.topics for story in group.stories})


def _topics_of(settings: Settings, channel: ChannelConfig) -> list[tuple[str, str]]:
    return [(topic.id, topic.name) for topic in settings.topics if channel.name in topic.channels]


def plan_digest(
    session: Session, settings: Settings, channel: ChannelConfig, key: str, *, start: datetime, end: datetime
) -> DigestPlan:
    """What the digest of ``key`` for ``[start, end)`` holds."""
    held = store.held_deliveries(session, key, before=end)
    only: list[int] | None = None
    if channel.mode == "instant":
        only = store.held_story_ids(session, held)
    groups: list[TopicStories] = []
    for topic_id, topic_name in _topics_of(settings, channel):
        if only is not None and not only:
            break
        stories = list_stories(
            session,
            topics=[topic_id],
            min_score=min_score(settings, channel.name, topic_id),
            story_ids=only,
            matched_since=None if only is not None else start,
            matched_until=None if only is not None else end,
            limit=10_000,
        )
        stories.sort(key=lambda s: (len(s.outlets), s.best_score, s.article_count), reverse=True)
        if stories:
            groups.append(TopicStories(topic_id, topic_name, stories))
    return DigestPlan(channel, key, start, end, groups, [delivery_id for delivery_id, _ in held])


def is_email(channel: ChannelConfig) -> bool:
    return all(schema_of(url) in EMAIL_SCHEMAS for url in channel.urls)


def _period(plan: DigestPlan) -> str:
    zone = ZoneInfo(plan.channel.digest_timezone)
    start, end = plan.start.astimezone(zone), plan.end.astimezone(zone)
    return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} ({plan.channel.digest_timezone})"


def _story_text(number: int, story: StoryView) -> str:
    outlets = ", ".join(safe_text(name, 80) for name in story.outlets[:8])
    if len(story.outlets) > 8:
        outlets += f" +{len(story.outlets) - 8}"
    languages = ", ".join(story.languages)
    return (
        f"{number}. {safe_text(story.headline, 300) or '(untitled)'}\n"
        f"   {safe_link(story.link) or '(no link)'}\n"
        f"   {len(story.outlets)} outlet(s): {outlets}"
        f"{f' · {languages}' if languages else ''} · {story.article_count} article(s)"
    )


def _story_html(story: StoryView) -> str:
    link = safe_link(story.link)
    headline = html.escape(safe_text(story.headline, 300) or "(untitled)")
    title = f'<a href="{html.escape(link)}">{headline}</a>' if link else headline
    outlets = html.escape(", ".join(safe_text(name, 80) for name in story.outlets[:12]))
    languages = html.escape(", ".join(story.languages))
    return (
        f"<li>{title}<br><small>{len(story.outlets)} outlet(s): {outlets}"
        f"{f' · {languages}' if languages else ''} · {story.article_count} article(s)</small></li>"
    )


def render_digest(plan: DigestPlan, limits: Limits, *, as_html: bool) -> list[dict[str, Any]]:
    """The digest's parts (``title``, ``body``, ``format``), each within ``limits``."""
    count = plan.story_count
    title = cut(f"news-monitor digest: {count} stor{'y' if count == 1 else 'ies'}", limits.title)
    intro = f"Digest of {_period(plan)}: {count} stor{'y' if count == 1 else 'ies'}."
    if plan.held:
        intro += f" {len(plan.held)} alert(s) held back by max_per_hour are listed here."
    blocks: list[str] = []
    for group in plan.topics:
        name = safe_text(group.topic_name, 120)
        if as_html:
            items = "".join(_story_html(story) for story in group.stories)
            blocks.append(f"<h3>{html.escape(name)} ({len(group.stories)})</h3><ol>{items}</ol>")
        else:
            blocks.append(f"{name} ({len(group.stories)})")
            blocks.extend(_story_text(n, story) for n, story in enumerate(group.stories, start=1))
    head = f"<p>{html.escape(intro)}</p>" if as_html else intro
    return _split(title, head, blocks, limits, as_html)


def _split(
    title: str, head: str, blocks: Sequence[str], limits: Limits, as_html: bool
) -> list[dict[str, Any]]:
    cost = None if as_html or not limits.slack_escaped else _slack_cost
    budget = limits.body - 40  # room for the "(part i of n)" line

    def weight(text: str) -> int:
        return sum(cost(ch) for ch in text) if cost else len(text)

    joiner = "" if as_html else "\n\n"
    parts: list[list[str]] = [[head]]
    for block in blocks:
        block = cut(block, budget - weight(head), cost) if weight(block) > budget - weight(head) else block
        current = parts[-1]
        if weight(joiner.join([*current, block])) > budget:
            parts.append([block])
        else:
            current.append(block)
    total = len(parts)
    out: list[dict[str, Any]] = []
    for number, chunks in enumerate(parts, start=1):
        body = joiner.join(chunks)
        if total > 1:
            marker = f"(part {number} of {total})"
            body = f"{body}<p>{marker}</p>" if as_html else f"{body}\n\n{marker}"
            part_title = cut(f"{title} ({number}/{total})", limits.title)
        else:
            part_title = title
        out.append({"title": part_title, "body": body, "format": "html" if as_html else "text"})
    return out


def _parts(plan: DigestPlan) -> list[dict[str, Any]]:
    return render_digest(plan, limits_for_urls(plan.channel.urls), as_html=is_email(plan.channel))


def due_period(
    session: Session, channel: ChannelConfig, key: str, now: datetime
) -> tuple[datetime, datetime] | None:
    """The period of ``key``'s next digest if it is due at ``now``."""
    schedule, zone = channel.digest_schedule, channel.digest_timezone
    end = last_boundary(schedule, zone, now - GRACE)
    start = store.last_period_end(session, key) or previous_boundary(schedule, zone, end)
    return (start, end) if start < end else None


def _store_plan(session: Session, plan: DigestPlan, at: datetime) -> int | None:
    if not plan.topics:
        return None
    digest_id = store.create_digest(
        session,
        plan.key,
        start=plan.start,
        end=plan.end,
        parts=_parts(plan),
        story_count=plan.story_count,
        at=at,
    )
    if digest_id is not None:
        store.attach_held(session, plan.held, digest_id)
    return digest_id


def _digest_channels(settings: Settings) -> list[ChannelConfig]:
    """Channels that send digests: digest/both, and instant ones with a
    ``max_per_hour`` (theirs or a topic's) that can hold alerts back."""
    limited_topics = {name for topic in settings.topics if topic.max_per_hour for name in topic.channels}
    return [
        channel
        for channel in settings.channels
        if channel.mode != "instant" or channel.max_per_hour or channel.name in limited_topics
    ]


def make_due_digests(
    session_factory: sessionmaker[Session], settings: Settings, *, now: datetime
) -> list[int]:
    """Compose and store every digest due at ``now``; the new ids."""
    created: list[int] = []
    for channel in _digest_channels(settings):
        for key in channel.targets:
            target = settings.target(key)  # one URL: its own limits and format

            def work(session: Session, target: ChannelConfig = target, key: str = key) -> int | None:
                period = due_period(session, target, key, now)
                if period is None:
                    return None
                start, end = period
                return _store_plan(
                    session, plan_digest(session, settings, target, key, start=start, end=end), now
                )

            digest_id = run_in_transaction(session_factory, work)
            if digest_id is not None:
                created.append(digest_id)
    return created


def open_period(
    session: Session, channel: ChannelConfig, key: str, now: datetime
) -> tuple[datetime, datetime]:
    """The period the next digest of ``key`` would cover if sent at ``now``."""
    schedule, zone = channel.digest_schedule, channel.digest_timezone
    start = store.last_period_end(session, key) or last_boundary(schedule, zone, now)
    return start, now


def preview(
    session: Session, settings: Settings, channel: ChannelConfig, now: datetime
) -> tuple[DigestPlan, list[dict[str, Any]]]:
    """What the next digest of ``channel`` (its first URL) holds so far."""
    key = channel.targets[0]
    target = settings.target(key)
    start, end = open_period(session, target, key, now)
    plan = plan_digest(session, settings, target, key, start=start, end=end)
    return plan, _parts(plan)


def send_now(
    session_factory: sessionmaker[Session], settings: Settings, channel: ChannelConfig, now: datetime
) -> list[int]:
    """Store the digest of ``[start, now)`` for each key of ``channel``, due
    at once (the next scheduled one then starts at ``now``)."""
    created: list[int] = []
    for key in channel.targets:

        def work(session: Session, key: str = key) -> int | None:
            target = settings.target(key)
            start, end = open_period(session, target, key, now)
            if start >= end:
                return None
            return _store_plan(
                session, plan_digest(session, settings, target, key, start=start, end=end), now
            )

        digest_id = run_in_transaction(session_factory, work)
        if digest_id is not None:
            created.append(digest_id)
    return created
