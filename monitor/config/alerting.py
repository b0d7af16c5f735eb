"""What a channel and a topic may say about how alerts reach people:
stories, digests, the volume knob (``min_score``, ``max_per_hour``,
``quiet_hours``) and templates; and the ``stories:`` section.

``ChannelConfig`` and ``TopicConfig`` (``monitor.config.schema``) inherit
these fields, so a channel reads as the issue describes it::

    channels:
      - name: desk
        url: mailtos://...
        mode: both                  # instant | digest | both
        stories: per-story          # or every-article (one alert per article)
        digest: {daily: "08:00", timezone: Europe/Paris}
        quiet_hours: "22:00-07:00"
        max_per_hour: 6
        template: {title: "[{{ topic }}] {{ title }}", body: "{{ link }}"}

Everything is checked at load: a time zone that does not exist, a schedule
that does not parse, a template that does not compile or refers to an
unknown variable is a config error at its line, not a failed send at 3 a.m.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from monitor.config.fields import Duration
from monitor.templates import TemplateProblem, check_template

_CLOCK = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*$")
_WEEKLY = re.compile(r"^\s*(mon|tue|wed|thu|fri|sat|sun)[a-z]*\s+(\S+)\s*$", re.IGNORECASE)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_clock(value: str) -> time:
    """``"08:00"`` -> 08:00; ValueError otherwise."""
    match = _CLOCK.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a time of day (use HH:MM, e.g. 08:00)")
    return time(int(match.group(1)), int(match.group(2)))


def parse_quiet_hours(value: str) -> tuple[time, time]:
    """``"22:00-07:00"`` -> (22:00, 07:00); a period may cross midnight."""
    start, sep, end = value.partition("-")
    if not sep:
        raise ValueError(f"{value!r} is not a period (use HH:MM-HH:MM, e.g. 22:00-07:00)")
    first, last = parse_clock(start), parse_clock(end)
    if first == last:
        raise ValueError(f"{value!r} is empty: start and end are the same time")
    return first, last


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Paris)") from None
    return value


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TemplateConfig(_Options):
    """A Jinja2 template (sandboxed) for the title and/or the body of an
    alert. ``format: html`` escapes every variable and sends the body as
    HTML (e-mail); ``text`` sends plain text. A part left out keeps the
    default rendering."""

    title: str | None = Field(None, description="Jinja2 template of the alert's title (one line)")
    body: str | None = Field(None, description="Jinja2 template of the alert's body")
    format: Literal["text", "html"] = Field("text", description="html: autoescaped, sent as HTML")

    @model_validator(mode="after")
    def _compiles(self) -> TemplateConfig:
        for part in ("title", "body"):
            source = getattr(self, part)
            if source is None:
                continue
            try:
                check_template(source, html=self.format == "html" and part == "body")
            except TemplateProblem as exc:
                from monitor.config.schema import ReferenceProblems

                raise ReferenceProblems([((part,), str(exc))]) from None
        return self


class DigestSchedule(_Options):
    """When a channel's digest goes out: exactly one of ``every``,
    ``daily`` or ``weekly``; ``timezone`` (default: the channel's) places
    ``daily``/``weekly`` and names the period in the digest."""

    every: Duration | None = Field(None, description="a digest every period: 1h, 6h, 1d (aligned on UTC)")
    daily: str | None = Field(None, description='time of day, e.g. "08:00"')
    weekly: str | None = Field(None, description='day and time, e.g. "mon 08:00"')
    timezone: str | None = Field(None, description="IANA time zone; default: the channel's timezone")

    @field_validator("every")
    @classmethod
    def _at_least_a_minute(cls, value: float | None) -> float | None:
        if value is not None and value < 60:
            raise ValueError("a digest period is one minute at least")
        return value

    @field_validator("daily")
    @classmethod
    def _daily(cls, value: str | None) -> str | None:
        if value is not None:
            parse_clock(value)
        return value

    @field_validator("weekly")
    @classmethod
    def _weekly(cls, value: str | None) -> str | None:
        if value is not None:
            match = _WEEKLY.match(value)
            if not match:
                raise ValueError(f'{value!r} is not a weekly time (use e.g. "mon 08:00")')
            parse_clock(match.group(2))
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)

    @model_validator(mode="after")
    def _exactly_one(self) -> DigestSchedule:
        given = [name for name in ("every", "daily", "weekly") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("a digest schedule needs exactly one of every, daily or weekly")
        return self

    def weekly_parts(self) -> tuple[int, time]:
        """(weekday 0 = Monday, time of day) of a weekly schedule."""
        assert self.weekly is not None
        match = _WEEKLY.match(self.weekly)
        assert match is not None
        return WEEKDAYS.index(match.group(1)[:3].lower()), parse_clock(match.group(2))


DEFAULT_DIGEST = DigestSchedule(daily="08:00")
OVERFLOW_DIGEST = DigestSchedule(every=3600.0)


class VolumeOptions(_Options):
    """The volume knob, for a channel or a topic (both apply)."""

    min_score: float | None = Field(
        None, ge=0.0, le=1.0, description="matches scoring below it are not sent (neither alert nor digest)"
    )
    max_per_hour: int | None = Field(
        None, ge=1, description="instant alerts per clock hour; the rest go to the next digest"
    )
    quiet_hours: str | None = Field(
        None, description='"22:00-07:00": instant alerts are held until the end of the period'
    )
    template: TemplateConfig | None = None

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str | None) -> str | None:
        if value is not None:
            parse_quiet_hours(value)
        return value

    @property
    def quiet_period(self) -> tuple[time, time] | None:
        return None if self.quiet_hours is None else parse_quiet_hours(self.quiet_hours)


class ChannelAlerting(VolumeOptions):
    """How one channel receives alerts (fields of ``channels[]``)."""

    mode: Literal["instant", "digest", "both"] = Field(
        "instant", description="instant alerts, a digest on a schedule, or both"
    )
    stories: Literal["per-story", "every-article"] = Field(
        "per-story",
        description="per-story: one instant alert per story and topic; every-article: one per article",
    )
    follow_up_outlets: int | None = Field(
        None, ge=2, description="one follow-up alert when a story reaches this many outlets"
    )
    digest: DigestSchedule | None = Field(
        None, description='default: daily "08:00" for digest/both; every 1h for held-back alerts of instant'
    )
    timezone: str = Field("UTC", description="IANA time zone of quiet_hours and the digest schedule")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_timezone(value)

    @property
    def digest_schedule(self) -> DigestSchedule:
        """The schedule in force: the configured one, else the default of the mode."""
        if self.digest is not None:
            return self.digest
        return OVERFLOW_DIGEST if self.mode == "instant" else DEFAULT_DIGEST

    @property
    def digest_timezone(self) -> str:
        return self.digest_schedule.timezone or self.timezone

    @property
    def sends_instant(self) -> bool:
        return self.mode in ("instant", "both")


class TopicAlerting(VolumeOptions):
    """The volume knob and template of one topic, on every channel it sends to."""


class StorySettings(_Options):
    """How articles are grouped into stories (``stories:``)."""

    window: Duration = Field(
        72 * 3600.0, description="an article joins a story whose first article is at most this far apart"
    )
    similarity: float = Field(
        0.89,
        ge=0.5,
        le=1.0,
        description="cosine similarity (multilingual embedding) an article needs with most of a story",
    )
