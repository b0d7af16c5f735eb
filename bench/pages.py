"""Page benchmark: how fast `monitor serve` answers its pages and API with
100,000 stored matches, on SQLite and on PostgreSQL, over real HTTP.

    scripts/with-services.sh .venv/bin/python bench/pages.py --matches 100000

For each dialect: a database built by the migrations (indexes included) is
filled with `tests.support.corpus` (100,000 matches over a year, their
articles, deliveries and some feedback; on PostgreSQL then VACUUM ANALYZE,
as autovacuum would), `monitor serve` runs as its own
process on a loopback port, and each URL below is requested `--rounds` times
in turn by one client (after one warm-up round). Printed: p50, p95 and max
per URL and over all page requests, in milliseconds, as the client measured
them (connection kept alive). The target is p95 <= 150 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402

from monitor.storage import create_db_engine, make_session_factory  # noqa: E402
from monitor.storage.migrate import upgrade  # noqa: E402
from tests.support.corpus import TOPICS, fill  # noqa: E402
from tests.support.databases import throwaway_postgres  # noqa: E402
from tests.support.processes import monitor_serve  # noqa: E402

TOKEN = "bench-token-0123456789abcdef"


def urls(article_id: int, feed_id: int) -> list[tuple[str, str]]:
    """(label, path): the pages a person opens, then the API."""
    return [
        ("matches (first page)", "/matches"),
        ("matches, topic filter", f"/matches?topic={TOPICS[1]}"),
        ("matches, feed + language + min score", f"/matches?feed_id={feed_id}&lang=en&min_score=0.8"),
        ("matches, since 7d", "/matches?since=7d"),
        ("matches, search (common word)", "/matches?search=strike"),
        ("matches, search (two common words)", "/matches?search=premiere+clonage"),
        ("matches, search (rare word)", "/matches?search=98765"),
        ("matches, page 40", "@deep"),
        ("article", f"/articles/{article_id}"),
        ("topics", "/topics"),
        ("topic", f"/topics/{TOPICS[0]}"),
        ("feeds", "/feeds"),
        ("deliveries", "/deliveries"),
        ("deliveries, dead", "/deliveries?state=dead"),
        ("API matches", "/api/v1/matches?limit=50"),
        ("API matches, topic + since", f"/api/v1/matches?topic={TOPICS[2]}&since=30d"),
        ("API article", f"/api/v1/articles/{article_id}"),
    ]


@contextmanager
def serving(database_url: str, workdir: Path) -> Iterator[str]:
    config = workdir / "monitor.yaml"
    topics = "\n".join(f"  - {{id: {t}, name: {t}, model: rules, rules: {{any: [x]}}}}" for t in TOPICS)
    config.write_text(f"database_url: '{database_url}'\ntopics:\n{topics}\n", encoding="utf-8")
    with monitor_serve(config, workdir / "serve.log", extra_env={"MONITOR_API_TOKEN": TOKEN}) as base:
        yield base


def deep_link(client: httpx.Client, pages: int) -> str:
    """The URL of page ``pages`` + 1, found by following the Older links."""
    path = "/api/v1/matches?limit=50"
    cursor = None
    for _ in range(pages):
        body = client.get(path + (f"&cursor={cursor}" if cursor else "")).json()
        cursor = body["next_cursor"]
    return f"/matches?cursor={cursor}"


def measure(base: str, rounds: int, article_id: int, feed_id: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {}
    with httpx.Client(base_url=base, timeout=30) as client:
        plan = [
            (label, deep_link(client, 39) if path == "@deep" else path)
            for label, path in urls(article_id, feed_id)
        ]
        for round_index in range(rounds + 1):
            for label, path in plan:
                started = time.perf_counter()
                response = client.get(path)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    raise SystemExit(f"{path}: HTTP {response.status_code}: {response.text[:300]}")
                if round_index:  # the first round warms caches and connections
                    timings.setdefault(label, []).append(elapsed)
    return timings


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18] if len(values) > 1 else values[0]


def report(dialect: str, timings: dict[str, list[float]]) -> None:
    print(f"\n{dialect}: ms per request (p50 / p95 / max)")
    for label, values in timings.items():
        print(f"  {label:40} {statistics.median(values):7.1f} {p95(values):7.1f} {max(values):7.1f}")
    pages = [v for label, values in timings.items() if not label.startswith("API") for v in values]
    everything = [v for values in timings.values() for v in values]
    print(f"  {'all pages':40} {statistics.median(pages):7.1f} {p95(pages):7.1f} {max(pages):7.1f}")
    print(
        f"  {'everything':40} {statistics.median(everything):7.1f} {p95(everything):7.1f} {max(everything):7.1f}"
    )


def run(dialect: str, database_url: str, matches: int, rounds: int) -> None:
    upgrade(database_url)
    engine = create_db_engine(database_url)
    started = time.monotonic()
    corpus = fill(make_session_factory(engine), matches=matches)
    if engine.dialect.name == "postgresql":
        # What autovacuum leaves a running database with: statistics, and the
        # trigram indexes' pending entries merged (a bulk load leaves them in
        # a list every search would read in full).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    print(
        f"{dialect}: {corpus.matches:,} matches, {len(corpus.article_ids):,} articles in {time.monotonic() - started:.0f} s"
    )
    with tempfile.TemporaryDirectory() as workdir, serving(database_url, Path(workdir)) as base:
        article_id = corpus.article_ids[len(corpus.article_ids) // 2]
        report(dialect, measure(base, rounds, article_id, corpus.feed_ids[0]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--matches", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()[0]:.2f}")
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as directory:
            run("SQLite", f"sqlite:///{directory}/bench.sqlite3", args.matches, args.rounds)
    if args.only in (None, "postgresql"):
        with throwaway_postgres("nm_bench") as url:
            run("PostgreSQL", url, args.matches, args.rounds)
    print(f"\nload after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
