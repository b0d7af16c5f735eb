"""The config's schema: what ``monitor.yaml`` may say, validated by pydantic.

``monitor.config.loader`` reads the file and maps every error to its line;
``monitor config schema`` prints this schema as JSON Schema for editors.
Every duration takes a number of seconds or ``90s``, ``15m``, ``2h``, ``7d``
(:data:`Duration`). A problem across fields (a reference to an undefined
channel) is raised as :class:`ReferenceProblems`, which says where each one
is, so that the loader can name its line too.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from monitor.config.alerting import ChannelAlerting, StorySettings, TopicAlerting

# Field types and the web section live in their own modules; the names
# below are re-exported because callers import them from here.
from monitor.config.fields import DURATION_PATTERN as DURATION_PATTERN
from monitor.config.fields import Duration as Duration
from monitor.config.fields import Location, PollInterval
from monitor.config.fields import ReferenceProblems as ReferenceProblems
from monitor.config.fields import Strict as _Strict
from monitor.config.fields import parse_duration as parse_duration
from monitor.config.operations import FeedOptions, FullTextSettings, PollingSettings, RetentionSettings
from monitor.config.web import WebSettings as WebSettings
from monitor.config.web import token_problem as token_problem
from monitor.config.workers import WorkerSettings as WorkerSettings
from monitor.urls import redact_url

DEFAULT_DATABASE_URL = "sqlite:///var/monitor.sqlite3"

_TOPIC_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class FetchSettings(_Strict):
    """How feeds are fetched. Defaults follow Miniflux's, which users trust."""

    timeout: Duration = Field(20.0, description="total deadline of one fetch")
    max_bytes: int = Field(15 * 1024 * 1024, gt=0, description="cap on decoded body bytes")
    max_redirects: int = Field(10, ge=0, le=20)
    user_agent: str = "news-monitor/0.1 (+https://github.com/news-monitor)"
    allow_private_networks: bool = False
    # host or host:port entries that may be private (a local feed server).
    allow_hosts: tuple[str, ...] = ()
    max_backoff: Duration = Field(6 * 3600.0, description="longest wait after errors")
    silent_after: Duration = Field(7 * 86400.0, description="flag a feed with no new item for this long")
    failure_notice_after: int = Field(
        5, ge=1, description="failed polls in a row that send an operator notice"
    )


class FeedConfig(FeedOptions):
    # Lengths are the storage columns': PostgreSQL enforces them, SQLite not.
    url: str = Field(max_length=2048)
    name: str | None = Field(None, min_length=1, max_length=300)
    interval: PollInterval | None = Field(
        None, description="a fixed time between polls of this feed; default: polling.schedule"
    )
    language: str | None = Field(None, description="ISO 639-1 code when the feed is known monolingual")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        # The fetcher enforces this again at fetch time; refusing here gives
        # the error at the line that caused it.
        if "\\" in value:
            raise ValueError("unsupported URL: a backslash is not allowed in a feed URL")
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"unsupported URL {value!r}: feeds must be http:// or https:// URLs")
        return value.strip()

    @field_validator("language")
    @classmethod
    def _lang(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-z]{2,3}", value):
            raise ValueError("language must be a lower-case ISO 639 code such as en or fr")
        return value

    @property
    def display_name(self) -> str:
        """The name, else the URL as shown to people (no credentials, cut to
        the name column)."""
        return self.name or redact_url(self.url)


TARGET_SEPARATOR = "#"


def _url_shorthand_in_schema(schema: dict[str, Any]) -> None:
    """Editors must accept ``url: x`` as well as ``urls: [x]``."""
    schema["properties"]["url"] = {"type": "string", "description": "shorthand for urls: [url]"}
    schema["required"] = [name for name in schema.get("required", []) if name != "urls"]
    schema["oneOf"] = [{"required": ["urls"]}, {"required": ["url"]}]


class ChannelConfig(ChannelAlerting):
    model_config = ConfigDict(json_schema_extra=_url_shorthand_in_schema)

    name: str = Field(min_length=1, max_length=100)
    urls: tuple[str, ...] = Field(min_length=1, description="Apprise URLs")
    # Untrusted feed text is never sent as markdown/HTML; see monitor.alerting.

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if TARGET_SEPARATOR in value:
            raise ValueError(f"a channel name cannot contain {TARGET_SEPARATOR!r}")
        return value

    @property
    def targets(self) -> tuple[str, ...]:
        """The outbox keys of this channel: one per URL.

        Each URL is its own delivery, so that when one URL of a channel fails
        and another succeeds, the retry goes only to the one that failed
        (Apprise reports such a send as PARTIAL): a per-channel delivery would
        send the alert again to the URLs that already have it. A channel with
        one URL keeps its plain name as its key.
        """
        if len(self.urls) == 1:
            return (self.name,)
        return tuple(f"{self.name}{TARGET_SEPARATOR}{i}" for i in range(1, len(self.urls) + 1))

    @model_validator(mode="before")
    @classmethod
    def _url_alias(cls, data: Any) -> Any:
        # ``url: x`` is accepted as a shorthand for ``urls: [x]``.
        if isinstance(data, dict) and "url" in data and "urls" not in data:
            data = dict(data)
            data["urls"] = [data.pop("url")]
        return data


class KeywordRules(_Strict):
    """Keyword rules of a topic (case- and accent-insensitive, whole words).

    Alone they decide the topic; with the learned model they act as gates:
    ``any``/``all``/``phrase``/``regex`` must hold, ``exclude`` must not.
    """

    any: tuple[str, ...] = ()
    all: tuple[str, ...] = ()
    phrase: tuple[str, ...] = ()
    regex: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @field_validator("regex")
    @classmethod
    def _compiles(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"regex {pattern!r} does not compile: {exc}") from exc
        return patterns

    @property
    def empty(self) -> bool:
        return not (self.any or self.all or self.phrase or self.regex or self.exclude)


class TopicConfig(TopicAlerting):
    id: str
    name: str
    description: str = ""
    threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="score needed to match; default: learned per topic"
    )
    rules: KeywordRules = KeywordRules()
    model: Literal["learned", "rules"] = Field(
        "learned",
        description="learned: the topic model built by `monitor learn` (rules gate it); "
        "rules: keyword rules alone",
    )
    channels: tuple[str, ...] = ()
    seeds: tuple[str, ...] = Field(
        (),
        description="articles about the topic as saved from the web: files or folders of .txt, .md or "
        ".html, relative to the config file; `monitor learn` learns the topic from them",
    )
    negatives: tuple[str, ...] = Field(
        (), description="optional: articles that look close but are not the topic (files or folders)"
    )

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _TOPIC_ID.match(value):
            raise ValueError("topic id must be lower-case letters, digits, '-' or '_'")
        return value

    @model_validator(mode="after")
    def _rules_needed(self) -> TopicConfig:
        if self.model == "rules" and not (
            self.rules.any or self.rules.all or self.rules.phrase or self.rules.regex
        ):
            raise ValueError("a topic with model: rules needs at least one any/all/phrase/regex rule")
        return self


class AlertSettings(_Strict):
    max_attempts: int = Field(8, ge=1, le=100)
    backoff_base: Duration = Field(30.0, description="first retry delay; doubles each time")
    backoff_max: Duration = Field(3600.0)
    send_timeout: Duration = Field(30.0, description="bound on one Apprise notify call")
    lease: Duration = Field(300.0, description="how long a claimed delivery stays claimed")
    operator_channel: str | None = Field(
        None, description="channel that receives operator notices (dead deliveries, gone feeds)"
    )


class LearningSettings(_Strict):
    """How topics are (re-)learned. The running service re-learns by itself
    when stored feedback changed (at most every ``interval``) or when a
    topic's inputs changed (a new topic, other seeds or description)."""

    auto: bool = Field(True, description="re-learn in the running service when feedback or topics change")
    interval: Duration = Field(3600.0, description="at most one re-learn for feedback per interval")
    lexicon: str | None = Field(
        None,
        description="optional hand-written additions (ours, for the shipped topics): YAML with "
        "vocabulary `groups` and per-topic `gate`/`evidence`; `monitor learn --no-lexicon` ignores it",
    )
    examples: str | None = Field(
        None, description="optional hand-written short examples (YAML `examples`), like lexicon"
    )


class Settings(_Strict):
    database_url: str = DEFAULT_DATABASE_URL
    broker_url: str | None = None
    poll_interval: PollInterval = Field(60.0, description="default time between polls of a feed")
    model_path: str = Field(
        "var/model.json",
        description="where `monitor learn` writes the topic model (relative to this file); until it "
        "exists, the model shipped in the package is used",
    )
    fetch: FetchSettings = FetchSettings()
    alerts: AlertSettings = AlertSettings()
    workers: WorkerSettings = WorkerSettings()
    polling: PollingSettings = PollingSettings()
    retention: RetentionSettings = RetentionSettings()
    full_text: FullTextSettings = FullTextSettings()
    feeds: tuple[FeedConfig, ...] = ()
    channels: tuple[ChannelConfig, ...] = ()
    topics: tuple[TopicConfig, ...] = ()
    learning: LearningSettings = LearningSettings()
    stories: StorySettings = StorySettings()
    web: WebSettings = WebSettings()
    # The file the settings were read from: paths in it (seeds, lexicon,
    # model) are relative to its folder.
    _config_path: Path | None = PrivateAttr(None)

    def resolve_path(self, value: str) -> Path:
        """A path written in the config, relative to the config file's folder."""
        path = Path(value).expanduser()
        if path.is_absolute() or self._config_path is None:
            return path
        return self._config_path.parent / path

    @model_validator(mode="after")
    def _references(self) -> Settings:
        problems: list[tuple[Location, str]] = []
        seen_urls: set[str] = set()
        for index, feed in enumerate(self.feeds):
            if feed.url in seen_urls:
                problems.append((("feeds", index, "url"), f"feed {feed.url!r} is listed twice"))
            seen_urls.add(feed.url)
        channel_names: set[str] = set()
        for index, channel in enumerate(self.channels):
            if channel.name in channel_names:
                problems.append((("channels", index, "name"), f"channel {channel.name!r} is defined twice"))
            channel_names.add(channel.name)
        topic_ids: set[str] = set()
        for index, topic in enumerate(self.topics):
            if topic.id in topic_ids:
                problems.append((("topics", index, "id"), f"topic {topic.id!r} is defined twice"))
            topic_ids.add(topic.id)
            for position, channel_name in enumerate(topic.channels):
                if channel_name not in channel_names:
                    problems.append(
                        (
                            ("topics", index, "channels", position),
                            f"topic {topic.id!r} sends to channel {channel_name!r}, which is not defined",
                        )
                    )
        deliver_budget = self.workers.work_budget(self.workers.deliver_time_limit)
        if deliver_budget <= self.alerts.send_timeout:
            problems.append(
                (
                    ("workers", "deliver_time_limit"),
                    f"workers.deliver_time_limit ({self.workers.deliver_time_limit:g}s) leaves "
                    f"{deliver_budget:.1f}s before its soft limit, not enough for one send "
                    f"(alerts.send_timeout {self.alerts.send_timeout:g}s)",
                )
            )
        operator = self.alerts.operator_channel
        if operator and operator not in channel_names:
            problems.append((("alerts", "operator_channel"), f"operator_channel {operator!r} is not defined"))
        if problems:
            raise ReferenceProblems(problems)
        return self

    # Convenience lookups used across stages.
    @cached_property
    def _feeds_by_url(self) -> dict[str, FeedConfig]:
        return {feed.url: feed for feed in self.feeds}

    def feed(self, url: str) -> FeedConfig | None:
        """The configured feed of a URL; None when it is no longer configured."""
        return self._feeds_by_url.get(url)

    def channel(self, name: str) -> ChannelConfig:
        for channel in self.channels:
            if channel.name == name:
                return channel
        raise KeyError(name)

    def target(self, key: str) -> ChannelConfig:
        """The channel (or the one URL of it) an outbox key names; KeyError when gone."""
        name, _, index = key.partition(TARGET_SEPARATOR)
        channel = self.channel(name)
        if not index:
            return channel
        position = int(index) if index.isdigit() else 0
        if not 1 <= position <= len(channel.urls):
            raise KeyError(key)
        return channel.model_copy(update={"urls": (channel.urls[position - 1],)})

    def topic(self, topic_id: str) -> TopicConfig:
        for topic in self.topics:
            if topic.id == topic_id:
                return topic
        raise KeyError(topic_id)

    @property
    def embedded(self) -> bool:
        """True when no broker is configured: one process does everything."""
        return self.broker_url is None
