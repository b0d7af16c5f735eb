"""Ingest path figures: the peer corpus through parse_feed + normalize_item.

    .venv/bin/python bench/ingest.py                 # feedparser's 2,248 test documents
    .venv/bin/python bench/ingest.py --entries 50000 # plus one generated feed of N entries

Then the hostile documents of ``shared/peer/attacks``, each in a process of its
own (outcome, time, RSS growth), and the gzip bomb served by a local server.

Prints documents, outcomes, failures (exceptions other than ParseError), total
and slowest times, and peak RSS. Shared material is found as in the tests
(``MONITOR_SHARED_DIR``, default ``../shared``).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from monitor.ingest.normalize import normalize_item
from monitor.ingest.parse import parse_feed
from monitor.ingest.types import ParseError

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("MONITOR_SHARED_DIR", REPO.parent / "shared"))


def peak_mib() -> float:
    """This process image's peak resident memory (VmHWM; unlike ru_maxrss it
    is not inherited from the parent across fork and exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_corpus(root: Path) -> int:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    timings: list[tuple[float, str]] = []
    articles = 0
    started = time.perf_counter()
    for path in files:
        body = path.read_bytes()
        t0 = time.perf_counter()
        try:
            feed = parse_feed(body, url=f"http://127.0.0.1:8097/{path.relative_to(root).as_posix()}")
            for item in feed.items:
                normalize_item(item, feed_language=feed.language)
                articles += 1
            outcomes["parsed"] += 1
        except ParseError as exc:
            outcomes[f"ParseError:{exc.kind}"] += 1
        except Exception as exc:  # what must never happen
            failures.append(f"{path}: {type(exc).__name__}: {exc}")
        timings.append((time.perf_counter() - t0, path.relative_to(root).as_posix()))
    total = time.perf_counter() - started
    print(f"documents      {len(files)}")
    print(f"outcomes       {dict(outcomes)}")
    print(f"articles       {articles}")
    print(f"failures       {len(failures)}")
    for failure in failures[:20]:
        print(f"  {failure}")
    print(f"total time     {total:.2f} s (includes loading the language model once)")
    for seconds, name in sorted(timings, reverse=True)[:5]:
        print(f"  slow  {seconds * 1000:8.1f} ms  {name}")
    print(f"peak RSS       {peak_mib():.0f} MiB")
    return len(failures)


def _attack_child(path: str, queue: Any) -> None:
    """Runs in a fresh process: parse one hostile document, report the outcome."""
    started = time.perf_counter()
    try:
        feed = parse_feed(Path(path).read_bytes(), url="http://127.0.0.1:8097/attack.xml")
        for item in feed.items:
            normalize_item(item, feed_language=feed.language)
        outcome = f"parsed, {len(feed.items)} item(s)"
    except ParseError as exc:
        outcome = f"refused ({exc.kind})"
    except Exception as exc:  # what must never happen
        outcome = f"FAILED {type(exc).__name__}: {exc}"
    queue.put((outcome, time.perf_counter() - started, peak_mib()))


def run_attacks(folder: Path) -> int:
    """Every hostile document through parse_feed + normalize_item, each in its
    own process so that its memory growth is its own; the gzip bomb goes
    through the fetcher, as a server would send it."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    failures = 0
    print(f"{'attack document':42} {'outcome':28} {'time':>8} {'peak RSS':>11}")
    for path in sorted(folder.glob("*.xml")):
        queue = ctx.Queue()
        child = ctx.Process(target=_attack_child, args=(str(path), queue))
        child.start()
        child.join(60)
        if child.is_alive():
            child.kill()
            print(f"{path.name:42} {'FAILED: still running after 60 s':28}")
            failures += 1
            continue
        outcome, seconds, peak = queue.get(timeout=5)
        failures += outcome.startswith("FAILED")
        print(f"{path.name:42} {outcome:28} {seconds:7.2f}s {peak:8.0f} MiB")
    bomb = folder / "gzip_bomb_1GiB.xml.gz"
    if bomb.exists():
        sys.path.insert(0, str(REPO))
        from monitor.config import FetchSettings
        from monitor.ingest.fetch import fetch_feed
        from monitor.ingest.types import FetchError
        from tests.support.feed_server import FeedServer

        with FeedServer() as server:
            server.add_response("/bomb.xml", body=bomb.read_bytes(), headers={"Content-Encoding": "gzip"})
            settings = FetchSettings(allow_hosts=(server.netloc,))
            base, started = peak_mib(), time.perf_counter()  # this process's peak so far
            try:
                fetch_feed(server.url("/bomb.xml"), etag=None, last_modified=None, settings=settings)
                outcome = "FAILED: accepted"
                failures += 1
            except FetchError as exc:
                outcome = f"refused ({exc.kind})"
            print(
                f"{bomb.name + ' (served gzip)':42} {outcome:28} {time.perf_counter() - started:7.2f}s "
                f"{peak_mib() - base:8.0f} MiB"
            )
    return failures


def run_big(entries: int) -> None:
    items = "".join(
        f"<item><title>Entry {i}</title><link>http://example.com/{i}</link><guid>g{i}</guid>"
        f"<description>Some &lt;b&gt;text&lt;/b&gt; {i}</description>"
        f"<pubDate>Sat, 21 Nov 2026 05:00:00 GMT</pubDate></item>"
        for i in range(entries)
    )
    body = f'<rss version="2.0"><channel><title>big</title>{items}</channel></rss>'.encode()
    started = time.perf_counter()
    feed = parse_feed(body, url="http://example.com/feed")
    parsed = time.perf_counter() - started
    for item in feed.items:
        normalize_item(item, feed_language="en")
    total = time.perf_counter() - started
    print(
        f"{entries} entries ({len(body) / 2**20:.1f} MiB): parse {parsed:.1f} s, "
        f"parse+normalize {total:.1f} s, peak RSS {peak_mib():.0f} MiB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=0, help="also parse a generated feed of N entries")
    args = parser.parse_args()
    root = SHARED / "peer" / "feedparser" / "v6.0.14" / "tests"
    if not root.is_dir():
        print(f"peer corpus not found at {root} (set MONITOR_SHARED_DIR)", file=sys.stderr)
        return 2
    failures = run_corpus(root)
    print()
    failures += run_attacks(SHARED / "peer" / "attacks")
    if args.entries:
        run_big(args.entries)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
