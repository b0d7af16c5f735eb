"""Instant alerts per story on the labelled dev set served as feeds (issue 9).

``../shared/eval/dev.jsonl`` is served by a loopback feed server, one RSS
feed per outlet (the domain of each item's URL), and goes through the real
pipeline with a controllable clock: poll (``poll_feed``), classify
(``classify_pending``), stories, routing, the sender (``deliver_due``) and
a loopback webhook receiver. Two channels receive every topic: ``story``
(the default, one alert per story and topic) and ``every``
(``stories: every-article``, one alert per matched article).

**Matches are the labels** (a matcher that answers each item's ``labels``),
so the figures measure grouping, not classification.

**When items arrive.** The dev set keeps only the month of each article
(and not even that for 31 of them); grouping needs times. ``--timing``:

* ``dated`` (the headline): each item is published at its story's date as
  ``stories-dev.json``'s note gives it (the first day of a range; a note with
  a month only: the 15th), plus a fixed pseudo-random 0-48 h per item. This
  uses the story key to place items in time, as real reports of an event
  fall around its date; stories of the same month with no day all land on
  the 15th, which makes them compete (harder than reality).
* ``spread``: as ``dated``, but a month-only story gets a pseudo-random day
  of its month instead of the 15th.
* ``month``: the item's own month (else its story's), every item on the 15th
  + 0-48 h: no day-level information at all.
* ``once``: everything within 48 h: content alone must separate stories.

Counted: instant alerts of ``story`` and of ``every``; the (story, topic)
pairs that should alert (from the labels) and those that did (an alert's
article belongs to the story and the alert names the topic); predicted
stories that mix articles of different labelled stories sharing a topic.

    .venv/bin/python bench/stories_eval.py                 # every timing
    .venv/bin/python bench/stories_eval.py --timing dated
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from monitor.alerting import channels as channels_mod  # noqa: E402
from monitor.alerting import deliver_due  # noqa: E402
from monitor.config import Settings  # noqa: E402
from monitor.ingest.poll import poll_feed, sync_feeds  # noqa: E402
from monitor.matching.base import ArticleText, TopicDecision  # noqa: E402
from monitor.matching.stage import classify_pending  # noqa: E402
from monitor.storage import Article, Base, Feed, create_db_engine, make_session_factory  # noqa: E402
from monitor.storage.story_models import StoryArticle  # noqa: E402
from tests.support.feed_server import FeedServer  # noqa: E402
from tests.support.feedgen import Item, rss  # noqa: E402
from tests.support.webhook_receiver import WebhookReceiver  # noqa: E402

SHARED = ROOT.parent / "shared" / "eval"
TOPICS = {
    "ai-likeness": "AI and performers' likeness",
    "strike-negotiations": "Strike negotiations",
    "digital-doubles": "Digital doubles",
}
MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    )
}
_DATE = re.compile(r"(?:(\d{1,2})\s+)?(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*", re.IGNORECASE)
_RANGE = re.compile(r"\s*(?:from\s+)?(\d{1,2})\s*-\s*\d{1,2}\s+([A-Za-z]+)")


def fraction(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 2**32


def story_date(key: str, note: str) -> tuple[datetime, bool]:
    """(start of the story per its note, whether the note names a day)."""
    year, month = int(key[:4]), int(key[5:7])
    groups = re.findall(r"\(([^()]*)\)", note)
    text = groups[-1] if groups else ""
    ranged = _RANGE.match(text)
    if ranged and ranged.group(2)[:3].lower() in MONTHS:
        return datetime(year, MONTHS[ranged.group(2)[:3].lower()], int(ranged.group(1)), 9, tzinfo=UTC), True
    found = _DATE.search(text)
    if found:
        day = int(found.group(1)) if found.group(1) else 15
        return datetime(year, MONTHS[found.group(2)[:3].lower()], day, 9, tzinfo=UTC), bool(found.group(1))
    return datetime(year, month, 15, 9, tzinfo=UTC), False


def arrival(item: dict[str, Any], key: str, note: str, timing: str) -> datetime:
    offset = timedelta(hours=48 * fraction(item["id"]))
    if timing == "once":
        return datetime(2023, 7, 1, tzinfo=UTC) + offset
    if timing == "month":
        month = item["published"] or key[:7]
        return datetime(int(month[:4]), int(month[5:7]), 15, 9, tzinfo=UTC) + offset
    start, has_day = story_date(key, note)
    if timing == "spread" and not has_day:
        start = start.replace(day=1 + int(fraction(key) * 28))
    return start + offset


class LabelMatcher:
    """Answers each item's labels: the figures then measure grouping alone."""

    version = "labels"

    def __init__(self, items: Sequence[dict[str, Any]]) -> None:
        self.labels = {item["title"].strip(): set(item["labels"]) for item in items}

    def classify(self, articles: Sequence[ArticleText]) -> list[list[TopicDecision]]:
        out = []
        for article in articles:
            labels = self.labels.get(article.title.strip(), set())
            out.append(
                [
                    TopicDecision(
                        topic, 1.0 if topic in labels else 0.0, 0.5, topic in labels, {"reason": "label"}
                    )
                    for topic in TOPICS
                ]
            )
        return out


@dataclass
class Figures:
    timing: str
    pairs: int
    alerts: int
    alerted_pairs: int
    missed: list[tuple[str, str]]
    every_article: int
    mixed: list[list[str]]
    split: dict[str, list[list[str]]]

    def line(self) -> str:
        ratio = self.alerts / self.pairs
        return (
            f"{self.timing:7} instant alerts {self.alerts} for {self.pairs} (story, topic) pairs = {ratio:.2f}x; "
            f"pairs alerted {self.alerted_pairs}/{self.pairs}; every-article {self.every_article} "
            f"({self.every_article / self.pairs:.2f}x); stories mixing labelled stories of a shared topic: "
            f"{len(self.mixed)}"
        )


def run(timing: str, window_hours: float, similarity: float) -> Figures:
    items = [
        json.loads(line) for line in (SHARED / "dev.jsonl").read_text(encoding="utf-8").splitlines() if line
    ]
    labelled = json.loads((SHARED / "stories-dev.json").read_text(encoding="utf-8"))
    story_of, notes = labelled["stories"], labelled["notes"]
    times = {
        item["id"]: arrival(item, story_of[item["id"]], notes.get(story_of[item["id"]], ""), timing)
        for item in items
    }
    outlets: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in sorted(items, key=lambda i: (times[i["id"]], i["id"])):
        outlets[urlsplit(item["url"]).netloc.removeprefix("www.")].append(item)
    channels_mod.REQUEST_INTERVAL_OVERRIDE = 0.0
    with tempfile.TemporaryDirectory() as tmp, FeedServer() as server, WebhookReceiver() as hook:
        paths = {outlet: f"/{n}.xml" for n, outlet in enumerate(outlets)}
        settings = Settings.model_validate(
            {
                "database_url": f"sqlite:///{tmp}/eval.sqlite3",
                "fetch": {"allow_hosts": [server.netloc], "timeout": 10},
                "alerts": {"send_timeout": 10},
                "stories": {"window": window_hours * 3600, "similarity": similarity},
                "feeds": [{"url": server.url(path), "name": outlet} for outlet, path in paths.items()],
                "channels": [
                    {"name": "story", "url": hook.apprise_url("/story")},
                    {"name": "every", "url": hook.apprise_url("/every"), "stories": "every-article"},
                ],
                "topics": [
                    {
                        "id": tid,
                        "name": name,
                        "model": "rules",
                        "rules": {"any": ["x"]},
                        "channels": ["story", "every"],
                    }
                    for tid, name in TOPICS.items()
                ],
            }
        )
        engine = create_db_engine(settings.database_url)
        Base.metadata.create_all(engine)
        factory = make_session_factory(engine)
        for outlet, path in paths.items():
            server.add_file(path, rss([], title=outlet, language=outlets[outlet][0]["lang"]))
        sync_feeds(factory, settings)
        with factory() as session:
            feed_ids = {feed.url: feed.id for feed in session.scalars(select(Feed))}
        matcher = LabelMatcher(items)
        published: dict[str, list[Item]] = defaultdict(list)
        for step in sorted(set(times.values())):
            changed = set()
            for outlet, entries in outlets.items():
                for item in entries:
                    if times[item["id"]] == step:
                        published[outlet].insert(
                            0, Item(item["id"], item["title"], item["summary"], item["url"], published=step)
                        )
                        changed.add(outlet)
            for outlet in changed:
                language = outlets[outlet][0]["lang"]
                server.set_content(
                    paths[outlet], rss(published[outlet][:50], title=outlet, language=language)
                )
                poll_feed(
                    factory, settings, feed_ids[server.url(paths[outlet])], owner="eval", now=step, force=True
                )
            classify_pending(factory, settings, matcher, now=step)
            deliver_due(factory, settings, now=step)
        hook.wait_idle()
        with factory() as session:
            rows = session.execute(
                select(Article.item_key, StoryArticle.story_id).join(
                    StoryArticle, StoryArticle.article_id == Article.id
                )
            ).all()
            predicted = {str(key): int(story) for key, story in rows}
        engine.dispose()
    by_title = {item["title"].strip(): item for item in items}
    names = {name: tid for tid, name in TOPICS.items()}
    pairs = {(story_of[item["id"]], topic) for item in items for topic in item["labels"]}
    alerted: set[tuple[str, str]] = set()
    story_alerts = 0
    every = 0
    for request in hook.delivered:
        if request.path.startswith("/every"):
            every += 1
            continue
        story_alerts += 1
        heading = re.match(r"^\[([^\]]+)\] (.*)$", request.json["title"])
        assert heading is not None, request.json["title"]
        item = by_title.get(heading.group(2).strip())
        assert item is not None, f"alert for an unknown item: {heading.group(2)!r}"
        alerted.add((story_of[item["id"]], names[heading.group(1)]))
    members: dict[int, set[str]] = defaultdict(set)
    topics_of: dict[str, set[str]] = defaultdict(set)
    for item in items:
        topics_of[story_of[item["id"]]] |= set(item["labels"])
    for item_key, story_id in predicted.items():
        members[story_id].add(story_of[item_key])
    mixed = [
        sorted(keys)
        for keys in members.values()
        if len(keys) > 1 and any(topics_of[a] & topics_of[b] for a in keys for b in keys if a < b)
    ]
    parts: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for item_key, story_id in predicted.items():
        parts[story_of[item_key]][story_id].append(item_key)
    split = {key: list(groups.values()) for key, groups in parts.items() if len(groups) > 1}
    return Figures(
        timing, len(pairs), story_alerts, len(alerted & pairs), sorted(pairs - alerted), every, mixed, split
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--timing", choices=["dated", "spread", "month", "once"], action="append")
    parser.add_argument("--window", type=float, default=72.0, help="stories.window in hours")
    parser.add_argument("--similarity", type=float, default=0.89)
    args = parser.parse_args(argv)
    counts: Counter[str] = Counter()
    for timing in args.timing or ["dated", "spread", "month", "once"]:
        figures = run(timing, args.window, args.similarity)
        print(figures.line(), flush=True)
        for story, topic in figures.missed:
            print(f"    not alerted: ({story}, {topic})")
        for keys in figures.mixed:
            print(f"    one story holds: {', '.join(keys)}")
        for key, groups in sorted(figures.split.items()):
            print(f"    split in {len(groups)}: {key}: {' | '.join(' '.join(sorted(g)) for g in groups)}")
        counts[timing] = figures.alerts
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
