"""Soak run: 2,000 local feeds, Celery with 2 worker processes, 15 minutes.

    scripts/with-services.sh .venv/bin/python bench/soak.py [--feeds 2000] [--minutes 15]

A loopback feed server answers for 2,000 feeds spread over 12 hosts
(127.0.0.1 ... 127.0.0.12), each feed on its own rhythm, its items dated on
it (the latest 10 items, from a week of history before the run, then new
items as the run goes):

* 5 % wires (an item every 3 min), 20 % busy (20 min), 45 % normal (3 h),
  30 % slow (twice a week); 2 % of the items are on-topic dev articles
  (title and summary of a labelled article), the rest general news;
* one slow host (every answer 2 s late) and one failing host (500, 503 with
  Retry-After, connections closed without an answer, answers that hang past
  ``fetch.timeout``), 1 in 12 feeds each;
* conditional GET: an ETag per feed, 304 while no new item.

The service is the real one, laid out as docker-compose runs it: Celery
beat (tick 5 s), a prefork worker with ``--concurrency=2`` on the main queue
(classification, alerts) and a worker with a pool of 8 threads on the poll
queue (``--layout single``: one prefork worker with ``--concurrency=2`` on
both queues, as before the queues were split), Redis (``MONITOR_TEST_REDIS_URL``, a queue of its
own), a throwaway PostgreSQL database, the shipped topics and model, one
webhook channel on a loopback receiver, adaptive polling with its defaults
(min_interval 60 s, max_interval 1 h, 2 requests per host).

Every 10 s it samples: feed requests (= polls), articles stored and
classified, alerts received, the due feeds' lag (now - next check, for
active feeds whose lease is free) against their interval in force, the
workers' RSS (main processes + children) and the load average. It prints a
line per minute and, at the end, a JSON summary. "Warm-up" is until every
feed has been polled once (2,000 feeds are all due at the start); the
feeds that came due meanwhile are drained after it, so read the lag
samples (in the JSON) past the point where the due count falls back.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import psutil
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from classify import general_article  # noqa: E402
from sqlalchemy import func, or_, select  # noqa: E402

from monitor import resources  # noqa: E402
from monitor.matching.evaluate import read_records  # noqa: E402
from monitor.storage import Article, Feed, FeedStatus, create_db_engine, make_session_factory  # noqa: E402
from monitor.storage.migrate import upgrade  # noqa: E402
from tests.support.databases import throwaway_postgres  # noqa: E402
from tests.support.processes import start_beat, start_worker, stop  # noqa: E402
from tests.support.webhook_receiver import WebhookReceiver  # noqa: E402

HOSTS = 12
SLOW_HOST, FAILING_HOST = 11, 12  # 127.0.0.11 and 127.0.0.12
RHYTHMS = ((0.05, 180.0), (0.20, 1200.0), (0.45, 3 * 3600.0), (0.30, 3.5 * 86400.0))
ITEMS_PER_FEED = 10
WEEK = 7 * 86400.0


@dataclass
class SoakFeed:
    index: int
    host: int
    period: float
    phase: float
    failure: str | None = None  # "500", "503", "drop", "hang" on the failing host

    @property
    def path(self) -> str:
        return f"/f{self.index}.xml"


def make_feeds(count: int, rng: random.Random) -> list[SoakFeed]:
    feeds = []
    for index in range(count):
        draw, period = rng.random(), RHYTHMS[-1][1]
        for share, candidate in RHYTHMS:
            if draw < share:
                period = candidate
                break
            draw -= share
        host = index % HOSTS + 1
        failure = ("500", "503", "drop", "hang")[index // HOSTS % 4] if host == FAILING_HOST else None
        feeds.append(SoakFeed(index, host, period, rng.uniform(0, period), failure))
    return feeds


class FeedDocuments:
    """The items of a feed at a moment: those dated on its rhythm up to now."""

    def __init__(self, on_topic: list[tuple[str, str]], start: float) -> None:
        self.on_topic = on_topic
        self.start = start

    def latest(self, feed: SoakFeed, now: float) -> int:
        return int((now - self.start + WEEK - feed.phase) // feed.period)

    def document(self, feed: SoakFeed, now: float) -> tuple[bytes, str]:
        last = self.latest(feed, now)
        items = []
        for k in range(last, max(-1, last - ITEMS_PER_FEED), -1):
            when = self.start - WEEK + feed.phase + k * feed.period
            seed = int(hashlib.sha256(f"{feed.index}:{k}".encode()).hexdigest()[:12], 16)
            rng = random.Random(seed)
            if seed % 100 < 2:
                title, summary = self.on_topic[seed % len(self.on_topic)]
            else:
                article = general_article(rng)
                title, summary = article.title, article.summary
            stamp = format_datetime(datetime.fromtimestamp(when, UTC), usegmt=True)
            items.append(
                f"<item><guid isPermaLink='false'>soak-{feed.index}-{k}</guid><title>{escape(title)}</title>"
                f"<link>https://news{feed.host}.example/{feed.index}/{k}</link>"
                f"<description>{escape(summary)}</description><pubDate>{stamp}</pubDate></item>"
            )
        body = (
            "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
            f"<title>Soak feed {feed.index}</title><link>https://news{feed.host}.example/</link>"
            "<description>soak</description>" + "".join(items) + "</channel></rss>"
        ).encode()
        return body, f'"{feed.index}-{last}"'


@dataclass
class Counters:
    requests: int = 0
    not_modified: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def serve(feeds: list[SoakFeed], documents: FeedDocuments, counters: Counters) -> list[ThreadingHTTPServer]:
    by_path = {feed.path: feed for feed in feeds}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            with counters.lock:
                counters.requests += 1
            feed = by_path.get(self.path)
            self.close_connection = True
            if feed is None:
                self._send(404, b"", {})
                return
            if feed.host == SLOW_HOST:
                time.sleep(2)
            if feed.failure == "hang":
                time.sleep(12)
                return
            if feed.failure == "drop":
                return
            if feed.failure == "500":
                self._send(500, b"oops", {})
                return
            if feed.failure == "503":
                self._send(503, b"busy", {"Retry-After": "300"})
                return
            body, etag = documents.document(feed, time.time())
            if self.headers.get("If-None-Match") == etag:
                with counters.lock:
                    counters.not_modified += 1
                self._send(304, b"", {"ETag": etag})
                return
            self._send(200, body, {"ETag": etag, "Content-Type": "application/rss+xml; charset=utf-8"})

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Connection", "close")
                if status != 304:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status != 304:
                    self.wfile.write(body)
            except OSError:
                pass

    servers = []
    for host in range(1, HOSTS + 1):
        server = ThreadingHTTPServer((f"127.0.0.{host}", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
        servers.append(server)
    return servers


def write_config(
    path: Path, db: str, redis: str, servers: list[ThreadingHTTPServer], feeds: list[SoakFeed], hook: str
) -> str:
    """Writes the run's config; returns its Celery queue (polls: ``<queue>.poll``)."""
    queue = f"soak-{uuid.uuid4().hex[:6]}"
    ports = {host: servers[host - 1].server_address[1] for host in range(1, HOSTS + 1)}
    allow = ", ".join(f"'127.0.0.{host}:{port}'" for host, port in ports.items())
    lines = [
        f"database_url: '{db}'",
        f"broker_url: '{redis}'",
        "poll_interval: 60s",
        f"fetch: {{timeout: 5s, allow_hosts: [{allow}]}}",
        f"workers: {{queue: {queue}, beat_tick: 5s, sweep_interval: 30s}}",
        f"channels: [{{name: hook, url: '{hook}'}}]",
        "feeds:",
    ]
    lines += [
        f"  - {{url: 'http://127.0.0.{feed.host}:{ports[feed.host]}{feed.path}', name: soak {feed.index}}}"
        for feed in feeds
    ]
    topics = yaml.safe_load((resources.seeds_dir() / "topics.example.yaml").read_text(encoding="utf-8"))
    for topic in topics["topics"]:
        topic["channels"] = ["hook"]
    path.write_text("\n".join(lines) + "\n" + yaml.safe_dump(topics, allow_unicode=True), encoding="utf-8")
    return queue


def worker_rss(workers: list[psutil.Process]) -> tuple[float, int]:
    """MiB of the workers' main processes and their children, and the children's count."""
    processes: list[psutil.Process] = []
    for worker in workers:
        try:
            processes += [worker, *worker.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20, len(processes) - len(workers)


def sample(factory: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    with factory() as session:
        articles = session.scalar(select(func.count()).select_from(Article)) or 0
        classified = (
            session.scalar(
                select(func.count()).select_from(Article).where(Article.classified_at.is_not(None))
            )
            or 0
        )
        unpolled = (
            session.scalar(
                select(func.count())
                .select_from(Feed)
                .where(Feed.last_success_at.is_(None), Feed.last_error_at.is_(None))
            )
            or 0
        )
        due = session.execute(
            select(
                Feed.next_check_at, func.coalesce(Feed.schedule_seconds, Feed.interval_seconds), Feed.host
            ).where(
                Feed.status == FeedStatus.ACTIVE,
                Feed.next_check_at <= now,
                or_(Feed.lease_until.is_(None), Feed.lease_until < now),
            )
        ).all()
    lags = [((now - next_check).total_seconds(), interval) for next_check, interval, _ in due]
    worst = max(lags, default=(0.0, 1))
    # Per kind of host: a host answering 2 s late serves one feed a second at
    # polling.max_per_host = 2, whatever the workers can do.
    kinds = {f"127.0.0.{SLOW_HOST}": "slow", f"127.0.0.{FAILING_HOST}": "failing"}
    by_kind: dict[str, list[float]] = {"responsive": [], "slow": [], "failing": []}
    for (_, interval, host), (lag, _) in zip(due, lags, strict=True):
        by_kind[kinds.get(host or "", "responsive")].append(lag / interval)
    return {
        "articles": articles,
        "classified": classified,
        "unpolled": unpolled,
        "due": len(lags),
        "max_lag": round(worst[0], 1),
        "max_lag_ratio": round(max((lag / interval for lag, interval in lags), default=0.0), 3),
        "over_one_interval": sum(1 for lag, interval in lags if lag > interval),
        "max_lag_ratio_by_host": {kind: round(max(r, default=0.0), 3) for kind, r in by_kind.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--dev", type=Path, default=REPO_ROOT.parent / "shared" / "eval" / "dev.jsonl")
    parser.add_argument("--log", type=Path, help="keep the Celery log here")
    parser.add_argument(
        "--layout",
        choices=("split", "single"),
        default="split",
        help="split: a thread-pool worker on the poll queue + a prefork worker on the main queue "
        "(docker-compose); single: one prefork worker on both",
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    redis = os.environ.get("MONITOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    on_topic = [(r.title, r.summary) for r in read_records(args.dev) if r.labels]
    feeds = make_feeds(args.feeds, rng)
    counters = Counters()
    documents = FeedDocuments(on_topic, time.time())
    servers = serve(feeds, documents, counters)
    samples: list[dict[str, Any]] = []
    print(
        f"# soak: {args.feeds} feeds on {HOSTS} hosts, {args.minutes:g} min, load {os.getloadavg()[0]:.2f}",
        file=sys.stderr,
    )
    with tempfile.TemporaryDirectory() as tmp, throwaway_postgres("nm_soak") as db, WebhookReceiver() as hook:
        workdir = Path(tmp)
        upgrade(db)
        config = workdir / "soak.yaml"
        queue = write_config(config, db, redis, servers, feeds, hook.apprise_url("/soak"))
        engine = create_db_engine(db)
        factory = make_session_factory(engine)
        log = workdir / "celery.log"
        if args.layout == "split":
            workers = [
                start_worker(config, log, concurrency=2, name="worker", queues=queue),
                start_worker(
                    config, log, pool="threads", concurrency=8, name="poller", queues=f"{queue}.poll"
                ),
            ]
        else:
            workers = [start_worker(config, log, concurrency=2)]
        beat = start_beat(config, log, workdir / "beat-schedule")
        start = time.monotonic()
        warm_at: float | None = None
        try:
            worker_processes = [psutil.Process(worker.pid) for worker in workers]
            while (elapsed := time.monotonic() - start) < args.minutes * 60:
                time.sleep(args.every - (elapsed % args.every))
                row = sample(factory)
                rss, children = worker_rss(worker_processes)
                with counters.lock:
                    row.update(requests=counters.requests, not_modified=counters.not_modified)
                row.update(
                    t=round(time.monotonic() - start, 1),
                    alerts=len(hook.delivered),
                    rss_mib=round(rss, 1),
                    children=children,
                    load=round(os.getloadavg()[0], 2),
                )
                if warm_at is None and row["unpolled"] == 0:
                    warm_at = row["t"]
                row["warm"] = warm_at is not None
                samples.append(row)
                if len(samples) % max(1, round(60 / args.every)) == 0:
                    print(
                        f"t={row['t']:6.0f}s polls {row['requests']:6d} articles {row['articles']:6d} "
                        f"classified {row['classified']:6d} alerts {row['alerts']:4d} due {row['due']:4d} "
                        f"max lag {row['max_lag']:6.1f}s ({row['max_lag_ratio']:.2f} interval; "
                        f"responsive hosts {row['max_lag_ratio_by_host']['responsive']:.2f}) "
                        f"rss {row['rss_mib']:6.1f} MiB load {row['load']:.2f}",
                        file=sys.stderr,
                    )
        finally:
            # What the worker logs while it is stopped (SIGTERM to its
            # children) is not an error of the run.
            running_log = log.stat().st_size if log.exists() else 0
            stop(beat)
            for worker in workers:
                stop(worker)
            engine.dispose()
            for server in servers:
                server.shutdown()
                server.server_close()
        summary = summarize(samples, warm_at, args)
        text = log.read_bytes()
        lines = text.decode(errors="replace").splitlines()
        during_run = text[:running_log].decode(errors="replace").splitlines()
        summary["worker_error_lines"] = sum(1 for line in during_run if " ERROR/" in line)
        summary["matches_logged"] = sum(1 for line in lines if "match [" in line)
        if args.log is not None:
            args.log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(json.dumps({"summary": summary, "samples": samples}))


def summarize(
    samples: list[dict[str, Any]], warm_at: float | None, args: argparse.Namespace
) -> dict[str, Any]:
    first, last = samples[0], samples[-1]
    span = last["t"] - first["t"] or 1.0
    steady = [s for s in samples if s["warm"]]
    quarter = max(1, len(samples) // 4)
    early = [s["rss_mib"] for s in samples[quarter : 2 * quarter]]
    late = [s["rss_mib"] for s in samples[-quarter:]]
    return {
        "feeds": args.feeds,
        "minutes": args.minutes,
        "layout": args.layout,
        "warm_up_seconds": warm_at,
        "polls_per_second": round((last["requests"] - first["requests"]) / span, 2),
        "not_modified_share": round(last["not_modified"] / max(1, last["requests"]), 3),
        "articles_per_second": round((last["articles"] - first["articles"]) / span, 2),
        "articles": last["articles"],
        "classified": last["classified"],
        "alerts": last["alerts"],
        "max_lag_seconds_steady": max((s["max_lag"] for s in steady), default=None),
        "max_lag_ratio_steady": max((s["max_lag_ratio"] for s in steady), default=None),
        "samples_with_a_feed_late_by_over_one_interval_steady": sum(
            1 for s in steady if s["over_one_interval"]
        ),
        "max_lag_seconds_warm_up": max((s["max_lag"] for s in samples if not s["warm"]), default=None),
        "max_lag_ratio_by_host_whole_run": {
            kind: max(s["max_lag_ratio_by_host"][kind] for s in samples)
            for kind in ("responsive", "slow", "failing")
        },
        "rss_mib_second_quarter_median": statistics.median(early) if early else None,
        "rss_mib_last_quarter_median": statistics.median(late) if late else None,
        "rss_growth": round(statistics.median(late) / statistics.median(early) - 1, 3)
        if early and late
        else None,
        "rss_mib_max": max(s["rss_mib"] for s in samples),
        "load_average_max": max(s["load"] for s in samples),
        "load_average_median": statistics.median(s["load"] for s in samples),
    }


if __name__ == "__main__":
    # SIGTERM (timeout, kill) unwinds like Ctrl-C, so the finally blocks stop
    # the worker and beat this run started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    main()
