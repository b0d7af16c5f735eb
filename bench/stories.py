"""Story grouping cost with many open stories (issue 9: <= 2 ms per matched
article with 10,000 open stories).

Open stories are made of realistic vectors: the 100 labelled dev articles'
embeddings (``../shared/eval/dev.jsonl``, embedded once here) plus noise, so
that most stories look topical to each other (cosine 0.8-0.9, as a watch
topic's stream does) and the prefilter lets several candidates through:
the costly case, not random vectors that nothing resembles.

Two figures per database:

* **decision**: ``StoryIndex.place`` alone (the in-memory index);
* **stored**: ``StoryPlacer.place`` in a real transaction: the decision plus
  the rows it writes (the member, the story's counts) on SQLite and
  PostgreSQL, the lock and index refresh counted once per batch of 64 as the
  matching stage does.

    .venv/bin/python bench/stories.py                 # 10,000 stories, SQLite and PostgreSQL
    .venv/bin/python bench/stories.py --stories 2000 --articles 300 --sqlite-only
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from monitor.config import Settings  # noqa: E402
from monitor.matching.base import ArticleText  # noqa: E402
from monitor.matching.embed import embed  # noqa: E402
from monitor.storage import Article, Base, Feed, create_db_engine, make_session_factory, transaction  # noqa: E402
from monitor.storage.stories import insert_members, start_story  # noqa: E402
from monitor.stories.assign import ArticleForStory, StoryPlacer, new_member  # noqa: E402
from monitor.stories.features import signals  # noqa: E402
from monitor.stories.grouping import ArticleToPlace, GroupingParams, StoryIndex  # noqa: E402
from tests.support.databases import throwaway_postgres  # noqa: E402

NOW = datetime(2026, 7, 14, 12, tzinfo=UTC)
BATCH = 64


def dev_vectors() -> tuple[np.ndarray, list[dict[str, str]]]:
    shared = ROOT.parent / "shared" / "eval" / "dev.jsonl"
    items = [json.loads(line) for line in shared.read_text(encoding="utf-8").splitlines() if line.strip()]
    vectors = embed([ArticleText(i["title"], i["summary"], i["lang"]).text for i in items])
    return vectors, items


def noisy(base: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    vector = base + rng.normal(scale=sigma, size=base.shape).astype(np.float32)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


TEXTS: dict[int, tuple[str, str, str]] = {}  # article id -> (title, summary, link)


def synthetic(
    count: int, vectors: np.ndarray, items: list[dict[str, str]], seed: int
) -> list[ArticleToPlace]:
    rng = np.random.default_rng(seed)
    out: list[ArticleToPlace] = []
    for n in range(count):
        k = int(rng.integers(len(items)))
        item = items[k]
        title = f"{item['title']} ({n})"
        TEXTS[seed * 1_000_000 + n] = (title, item["summary"], f"https://n{n}.example/{seed}")
        out.append(
            ArticleToPlace(
                article_id=seed * 1_000_000 + n,
                feed_id=int(rng.integers(1, 200)),
                language=item["lang"],
                at=NOW - timedelta(hours=float(rng.uniform(0, 48))),
                vector=noisy(vectors[k], rng, 0.025),
                signals=signals(title, item["summary"], f"https://n{n}.example/{seed}"),
            )
        )
    return out


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def bench_decision(stories: list[ArticleToPlace], new: list[ArticleToPlace]) -> list[float]:
    index = StoryIndex()
    for n, member in enumerate(stories, start=1):
        index.add(n, member.at, member.article_id, member)
    params = GroupingParams(window=timedelta(hours=72), similarity=0.89)
    timings = []
    for article in new:
        started = time.perf_counter()
        index.place(article, params)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def bench_stored(
    db_url: str, stories: list[ArticleToPlace], new: list[ArticleToPlace]
) -> tuple[list[float], float, float]:
    engine = create_db_engine(db_url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    factory = make_session_factory(engine)
    settings = Settings.model_validate({})
    with transaction(factory) as session:
        feed = Feed(url="https://bench.example/rss", name="bench", interval_seconds=60)
        session.add(feed)
        session.flush()
        ids = []
        for member in [*stories, *new]:
            article = Article(
                feed_id=feed.id,
                item_key=str(member.article_id),
                title="t",
                summary="",
                content_hash=str(member.article_id),
                fetched_at=NOW,
            )
            session.add(article)
            ids.append(article)
        session.flush()
        for article, member in zip(ids, [*stories, *new], strict=True):
            TEXTS[article.id] = TEXTS[member.article_id]
            object.__setattr__(member, "article_id", article.id)
    started = time.perf_counter()
    with transaction(factory) as session:
        seeded = []
        for member in stories:
            row = new_member(member)
            seeded.append((start_story(session, row, at=NOW).story_id, row))
        insert_members(session, seeded, at=NOW)
    seed_seconds = time.perf_counter() - started
    # The first placer of a process loads every open member: the cold start.
    started = time.perf_counter()
    with transaction(factory) as session:
        StoryPlacer(session, settings, now=NOW).confirm()
    cold_seconds = time.perf_counter() - started
    timings: list[float] = []
    for start in range(0, len(new), BATCH):
        batch = new[start : start + BATCH]
        began = time.perf_counter()
        with transaction(factory) as session:
            placer = StoryPlacer(session, settings, now=NOW)
            for member in batch:
                title, summary, link = TEXTS[member.article_id]
                placer.place(
                    ArticleForStory(
                        member.article_id,
                        member.feed_id,
                        member.language,
                        member.at,
                        title,
                        summary,
                        link,
                        member.vector,
                    ),
                    at=NOW,
                )
            placer.finish()
        placer.confirm()
        per_article = (time.perf_counter() - began) * 1000 / len(batch)
        timings.extend([per_article] * len(batch))
    engine.dispose()
    print(f"    (seeding {len(stories)} stories took {seed_seconds:.1f} s)")
    return timings, cold_seconds, len(stories) / max(cold_seconds, 1e-9)


def line(label: str, timings: list[float]) -> str:
    return (
        f"{label}: median {statistics.median(timings):.2f} ms, p95 {percentile(timings, 0.95):.2f} ms, "
        f"max {max(timings):.2f} ms per article ({len(timings)} articles)"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stories", type=int, default=10_000)
    parser.add_argument("--articles", type=int, default=1_000)
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args(argv)
    vectors, items = dev_vectors()
    stories = synthetic(args.stories, vectors, items, seed=1)
    new = synthetic(args.articles, vectors, items, seed=2)
    print(
        f"{args.stories} open stories, {args.articles} new matched articles (vectors: dev embeddings + noise)"
    )
    decision = bench_decision(stories, new)
    print(line("decision (in-memory index)", decision))
    with tempfile.TemporaryDirectory() as tmp:
        timings, cold, rate = bench_stored(f"sqlite:///{tmp}/bench.sqlite3", stories, new)
        print(line("stored, SQLite", timings) + f"; cold index load {cold:.2f} s ({rate:,.0f} members/s)")
    if not args.sqlite_only:
        with throwaway_postgres("nm_bench_stories") as url:
            timings, cold, rate = bench_stored(url, stories, new)
            print(
                line("stored, PostgreSQL", timings)
                + f"; cold index load {cold:.2f} s ({rate:,.0f} members/s)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
