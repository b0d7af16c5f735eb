"""The rig of the queue, worker and storage fault cases (reliability.md Part 3 C).

One ``Rig`` is one disposable deployment on loopback, all started by the test
and ended by PID:

* a fresh schema on the given PostgreSQL database (drop, then ``upgrade``);
* a throwaway ``redis-server`` on a free port (never the machine's Redis),
  with or without AOF;
* a scriptable feed server, a webhook receiver (``/alerts`` for the topic
  channel, ``/ops`` for operator notices) and optionally an SMTP server;
* Celery workers and beats as real subprocesses (``tests.support.processes``)
  running the production app (``workers``) on a config written here.

``account()`` compares what the provider received with what the database
says must be delivered: every lost alert and every duplicate is counted, and a
duplicate is *documented* only when the sender logged, with its dedupe key,
that it re-sent a delivery whose earlier claim expired (the ambiguous send of
reliability.md 2.4). Anything else is an undocumented duplicate.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil
import redis
import yaml
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.storage import (
    Article,
    Delivery,
    Feed,
    Match,
    Notice,
    create_db_engine,
    make_session_factory,
    utcnow,
)
from monitor.storage.story_models import Digest
from tests.support.databases import migrated_schema
from tests.support.feed_server import FeedServer
from tests.support.feedgen import Item, rss
from tests.support.processes import RedisServer, children_of, start_beat, start_worker, stop, wait_until
from tests.support.smtp_server import SmtpServer
from tests.support.webhook_receiver import WebhookReceiver

RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
AMBIGUOUS_LINE = re.compile(r"delivery \d+ (\S+): its claim expired at \S+ without an outcome")
DIGEST_AMBIGUOUS_LINE = re.compile(
    r"digest \d+ (\S+): its claim expired at \S+ without an outcome .*? resuming at part (\d+) of"
)
DIGEST_PART_LINE = re.compile(r"^Digest part (\d+) of \d+")
LINK_LINE = re.compile(r"Link: (\S+)")

# Test timings: every task's hard limit is 7 s, the Redis visibility timeout
# is 15 s (>= 2 x 7 s, as the config requires); beat ticks every second.
WORKERS: dict[str, Any] = {
    "beat_tick": 1,
    "sweep_interval": 2,
    "poll_time_limit": 7,
    "classify_time_limit": 7,
    "deliver_time_limit": 7,
    "learn_time_limit": 7,  # the topics are keyword rules: nothing to learn
    "visibility_timeout": 15,
}
ALERTS: dict[str, Any] = {
    "backoff_base": 1,
    "backoff_max": 2,
    "send_timeout": 5,
    "lease": 8,
    "operator_channel": "ops",
}


def story(feed: str, n: int) -> Item:
    """An item the ``strikes`` topic matches."""
    return Item(
        f"{feed}-{n}",
        f"Workers at {feed} vote to strike ({n})",
        "The union called the strike after talks failed.",
        f"https://news.example/{feed}/{n}",
    )


def calm(feed: str, n: int) -> Item:
    """An item no topic matches."""
    return Item(
        f"{feed}-{n}",
        f"Sunny weekend ahead ({feed} {n})",
        "Mild weather.",
        f"https://news.example/{feed}/w{n}",
    )


def feed_doc(feed: str, items: Sequence[Item]) -> bytes:
    return rss(items, title=f"Feed {feed}", language="en")


@dataclass
class FaultResult:
    """What one fault did to the alerts: the figures of bench/faults.py."""

    case: str
    injected: str
    expected: int = 0  # alerts the provider must receive
    delivered: int = 0  # distinct expected alerts it received
    lost: int = 0
    duplicated: int = 0  # extra receipts with no logged ambiguous send
    ambiguous: int = 0  # extra receipts of the documented ambiguous send, logged with the dedupe key
    metrics: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        extra = ", ".join(f"{k}={_fmt(v)}" for k, v in self.metrics.items())
        return (
            f"{self.case}: injected: {self.injected}\n"
            f"    alerts expected {self.expected}, delivered {self.delivered}, lost {self.lost}, "
            f"duplicated {self.duplicated}, documented ambiguous duplicates {self.ambiguous}\n"
            f"    {extra}"
        )


def _fmt(value: Any) -> str:
    return f"{value:.1f}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class DeliveryRow:
    id: int
    dedupe_key: str
    channel: str
    state: str
    attempts: int
    link: str | None


class Rig:
    def __init__(self, workdir: Path, db_url: str, *, appendonly: bool = False, smtp: bool = False) -> None:
        self.workdir = workdir
        self.db_url = db_url
        (workdir / "redis").mkdir(parents=True, exist_ok=True)
        self.redis = RedisServer(workdir / "redis", appendonly=appendonly)
        self.feeds = FeedServer()
        self.hook = WebhookReceiver()
        self.smtp = SmtpServer() if smtp else None
        self.queue = f"faults-{uuid.uuid4().hex[:8]}"
        self.config = workdir / "monitor.yaml"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []
        self._factory: sessionmaker[Session] | None = None
        self._engine: Any = None

    # --- lifecycle -------------------------------------------------------------

    def __enter__(self) -> Rig:
        migrated_schema(self.db_url)
        self._engine = create_db_engine(self.db_url)
        self._factory = make_session_factory(self._engine)
        self.redis.start()
        self.feeds.start()
        self.hook.start()
        if self.smtp is not None:
            self.smtp.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for proc in reversed(self.procs):
            stop(proc)
        self.redis.kill()
        self.feeds.stop()
        self.hook.stop()
        if self.smtp is not None:
            self.smtp.stop()
        if self._engine is not None:
            self._engine.dispose()

    @property
    def factory(self) -> sessionmaker[Session]:
        assert self._factory is not None, "use the rig as a context manager"
        return self._factory

    # --- config and processes ----------------------------------------------------

    def write_config(
        self,
        feeds: Sequence[tuple[str, str, float | None]],
        *,
        channels: Sequence[str] = ("hook",),
        workers: dict[str, Any] | None = None,
        alerts: dict[str, Any] | None = None,
        fetch: dict[str, Any] | None = None,
        extra_hosts: Sequence[str] = (),
    ) -> Path:
        """``feeds``: (name, url, interval seconds or None for poll_interval)."""
        # The fault contract counts one alert per match and channel: every
        # article alerts (the per-story gate is tested on its own).
        config_channels: list[dict[str, Any]] = [
            {"name": "hook", "url": self.hook.apprise_url("/alerts"), "stories": "every-article"},
            {"name": "ops", "url": self.hook.apprise_url("/ops")},
        ]
        if self.smtp is not None:
            config_channels.append(
                {
                    "name": "mail",
                    "url": self.smtp.apprise_url(to="desk@example.org"),
                    "stories": "every-article",
                }
            )
        data: dict[str, Any] = {
            "database_url": self.db_url,
            "broker_url": self.redis.url,
            "poll_interval": 60,
            "fetch": {"timeout": 20, "allow_hosts": [self.feeds.netloc, *extra_hosts], **(fetch or {})},
            "alerts": {**ALERTS, **(alerts or {})},
            "workers": {"queue": self.queue, **WORKERS, **(workers or {})},
            "feeds": [
                {"url": url, "name": name, "language": "en", **({"interval": interval} if interval else {})}
                for name, url, interval in feeds
            ],
            "channels": config_channels,
            "topics": [
                {
                    "id": "strikes",
                    "name": "Strikes",
                    "model": "rules",
                    "rules": {"any": ["strike"]},
                    "channels": list(channels),
                }
            ],
        }
        self.config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return self.config

    def start_worker(self, name: str = "w1", *, concurrency: int = 1) -> subprocess.Popen[bytes]:
        log = self.workdir / f"worker-{name}.log"
        proc = start_worker(
            self.config,
            log,
            concurrency=concurrency,
            name=f"{name}-{self.queue}",
            extra_env={"MONITOR_ALERT_REQUEST_INTERVAL": "0"},
        )
        self.procs.append(proc)
        self.logs.append(log)
        wait_until(lambda: " ready." in log.read_text(errors="replace"), 40, what=f"worker {name} ready")
        return proc

    def start_beat(self, name: str = "b1") -> subprocess.Popen[bytes]:
        log = self.workdir / f"beat-{name}.log"
        proc = start_beat(self.config, log, self.workdir / f"beat-{name}-schedule")
        self.procs.append(proc)
        self.logs.append(log)
        return proc

    def kill_worker(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL a worker we started: its main process and pool children."""
        stop(proc, signal.SIGKILL)

    def busy_child(self, worker: subprocess.Popen[bytes], port: int) -> int | None:
        """The pool child of ``worker`` holding a TCP connection to ``port``."""
        for pid in children_of(worker.pid):
            try:
                connections = psutil.Process(pid).net_connections(kind="tcp")
            except psutil.Error:
                continue
            if any(
                c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED for c in connections
            ):
                return pid
        return None

    def kill_busy_child(self, worker: subprocess.Popen[bytes], port: int, timeout: float = 20.0) -> int:
        """Wait for a pool child talking to ``port``, then ``kill -9`` it."""
        found: list[int] = []

        def busy() -> bool:
            pid = self.busy_child(worker, port)
            if pid is not None:
                found.append(pid)
            return pid is not None

        wait_until(busy, timeout, interval=0.05, what=f"a pool child connected to port {port}")
        os.kill(found[-1], signal.SIGKILL)
        return found[-1]

    def log_text(self) -> str:
        return "\n".join(log.read_text(errors="replace") for log in self.logs if log.exists())

    def log_marks(self) -> dict[Path, int]:
        """Where each log ends now, for ``log_since``."""
        return {log: log.stat().st_size if log.exists() else 0 for log in self.logs}

    def log_since(self, marks: dict[Path, int]) -> str:
        parts = []
        for log in self.logs:
            if log.exists():
                with log.open("rb") as handle:
                    handle.seek(marks.get(log, 0))
                    parts.append(handle.read().decode(errors="replace"))
        return "\n".join(parts)

    def log_count(self, needle: str) -> int:
        return self.log_text().count(needle)

    def queue_length(self) -> int:
        client = redis.Redis.from_url(self.redis.url, socket_timeout=2)
        try:
            return int(client.llen(self.queue))
        finally:
            client.close()

    # --- database --------------------------------------------------------------------

    def deliveries(self, channel: str = "hook") -> list[DeliveryRow]:
        with self.factory() as session:
            rows = session.execute(
                select(Delivery, Article.link)
                .join(Match, Delivery.match_id == Match.id)
                .join(Article, Match.article_id == Article.id)
                .where(Delivery.channel == channel)
                .order_by(Delivery.id)
            ).all()
            return [DeliveryRow(d.id, d.dedupe_key, d.channel, d.state, d.attempts, link) for d, link in rows]

    def counts(self) -> dict[str, int]:
        with self.factory() as session:
            return {
                name: len(session.scalars(select(model.id)).all())
                for name, model in (("articles", Article), ("matches", Match), ("deliveries", Delivery))
            }

    def feed(self, url: str) -> Feed:
        found = self.find_feed(url)
        assert found is not None, f"no feed row for {url} yet"
        return found

    def find_feed(self, url: str) -> Feed | None:
        with self.factory() as session:
            feed = session.scalars(select(Feed).where(Feed.url == url)).one_or_none()
            if feed is not None:
                session.expunge(feed)
            return feed

    def notices(self) -> list[Notice]:
        with self.factory() as session:
            rows = list(session.scalars(select(Notice).order_by(Notice.id)))
            for row in rows:
                session.expunge(row)
            return rows

    def make_due(self, url: str) -> None:
        with self.factory.begin() as session:
            session.execute(update(Feed).where(Feed.url == url).values(next_check_at=utcnow()))

    def all_sent(self, count: int, channel: str = "hook") -> bool:
        rows = self.deliveries(channel)
        return len(rows) >= count and all(row.state == "sent" for row in rows)

    # --- the provider's side ---------------------------------------------------------------

    def receipts(self, channel: str = "hook") -> Counter[str]:
        """Alerts the provider accepted, by article link."""
        found: Counter[str] = Counter()
        if channel == "hook":
            for request in self.hook.delivered:
                if request.path.split("?")[0] == "/alerts" and isinstance(request.json, dict):
                    match = LINK_LINE.search(str(request.json.get("message", "")))
                    found[match.group(1) if match else "?"] += 1
        elif channel == "mail":
            assert self.smtp is not None
            for message in self.smtp.messages:
                body = message.get_body(preferencelist=("plain", "html"))
                content = body.get_content() if body is not None else ""
                match = LINK_LINE.search(str(content))
                found[match.group(1) if match else "?"] += 1
        return found

    def digest_rows(self) -> list[Digest]:
        with self.factory() as session:
            rows = list(session.scalars(select(Digest).order_by(Digest.id)))
            for row in rows:
                session.expunge(row)
            return rows

    def digest_receipts(self) -> Counter[int]:
        """Digest parts the provider accepted, by part number."""
        found: Counter[int] = Counter()
        for request in self.hook.delivered:
            if request.path.split("?")[0] == "/alerts" and isinstance(request.json, dict):
                match = DIGEST_PART_LINE.match(str(request.json.get("message", "")))
                if match:
                    found[int(match.group(1))] += 1
        return found

    def account_digest(self, result: FaultResult, parts: int) -> FaultResult:
        """Lost and duplicated digest parts; a duplicate is documented only
        for the part the sender logged as resumed after an expired claim."""
        got = self.digest_receipts()
        resumed = {int(part) for _, part in DIGEST_AMBIGUOUS_LINE.findall(self.log_text())}
        (row,) = self.digest_rows()
        result.expected = parts
        result.delivered = sum(1 for part in range(1, parts + 1) if got[part] > 0)
        result.lost = sum(1 for part in range(1, parts + 1) if got[part] == 0) + (
            0 if row.state == "sent" else parts
        )
        for part, n in got.items():
            extra = n - 1
            if extra > 0 and part in resumed:
                result.ambiguous += 1
                extra -= 1
            result.duplicated += max(0, extra) + (n if part > parts else 0)
        result.metrics.setdefault("digest_state", row.state)
        result.metrics.setdefault("parts_sent", row.parts_sent)
        result.metrics.setdefault("digest_attempts", row.attempts)
        return result

    def ops_receipts(self) -> list[str]:
        return [
            str(request.json.get("message", ""))
            for request in self.hook.delivered
            if request.path.split("?")[0] == "/ops" and isinstance(request.json, dict)
        ]

    def account(self, result: FaultResult, expected_links: set[str], channel: str = "hook") -> FaultResult:
        """Fill ``result`` with lost and duplicated alerts, as the provider and the DB see them."""
        rows = self.deliveries(channel)
        got = self.receipts(channel)
        ambiguous_keys = set(AMBIGUOUS_LINE.findall(self.log_text()))
        key_of = {row.link: row.dedupe_key for row in rows}
        sent_links = {row.link for row in rows if row.state == "sent"}
        result.expected = len(expected_links)
        result.delivered = sum(1 for link in expected_links if got[link] > 0)
        result.lost = sum(1 for link in expected_links if got[link] == 0 or link not in sent_links)
        for link, n in got.items():
            if link not in expected_links:
                result.duplicated += n  # an alert nobody expected is as bad as a duplicate
                continue
            extra = n - 1
            if extra > 0 and key_of.get(link) in ambiguous_keys:
                documented = min(extra, 1)  # at most one per ambiguous send
                result.ambiguous += documented
                extra -= documented
            result.duplicated += max(0, extra)
        counts = self.counts()
        result.metrics.setdefault("db_matches", counts["matches"])
        result.metrics.setdefault("db_deliveries", counts["deliveries"])
        return result


def measure(start: float) -> float:
    return round(time.monotonic() - start, 1)
