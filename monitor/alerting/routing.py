"""Which outbox rows a new match creates, in the matching stage's transaction.

Per channel of the match's topic, and per outbox key of the channel (one
per URL, see ``ChannelConfig.targets``):

* ``min_score`` (the channel's and the topic's; the higher wins): a match
  scoring below it is not sent to that channel at all.
* ``mode: digest``: no instant alert (the digest lists the story).
* ``stories: every-article``: one alert per match, as before stories.
* ``stories: per-story`` (the default): the first match of each (story,
  topic) takes the gate ``story_alerts`` (unique per story, topic, key and
  kind) and gets the alert; later matches of the story send nothing
  instantly. With ``follow_up_outlets: N``, the match that brings the
  story to N outlets gets one follow-up (gate kind ``follow-up``).

The gate is a unique row, so two workers routing matches of one story at
once still create one alert between them.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from monitor.config import Settings
from monitor.storage import outbox
from monitor.storage.stories import StoryGrowth, take_story_alert

FIRST = "first"
FOLLOW_UP = "follow-up"


@dataclass(frozen=True)
class RoutedMatch:
    match_id: int
    topic_id: str
    score: float


def min_score(settings: Settings, channel_name: str, topic_id: str) -> float | None:
    """The score a match needs to reach a channel (None: no floor)."""
    floors = [settings.channel(channel_name).min_score]
    with contextlib.suppress(KeyError):
        floors.append(settings.topic(topic_id).min_score)
    given = [floor for floor in floors if floor is not None]
    return max(given) if given else None


def route(
    session: Session, settings: Settings, match: RoutedMatch, story: StoryGrowth | None, *, at: datetime
) -> list[int]:
    """Create the deliveries of one new match; their ids."""
    try:
        topic = settings.topic(match.topic_id)
    except KeyError:
        return []
    created: list[int] = []
    for name in topic.channels:
        try:
            channel = settings.channel(name)
        except KeyError:
            continue
        floor = min_score(settings, name, match.topic_id)
        if (floor is not None and match.score < floor) or not channel.sends_instant:
            continue
        for target in channel.targets:
            if channel.stories == "every-article" or story is None:
                created += outbox.enqueue_deliveries(session, match.match_id, [target], at=at)
                continue
            if take_story_alert(
                session, story.story_id, match.topic_id, target, FIRST, match.match_id, at=at
            ):
                created += outbox.enqueue_deliveries(session, match.match_id, [target], at=at)
                continue
            threshold = channel.follow_up_outlets
            if (
                threshold is not None
                and story.outlets_before < threshold <= story.outlets_after
                and take_story_alert(
                    session, story.story_id, match.topic_id, target, FOLLOW_UP, match.match_id, at=at
                )
            ):
                created += outbox.enqueue_deliveries(session, match.match_id, [target], at=at, kind=FOLLOW_UP)
    return created
