"""Ingest path figures: the peer corpus through parse_feed + normalize_item.

    .venv/bin/python bench/ingest.py                 # feedparser's 2,248 test documents
    .venv/bin/python bench/ingest.py --entries 50000 # plus one generated feed of N entries

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

from monitor.ingest.normalize import normalize_item
from monitor.ingest.parse import parse_feed
from monitor.ingest.types import ParseError

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("MONITOR_SHARED_DIR", REPO.parent / "shared"))


def peak_mib() -> float:
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
    if args.entries:
        run_big(args.entries)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
