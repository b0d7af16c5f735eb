"""Pipeline benchmark: feeds polled per second, articles ingested-classified-
stored per second, and the latency from an item's appearance to its alert, in
embedded mode (SQLite, one process) and in Celery mode (worker + beat, Redis,
PostgreSQL).

Everything runs on loopback: N local feeds of M items on a feed server, a
webhook receiver as the alert channel. Run it through `make bench`, or:

    scripts/with-services.sh .venv/bin/python bench/pipeline.py --feeds 50 --items 20

Throughput phase: every feed is new, so every item is fetched, parsed,
normalised, classified against the three shipped topics (learned model) and
stored. Latency phase: the service runs with a short poll interval; new items
are added to random feeds at random moments; latency = alert received at the
webhook minus the moment the item was added to the feed (so it includes the
wait for the feed's next poll, up to one poll interval).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from sqlalchemy import func, select  # noqa: E402

from monitor.runtime import Runtime  # noqa: E402
from monitor.service import EmbeddedService  # noqa: E402
from monitor.storage import Article, Feed, create_db_engine, make_session_factory  # noqa: E402
from monitor.storage.migrate import upgrade  # noqa: E402
from tests.support.databases import throwaway_postgres  # noqa: E402
from tests.support.feed_server import FeedServer  # noqa: E402
from tests.support.feedgen import Item, rss  # noqa: E402
from tests.support.processes import start_beat, start_worker, stop, wait_until  # noqa: E402
from tests.support.webhook_receiver import WebhookReceiver  # noqa: E402

ON_TOPIC = [
    (
        "SAG-AFTRA strike enters its third month as talks with studios stall",
        "The actors' union and the AMPTP remain far apart on pay and AI protections.",
    ),
    (
        "Grève des acteurs : le syndicat rejette la dernière offre des studios",
        "Les négociations entre SAG-AFTRA et les studios hollywoodiens sont rompues.",
    ),
    (
        "Studios want to scan background actors and keep their digital replicas",
        "The proposal would let a studio reuse an extra's digital double without pay.",
    ),
]
OFF_TOPIC = [
    ("Central bank holds interest rates steady", "Markets had expected the decision."),
    ("Le Tour de France dévoile son parcours", "Les coureurs affronteront les Alpes."),
    ("New smartphone goes on sale with a bigger battery", "Reviewers praise the screen."),
    ("Box office: animated sequel tops the weekend", "The film earned more than expected."),
    ("Un nouveau musée ouvre ses portes à Lyon", "L'exposition inaugurale attire la foule."),
    ("Rail workers strike over pensions in several cities", "Commuters faced delays."),
]


def make_items(feed: int, count: int, on_topic_share: float, rng: random.Random) -> list[Item]:
    items = []
    for index in range(count):
        title, summary = rng.choice(ON_TOPIC if rng.random() < on_topic_share else OFF_TOPIC)
        guid = f"f{feed}-i{index}-{uuid.uuid4().hex[:6]}"
        items.append(Item(guid, f"{title} ({guid})", summary, f"https://news.example/{guid}"))
    return items


def write_config(
    path: Path,
    server: FeedServer,
    hook: WebhookReceiver,
    n_feeds: int,
    database_url: str,
    interval: str,
    broker: str | None = None,
    queue: str | None = None,
) -> Path:
    shipped = (REPO_ROOT / "monitor.yaml").read_text(encoding="utf-8")
    topics = shipped[shipped.index("\ntopics:") :].replace("channels: []", "channels: [hook]")
    feeds = "\n".join(f"  - {{url: '{server.url(f'/f{i}.xml')}', name: feed {i}}}" for i in range(n_feeds))
    workers = f"workers:\n  queue: {queue}\n  beat_tick: 1s\n  sweep_interval: 5s\n" if queue else ""
    path.write_text(
        f"database_url: '{database_url}'\n"
        + (f"broker_url: '{broker}'\n" if broker else "")
        # The latency phase needs every feed checked every ``interval``:
        # the fixed schedule, not the adaptive one.
        + f"poll_interval: {interval}\npolling: {{schedule: fixed}}\nfetch:\n  allow_hosts: ['{server.netloc}']\n"
        # The items' one-sentence summaries look like teasers, and their
        # pages are not served: the pipeline without page fetches
        # (bench/fulltext.py measures those).
        + "full_text: {mode: never}\n"
        # Latency is measured per new item: one alert per article, not per
        # story (a new item that joins a story would send nothing at once).
        f"alerts:\n  backoff_base: 1s\n{workers}channels:\n  - name: hook\n    url: '{hook.apprise_url('/b')}'\n"
        "    stories: every-article\n"
        f"feeds:\n{feeds}\n{topics}",
        encoding="utf-8",
    )
    return path


class LatencyProbe:
    """Adds new on-topic items at random moments and times their alerts.

    A watcher thread stamps each alert when it first shows up at the webhook
    receiver (every 10 ms), so latency is measured on this side's clock.
    """

    def __init__(
        self, server: FeedServer, hook: WebhookReceiver, feeds: dict[int, list[Item]], rng: random.Random
    ) -> None:
        self.server, self.hook, self.feeds, self.rng = server, hook, feeds, rng
        self.added: dict[str, float] = {}
        self.arrived: dict[str, float] = {}
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        seen = 0
        while not self._stop.is_set():
            delivered = self.hook.delivered
            now = time.monotonic()
            for received in delivered[seen:]:
                body = f"{received.json.get('title', '')} {received.json.get('message', '')}"
                for guid in list(self.added):
                    if guid in body and guid not in self.arrived:
                        self.arrived[guid] = now
            seen = len(delivered)
            time.sleep(0.01)

    def add(self) -> None:
        feed = self.rng.randrange(len(self.feeds))
        title, summary = ON_TOPIC[self.rng.randrange(len(ON_TOPIC))]
        guid = f"lat-{uuid.uuid4().hex[:10]}"
        item = Item(guid, f"{title} ({guid})", summary, f"https://news.example/{guid}")
        self.feeds[feed] = [item, *self.feeds[feed]]
        self.added[guid] = time.monotonic()
        self.server.set_content(f"/f{feed}.xml", rss(self.feeds[feed]))

    def latencies(self) -> list[float]:
        return [self.arrived[g] - self.added[g] for g in self.added if g in self.arrived]

    def close(self) -> None:
        self._stop.set()
        self._watcher.join(1)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_embedded(args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    rng = random.Random(args.seed)
    with FeedServer() as server, WebhookReceiver() as hook:
        feeds = {i: make_items(i, args.items, args.on_topic, rng) for i in range(args.feeds)}
        for i, items in feeds.items():
            server.add_file(f"/f{i}.xml", rss(items))
        db = f"sqlite:///{workdir / 'embedded.sqlite3'}"
        config = write_config(workdir / "embedded.yaml", server, hook, args.feeds, db, f"{args.interval}s")
        upgrade(db)
        runtime = Runtime(config)
        runtime.matcher  # noqa: B018 - load the model before timing
        service = EmbeddedService(runtime)
        start = time.perf_counter()
        polls = service.poll(all_feeds=True)
        polled = time.perf_counter()
        service.classify()
        classified = time.perf_counter()
        n_articles = sum(len(p.new_article_ids) for p in polls)
        result = {
            "feeds_per_s": len(polls) / (polled - start),
            "articles_per_s": n_articles / (classified - start),
            "articles": n_articles,
        }
        service.deliver()
        hook.clear()
        probe = LatencyProbe(server, hook, feeds, rng)
        thread = threading.Thread(target=service.run_forever, kwargs={"tick": 0.5}, daemon=True)
        thread.start()
        for _ in range(args.latency_items):
            time.sleep(rng.uniform(0.2, args.interval))
            probe.add()
        wait_until(
            lambda: len(probe.latencies()) >= args.latency_items,
            60 + 2 * args.interval,
            what="latency alerts",
        )
        service.stop()
        thread.join(10)
        lat = probe.latencies()
        probe.close()
        result.update(latency_p50=percentile(lat, 0.5), latency_p95=percentile(lat, 0.95))
        runtime.close()
        return result


def bench_celery(args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    rng = random.Random(args.seed + 1)
    redis = os.environ.get("MONITOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    with throwaway_postgres("nm_bench") as db:
        upgrade(db)
        with FeedServer() as server, WebhookReceiver() as hook:
            feeds = {i: make_items(i, args.items, args.on_topic, rng) for i in range(args.feeds)}
            for i, items in feeds.items():
                server.add_file(f"/f{i}.xml", rss(items))
            config = write_config(
                workdir / "celery.yaml",
                server,
                hook,
                args.feeds,
                db,
                f"{args.interval}s",
                broker=redis,
                queue=f"bench-{uuid.uuid4().hex[:6]}",
            )
            engine = create_db_engine(db)
            factory = make_session_factory(engine)
            total = args.feeds * args.items
            log = workdir / "celery.log"
            worker = start_worker(config, log, concurrency=2)
            beat = start_beat(config, log, workdir / "beat-schedule")
            try:
                start = time.perf_counter()

                def polled() -> bool:
                    with factory() as s:
                        return (
                            s.scalar(
                                select(func.count())
                                .select_from(Feed)
                                .where(Feed.last_success_at.is_not(None))
                            )
                            or 0
                        ) >= args.feeds

                def classified() -> bool:
                    with factory() as s:
                        return (
                            s.scalar(
                                select(func.count())
                                .select_from(Article)
                                .where(Article.classified_at.is_not(None))
                            )
                            or 0
                        ) >= total

                wait_until(polled, 300, 0.05, "all feeds polled")
                t_polled = time.perf_counter()
                wait_until(classified, 600, 0.05, "all articles classified")
                t_classified = time.perf_counter()
                result = {
                    "feeds_per_s": args.feeds / (t_polled - start),
                    "articles_per_s": total / (t_classified - start),
                    "articles": float(total),
                }
                time.sleep(3)
                hook.clear()
                probe = LatencyProbe(server, hook, feeds, rng)
                for _ in range(args.latency_items):
                    time.sleep(rng.uniform(0.2, args.interval))
                    probe.add()
                wait_until(
                    lambda: len(probe.latencies()) >= args.latency_items,
                    90 + 2 * args.interval,
                    what="latency alerts",
                )
                lat = probe.latencies()
                probe.close()
                result.update(latency_p50=percentile(lat, 0.5), latency_p95=percentile(lat, 0.95))
                return result
            finally:
                stop(beat)
                stop(worker)
                engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--feeds", type=int, default=50)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--on-topic", type=float, default=0.1, help="share of on-topic items")
    parser.add_argument("--interval", type=int, default=5, help="poll interval (s) in the latency phase")
    parser.add_argument("--latency-items", type=int, default=20)
    parser.add_argument("--mode", choices=["embedded", "celery", "both"], default="both")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(
        f"# pipeline benchmark: {args.feeds} feeds x {args.items} items, {args.on_topic:.0%} on topic, "
        f"poll interval {args.interval}s in the latency phase, {os.cpu_count()} cores"
    )
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        modes = ["embedded", "celery"] if args.mode == "both" else [args.mode]
        print(f"{'mode':10} {'feeds/s':>9} {'articles/s':>11} {'alert p50 (s)':>14} {'alert p95 (s)':>14}")
        for mode in modes:
            result = bench_embedded(args, workdir) if mode == "embedded" else bench_celery(args, workdir)
            print(
                f"{mode:10} {result['feeds_per_s']:9.1f} {result['articles_per_s']:11.1f} "
                f"{result['latency_p50']:14.2f} {result['latency_p95']:14.2f}",
                flush=True,
            )


if __name__ == "__main__":
    # SIGTERM (timeout, kill) unwinds like Ctrl-C, so the finally blocks stop
    # the workers, beats and redis-servers this run started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    main()
