"""Configuration: one YAML file, validated at load.

Every error names the file, the line and the field (``monitor.yaml:14:
feeds[2].url: ...``), because a person fixes a config by going to a line.
Secrets stay out of the file: ``${ENV_VAR}`` in a channel URL (or the
database/broker URL) is replaced from the environment at load, and a missing
variable is an error naming its line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.urls import without_userinfo

DEFAULT_CONFIG_FILE = "monitor.yaml"
DEFAULT_DATABASE_URL = "sqlite:///var/monitor.sqlite3"
CONFIG_ENV = "MONITOR_CONFIG"
DATABASE_URL_ENV = "MONITOR_DATABASE_URL"
BROKER_URL_ENV = "MONITOR_BROKER_URL"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TOPIC_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class ConfigError(Exception):
    """A configuration that cannot be used; ``problems`` are ``file:line: field: message``."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(problems))


def parse_duration(value: Any) -> float:
    """Seconds from ``90``, ``"90s"``, ``"15m"``, ``"2h"`` or ``"7d"``."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 90s, 15m, 2h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration (use a number with s, m, h or d)")
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FetchSettings(_Strict):
    """How feeds are fetched. Defaults follow Miniflux's, which users trust."""

    timeout: float = Field(20.0, description="total deadline of one fetch, seconds")
    max_bytes: int = Field(15 * 1024 * 1024, gt=0, description="cap on decoded body bytes")
    max_redirects: int = Field(10, ge=0, le=20)
    user_agent: str = "news-monitor/0.1 (+https://github.com/news-monitor)"
    allow_private_networks: bool = False
    # host or host:port entries that may be private (a local feed server).
    allow_hosts: tuple[str, ...] = ()
    max_backoff: float = Field(6 * 3600.0, description="longest wait after errors, seconds")
    silent_after: float = Field(7 * 86400.0, description="flag a feed with no new item for this long")

    @field_validator("timeout", "max_backoff", "silent_after", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)


class FeedConfig(_Strict):
    # Lengths are the storage columns': PostgreSQL enforces them, SQLite not.
    url: str = Field(max_length=2048)
    name: str | None = Field(None, min_length=1, max_length=300)
    interval: float | None = Field(None, ge=1, description="seconds between polls; default: poll_interval")
    language: str | None = Field(None, description="ISO 639-1 code when the feed is known monolingual")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        # The fetcher enforces this again at fetch time; refusing here gives
        # the error at the line that caused it.
        from urllib.parse import urlsplit

        if "\\" in value:
            raise ValueError("unsupported URL: a backslash is not allowed in a feed URL")
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"unsupported URL {value!r}: feeds must be http:// or https:// URLs")
        return value.strip()

    @field_validator("interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float | None:
        return None if value is None else parse_duration(value)

    @field_validator("language")
    @classmethod
    def _lang(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-z]{2,3}", value):
            raise ValueError("language must be a lower-case ISO 639 code such as en or fr")
        return value

    @property
    def display_name(self) -> str:
        """The name, else the URL without credentials, cut to the name column."""
        if self.name:
            return self.name
        shown = without_userinfo(self.url)
        return shown if len(shown) <= 300 else shown[:299] + "…"


TARGET_SEPARATOR = "#"


class ChannelConfig(_Strict):
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


class TopicConfig(_Strict):
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
        description="articles about the topic, as saved from the web: files or folders of .txt, .md, "
        ".html (relative to this file); `monitor learn` learns the topic from them",
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
    backoff_base: float = Field(30.0, description="first retry delay, seconds; doubles each time")
    backoff_max: float = Field(3600.0)
    send_timeout: float = Field(30.0, description="bound on one Apprise notify call, seconds")
    lease: float = Field(300.0, description="how long a claimed delivery stays claimed, seconds")
    operator_channel: str | None = Field(
        None, description="channel that receives operator notices (dead deliveries, gone feeds)"
    )

    @field_validator("backoff_base", "backoff_max", "send_timeout", "lease", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)


class WorkerSettings(_Strict):
    """Celery settings (distributed mode). Every task has a soft and a hard
    time limit; the Redis visibility timeout must be at least twice the
    longest hard limit, or a slow task is handed to a second worker while the
    first still runs it (checked at load)."""

    queue: str = Field("monitor", description="the Celery queue the tasks go through")
    beat_tick: float = Field(15.0, description="how often beat looks for due feeds, seconds")
    sweep_interval: float = Field(30.0, description="how often beat re-drives lost work, seconds")
    poll_time_limit: float = Field(120.0, description="hard limit of one poll task, seconds")
    classify_time_limit: float = Field(300.0)
    deliver_time_limit: float = Field(180.0)
    visibility_timeout: float = Field(900.0)
    # kombu re-queues the unacked messages of a dead worker only this often
    # (x throttle); its defaults make that up to ~100 s after the visibility
    # timeout. The per-feed lease re-drives polls sooner either way.
    unacked_restore_interval: float = Field(10.0)
    unacked_restore_throttle: float = Field(1.0, ge=0)
    max_memory_per_child: int = Field(512_000, description="KiB; a worker child above it is replaced")

    @field_validator(
        "beat_tick",
        "sweep_interval",
        "poll_time_limit",
        "classify_time_limit",
        "deliver_time_limit",
        "visibility_timeout",
        mode="before",
    )
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)

    # The soft limit fires first (a fraction of the hard one), so a task can
    # record its state before the hard limit kills it.
    soft_limit_fraction: float = Field(0.8, gt=0, lt=1)

    def soft_limit(self, hard: float) -> float:
        return hard * self.soft_limit_fraction

    def work_budget(self, hard: float) -> float:
        """Seconds a task may spend starting new work: its soft limit less a
        margin to record the last outcome (a tenth, at most 5 s)."""
        soft = self.soft_limit(hard)
        return soft - min(5.0, 0.1 * soft)

    @property
    def tick_time_limit(self) -> float:
        """The beat tick only queues polls: it needs less than a poll."""
        return min(60.0, self.poll_time_limit)

    @property
    def longest_time_limit(self) -> float:
        return max(self.poll_time_limit, self.classify_time_limit, self.deliver_time_limit)

    @model_validator(mode="after")
    def _visibility(self) -> WorkerSettings:
        if self.visibility_timeout < 2 * self.longest_time_limit:
            raise ValueError(
                f"visibility_timeout ({self.visibility_timeout:g}s) must be at least twice the "
                f"longest task time limit ({self.longest_time_limit:g}s)"
            )
        return self


class CuratedSettings(_Strict):
    """Hand-written additions to what `monitor learn` finds (optional; ours,
    for the three shipped topics): vocabulary groups and gates, and short
    examples. `monitor learn --no-lexicon` leaves them out."""

    lexicon: str | None = Field(None, description="YAML with `groups` and per-topic `gate`/`evidence`")
    examples: str | None = Field(None, description="YAML with `examples`: short texts and their topics")


class Settings(_Strict):
    database_url: str = DEFAULT_DATABASE_URL
    broker_url: str | None = None
    poll_interval: float = Field(60.0, ge=1, description="default seconds between polls of a feed")
    model_path: str | None = Field(
        None, description="topic model artifact; default: the one shipped in seeds/"
    )
    fetch: FetchSettings = FetchSettings()
    alerts: AlertSettings = AlertSettings()
    workers: WorkerSettings = WorkerSettings()
    feeds: tuple[FeedConfig, ...] = ()
    channels: tuple[ChannelConfig, ...] = ()
    topics: tuple[TopicConfig, ...] = ()
    curated: CuratedSettings | None = None
    # Where the file was read from: paths in it are relative to its folder.
    _config_path: Path | None = PrivateAttr(None)
    _lines: dict[tuple[Any, ...], int] = PrivateAttr(default_factory=dict)

    def resolve_path(self, value: str) -> Path:
        """A path written in the config, relative to the config file's folder."""
        path = Path(value).expanduser()
        if path.is_absolute() or self._config_path is None:
            return path
        return self._config_path.parent / path

    def where(self, *at: str | int) -> str:
        """``file:line: field`` of a config entry, for errors found after load."""
        path = str(self._config_path) if self._config_path else "<config>"
        line = _line_for(tuple(at), self._lines)
        return f"{path}:{line}: {_field_path(tuple(at))}"

    @field_validator("poll_interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)

    @model_validator(mode="after")
    def _references(self) -> Settings:
        problems: list[str] = []
        seen_urls: set[str] = set()
        for feed in self.feeds:
            if feed.url in seen_urls:
                problems.append(f"feed {feed.url!r} is listed twice")
            seen_urls.add(feed.url)
        channel_names = [c.name for c in self.channels]
        for name in {n for n in channel_names if channel_names.count(n) > 1}:
            problems.append(f"channel {name!r} is defined twice")
        topic_ids = [t.id for t in self.topics]
        for topic_id in {t for t in topic_ids if topic_ids.count(t) > 1}:
            problems.append(f"topic {topic_id!r} is defined twice")
        for topic in self.topics:
            for channel in topic.channels:
                if channel not in channel_names:
                    problems.append(f"topic {topic.id!r} sends to channel {channel!r}, which is not defined")
        deliver_budget = self.workers.work_budget(self.workers.deliver_time_limit)
        if deliver_budget <= self.alerts.send_timeout:
            problems.append(
                f"workers.deliver_time_limit ({self.workers.deliver_time_limit:g}s) leaves "
                f"{deliver_budget:.1f}s before its soft limit, not enough for one send "
                f"(alerts.send_timeout {self.alerts.send_timeout:g}s)"
            )
        if self.alerts.operator_channel and self.alerts.operator_channel not in channel_names:
            problems.append(f"operator_channel {self.alerts.operator_channel!r} is not defined")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # Convenience lookups used across stages.
    def feed_interval(self, feed: FeedConfig) -> timedelta:
        return timedelta(seconds=feed.interval or self.poll_interval)

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
        return ChannelConfig(name=channel.name, urls=(channel.urls[position - 1],))

    def topic(self, topic_id: str) -> TopicConfig:
        for topic in self.topics:
            if topic.id == topic_id:
                return topic
        raise KeyError(topic_id)

    @property
    def embedded(self) -> bool:
        """True when no broker is configured: one process does everything."""
        return self.broker_url is None


# --- loading -----------------------------------------------------------------


@dataclass
class _Located:
    """YAML data with the line of every node, keyed by its path."""

    data: Any
    lines: dict[tuple[str | int, ...], int] = field(default_factory=dict)


def _compose(text: str, path: str) -> _Located:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"{mark.line + 1}" if mark is not None else "?"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(path, [f"{path}:{line}: not valid YAML: {problem}"]) from None
    located = _Located(data=None)
    if node is None:
        located.data = {}
        return located
    try:
        located.data = _build(node, (), located.lines)
    except (yaml.YAMLError, TypeError, ValueError, RecursionError) as exc:
        # Valid YAML that is no config: a list as a key, a self-referencing
        # alias, a tag SafeLoader refuses.
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = f"{mark.line + 1}" if mark is not None else "?"
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(path, [f"{path}:{line}: not a usable config: {problem}"]) from None
    return located


def _build(node: yaml.Node, at: tuple[str | int, ...], lines: dict[Any, int]) -> Any:
    lines[at] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader(" ").construct_object(key_node)  # plain scalar keys
            lines[(*at, key)] = key_node.start_mark.line + 1
            result[key] = _build(value_node, (*at, key), lines)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(child, (*at, index), lines) for index, child in enumerate(node.value)]
    return yaml.SafeLoader(" ").construct_object(node)


def _line_for(loc: tuple[str | int, ...], lines: Mapping[tuple[Any, ...], int]) -> int | None:
    # The deepest located prefix of the error's path: a missing field points
    # at its parent mapping, an extra one at its own key.
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return None


def _field_path(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _interpolate(
    value: Any, at: tuple[Any, ...], lines: Mapping[Any, int], path: str, problems: list[str]
) -> Any:
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if not os.environ.get(name):
                # Empty counts as unset: compose's ${VAR:-} defines a missing
                # secret as empty, which would otherwise fail only at send time.
                line = _line_for(at, lines)
                problems.append(f"{path}:{line}: {_field_path(at)}: environment variable {name} is not set")
                return ""
            return os.environ[name]

        return _ENV_REF.sub(substitute, value)
    if isinstance(value, list):
        return [_interpolate(v, (*at, i), lines, path, problems) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _interpolate(v, (*at, k), lines, path, problems) for k, v in value.items()}
    return value


def resolve_config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--config``, else ``$MONITOR_CONFIG``, else ``./monitor.yaml``."""
    return Path(explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_FILE)


def load_config_text(text: str, path: str = "<config>") -> Settings:
    located = _compose(text, path)
    if not isinstance(located.data, dict):
        raise ConfigError(path, [f"{path}:1: the file must be a mapping of settings"])
    problems: list[str] = []
    data = _interpolate(located.data, (), located.lines, path, problems)
    # The environment overrides the file for the two server URLs, as a
    # container deployment expects (see docker-compose.yml).
    if os.environ.get(DATABASE_URL_ENV):
        data["database_url"] = os.environ[DATABASE_URL_ENV]
    if os.environ.get(BROKER_URL_ENV):
        data["broker_url"] = os.environ[BROKER_URL_ENV]
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            line = _line_for(loc, located.lines)
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown field (check its spelling)"
            problems.append(f"{path}:{line}: {_field_path(loc)}: {message}")
        raise ConfigError(path, problems) from None
    if problems:
        raise ConfigError(path, problems)
    settings._config_path = Path(path) if not path.startswith("<") else None
    settings._lines = located.lines
    return settings


def load_config(path: str | os.PathLike[str] | None = None) -> Settings:
    config_path = resolve_config_path(path)
    try:
        text = config_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(config_path), [f"{config_path}: no such config file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(config_path), [f"{config_path}: cannot read: {exc}"]) from None
    return load_config_text(text, str(config_path))
