"""Quality on a teaser-only feed, with and without full text.

    MONITOR_EMBED_THREADS=2 .venv/bin/python bench/fulltext.py [--dev ../shared/eval/dev.jsonl]

The labelled dev set (``../shared/eval/dev.jsonl``, EN+FR) is served by a
loopback feed server three ways, and each is run through the real pipeline
(guarded fetch, parse, normalise, the poll stage, the shipped topic model's
matcher, storage) into a fresh SQLite database:

* ``full summaries``: the items as the dev set has them (the reference);
* ``teasers only``: each summary cut to its first sentence, ``full_text:
  false``: what the monitor classified before full text;
* ``teasers + full text``: the same feed, ``full_text`` left to ``auto``:
  the poll sees a teaser feed and fetches each item's page, served locally
  as an article page (header, navigation, the full summary as paragraphs,
  a sidebar, a footer), whose main text trafilatura extracts.

The figures are ``monitor eval``'s (borderline records left out): per topic
precision, recall and F1, macro-F1, and the matcher's model version.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

os.environ.setdefault("MONITOR_EMBED_THREADS", "2")

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from sqlalchemy import select  # noqa: E402

from monitor import resources  # noqa: E402
from monitor.config import load_config_text  # noqa: E402
from monitor.ingest.poll import poll_feed, sync_feeds  # noqa: E402
from monitor.matching import build_matcher  # noqa: E402
from monitor.matching.evaluate import Record, metrics, read_records  # noqa: E402
from monitor.matching.stage import classify_pending  # noqa: E402
from monitor.matching.text import sentences  # noqa: E402
from monitor.storage import Article, Base, Feed, Match, create_db_engine, make_session_factory  # noqa: E402
from tests.support.feed_server import FeedServer  # noqa: E402

TOPICS = (resources.seeds_dir() / "topics.example.yaml").read_text(encoding="utf-8")


def feed_document(records: list[Record], server: FeedServer, *, teaser: bool) -> bytes:
    items = []
    for record in records:
        summary = sentences(record.summary)[0] if teaser else record.summary
        items.append(
            f"<item><guid isPermaLink='false'>{escape(record.id)}</guid><title>{escape(record.title)}</title>"
            f"<link>{server.url('/page/' + record.id)}</link><description>{escape(summary)}</description></item>"
        )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Dev</title>"
        "<link>https://example.org/</link><description>dev</description>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def article_page(record: Record) -> bytes:
    paragraphs = "".join(f"<p>{escape(sentence)}</p>" for sentence in sentences(record.summary))
    return (
        f"<!DOCTYPE html><html lang='{record.lang}'><head><title>{escape(record.title)} | The Paper</title></head>"
        "<body><header><a href='/'>The Paper</a><nav><a href='/news'>News</a> <a href='/culture'>Culture</a> "
        "<a href='/tech'>Tech</a> <a href='/subscribe'>Subscribe</a></nav></header>"
        f"<main><article><h1>{escape(record.title)}</h1><p class='byline'>By a staff writer</p>{paragraphs}"
        "</article></main><aside><h2>Most read</h2><ul><li>Ten series to watch this weekend</li>"
        "<li>The best phones of the year</li></ul></aside>"
        "<footer><p>© 2026 The Paper. All rights reserved.</p><p>Privacy · Cookies · Contact</p></footer>"
        "</body></html>"
    ).encode()


def run(records: list[Record], *, teaser: bool, full_text: bool, workdir: Path) -> dict[str, Any]:
    with FeedServer() as server:
        for record in records:
            server.add_response(
                f"/page/{record.id}",
                body=article_page(record),
                headers={"Content-Type": "text/html; charset=utf-8"},
            )
        server.add_file("/dev.xml", feed_document(records, server, teaser=teaser))
        database = workdir / f"{'teaser' if teaser else 'full'}-{full_text}.sqlite3"
        url = f"sqlite:///{database}"
        engine = create_db_engine(url)
        Base.metadata.create_all(engine)
        factory = make_session_factory(engine)
        settings = load_config_text(
            f"database_url: '{url}'\nfetch: {{timeout: 10s, allow_hosts: ['{server.netloc}']}}\n"
            f"full_text: {{mode: {'auto' if full_text else 'never'}, max_pages_per_poll: 500}}\n"
            "workers: {poll_time_limit: 600s, visibility_timeout: 1200s}\n"
            f"feeds: [{{url: '{server.url('/dev.xml')}', name: dev}}]\n" + TOPICS
        )
        sync_feeds(factory, settings)
        with factory() as session:
            feed_id = session.scalars(select(Feed.id)).one()
        started = time.perf_counter()
        outcome = poll_feed(factory, settings, feed_id, owner="bench", force=True)
        poll_seconds = time.perf_counter() - started
        matcher = build_matcher(settings)
        started = time.perf_counter()
        classify_pending(factory, settings, matcher)
        classify_seconds = time.perf_counter() - started
        with factory() as session:
            bodies = sum(1 for body in session.scalars(select(Article.body)) if body)
            matched: dict[str, set[str]] = defaultdict(set)
            for item_key, topic in session.execute(
                select(Article.item_key, Match.topic_id).join(Match, Match.article_id == Article.id)
            ):
                matched[item_key].add(topic)
        engine.dispose()
        pages = sum(server.hits(f"/page/{record.id}") for record in records)
    headline = [r for r in records if not r.borderline]
    topic_ids = [topic.id for topic in settings.topics]
    result = metrics(headline, [matched[r.id] for r in headline], topic_ids)
    result.update(
        stored=len(outcome.new_article_ids),
        pages_fetched=pages,
        bodies=bodies,
        poll_seconds=round(poll_seconds, 2),
        classify_seconds=round(classify_seconds, 2),
        model_version=matcher.version,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dev", type=Path, default=REPO_ROOT.parent / "shared" / "eval" / "dev.jsonl")
    args = parser.parse_args()
    records = read_records(args.dev)
    out: dict[str, Any] = {"records": len(records), "load_average_1m": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory() as tmp:
        for name, teaser, full_text in (
            ("full summaries", False, False),
            ("teasers only", True, False),
            ("teasers + full text", True, True),
        ):
            result = run(records, teaser=teaser, full_text=full_text, workdir=Path(tmp))
            out[name] = result
            per_topic = "  ".join(
                f"{topic} P {m['precision']:.2f} R {m['recall']:.2f} F1 {m['f1']:.2f}"
                for topic, m in result["topics"].items()
            )
            print(
                f"{name:20} macro-F1 {result['macro_f1']:.3f}  micro-F1 {result['micro_f1']:.3f}  "
                f"pages {result['pages_fetched']}, bodies {result['bodies']}  |  {per_topic}",
                file=sys.stderr,
            )
    out["model_version"] = out["teasers + full text"]["model_version"]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
