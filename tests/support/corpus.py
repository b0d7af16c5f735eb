"""A stored history of feeds, articles, matches, deliveries and feedback,
written in bulk: what the page tests browse and what ``bench/pages.py``
measures the pages on (100,000 matches).

Deterministic for a seed. Titles mix English and French words of the three
shipped topics with general news words, so a search finds some of them;
evidence has the shape the learned model stores (reason, terms, nearest
seed passage, model version).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.orm import Session, sessionmaker

from monitor.storage import Article, Delivery, DeliveryState, Feed, Feedback, FeedStatus, Match, utcnow

TOPICS = ("ai-likeness", "strike-negotiations", "digital-doubles")
TOPIC_NAMES = {
    "ai-likeness": "AI and performers' likeness",
    "strike-negotiations": "Strike negotiations",
    "digital-doubles": "Digital doubles",
}
MODEL_VERSION = "tm-1a4f26e29e27+r0a1b2c3d"

_EN = (
    "actors",
    "studios",
    "strike",
    "union",
    "contract",
    "AI",
    "voice",
    "likeness",
    "deal",
    "talks",
    "Hollywood",
    "replica",
    "scan",
    "extras",
    "performers",
    "ratify",
    "video game",
    "clone",
)
_FR = (
    "acteurs",
    "studios",
    "grève",
    "syndicat",
    "contrat",
    "IA",
    "voix",
    "doublage",
    "accord",
    "négociations",
    "réplique",
    "comédiens",
    "numérique",
    "clonage",
    "figurants",
)
_GENERAL = ("market", "weather", "election", "football", "budget", "festival", "series", "premiere")
_FEEDS = (
    ("Variety", "en"),
    ("Deadline", "en"),
    ("The Hollywood Reporter", "en"),
    ("IndieWire", "en"),
    ("Le Monde Culture", "fr"),
    ("Libération", "fr"),
    ("Radio-Canada Arts", "fr"),
    ("Le Devoir", "fr"),
)


@dataclass(frozen=True)
class Corpus:
    feed_ids: list[int]
    article_ids: list[int]  # newest last
    matches: int
    newest_match_at: datetime


def _title(rng: random.Random, language: str, index: int) -> str:
    words = _EN if language == "en" else _FR
    picked = [*rng.sample(words, 3), rng.choice(_GENERAL)]
    return f"{' '.join(picked).capitalize()} ({index})"


def _evidence(rng: random.Random, title: str, score: float) -> dict[str, Any]:
    terms = [w.lower() for w in title.split()[:3]]
    return {
        "reason": f"matches ({score:.2f} vs 0.50): close to example and seed passage; terms {', '.join(terms)}",
        "terms": terms,
        "embedded": True,
        "nearest_passage": {
            "kind": "passage",
            "seed": f"00{rng.randrange(5)}_e71ccef261fdec63.txt",
            "passage": rng.randrange(1, 20),
            "similarity": round(rng.uniform(0.75, 0.92), 4),
        },
        "model_version": MODEL_VERSION,
    }


def fill(
    factory: sessionmaker[Session],
    *,
    matches: int,
    days: float = 365,
    unmatched_share: float = 0.3,
    seed: int = 7,
    now: datetime | None = None,
    chunk: int = 5000,
) -> Corpus:
    """Store ``matches`` matches spread evenly over the last ``days`` days
    (newest a minute ago), their articles and deliveries, some articles that
    matched nothing, and a little feedback."""
    rng = random.Random(seed)
    now = now or utcnow()
    with factory.begin() as session:
        feeds = [
            Feed(
                url=f"https://{name.lower().replace(' ', '-').replace('é', 'e')}.example/rss",
                name=name,
                language=language,
                interval_seconds=300,
                status=FeedStatus.ACTIVE,
                next_check_at=now + timedelta(minutes=5),
                consecutive_errors=0,
                poll_attempts=0,
                polls_ok=rng.randrange(100, 1000),
                polls_not_modified=rng.randrange(100),
                polls_failed=rng.randrange(10),
                last_success_at=now - timedelta(minutes=2),
                last_new_article_at=now - timedelta(minutes=30),
                created_at=now - timedelta(days=days + 1),
            )
            for name, language in _FEEDS
        ]
        session.add_all(feeds)
        session.flush()
        feed_ids = [f.id for f in feeds]
    # Of every ten articles, the first ``unmatched_tenths`` matched nothing.
    unmatched_tenths = min(9, round(unmatched_share * 10))
    total_articles = -(-matches // (10 - unmatched_tenths)) * 10
    span = timedelta(days=days)
    step = span / max(total_articles, 1)
    first = now - span
    article_ids: list[int] = []
    match_count = 0
    next_id = 1
    with factory() as session:
        next_id = (session.query(Article.id).order_by(Article.id.desc()).limit(1).scalar() or 0) + 1
    match_id = 1
    with factory() as session:
        match_id = (session.query(Match.id).order_by(Match.id.desc()).limit(1).scalar() or 0) + 1
    for start in range(0, total_articles, chunk):
        articles: list[dict[str, Any]] = []
        rows: list[dict[str, Any]] = []
        deliveries: list[dict[str, Any]] = []
        for index in range(start, min(start + chunk, total_articles)):
            feed_index = index % len(feed_ids)
            language = _FEEDS[feed_index][1]
            fetched = first + step * (index + 1) - timedelta(minutes=1)
            title = _title(rng, language, index)
            article_id = next_id
            next_id += 1
            articles.append(
                {
                    "id": article_id,
                    "feed_id": feed_ids[feed_index],
                    "item_key": f"item-{article_id}",
                    "title": title,
                    "summary": f"{title}. " + " ".join(rng.sample(_GENERAL, 4)),
                    "link": f"https://news.example/{language}/{article_id}",
                    "language": language,
                    "published_at": fetched - timedelta(minutes=rng.randrange(5, 60)),
                    "fetched_at": fetched,
                    "content_hash": f"{article_id:064x}",
                    "classified_at": fetched + timedelta(seconds=rng.uniform(0.5, 20)),
                }
            )
            article_ids.append(article_id)
            if index % 10 < unmatched_tenths or match_count >= matches:
                continue
            score = round(rng.uniform(0.5, 0.99), 4)
            created = fetched + timedelta(seconds=rng.uniform(1, 30))
            rows.append(
                {
                    "id": match_id,
                    "article_id": article_id,
                    "topic_id": TOPICS[rng.randrange(len(TOPICS))],
                    "score": score,
                    "evidence": _evidence(rng, title, score),
                    "model_version": MODEL_VERSION,
                    "created_at": created,
                }
            )
            state = rng.choices(
                (DeliveryState.PENDING, DeliveryState.SENT, DeliveryState.DEAD), weights=(2, 95, 3)
            )[0]
            deliveries.append(
                {
                    "match_id": match_id,
                    "channel": "newsroom",
                    "state": state,
                    "attempts": 8 if state == DeliveryState.DEAD else 1,
                    "next_attempt_at": created,
                    "last_error": "HTTP 500 from hooks.slack.com" if state == DeliveryState.DEAD else None,
                    "sent_at": created + timedelta(seconds=rng.uniform(0.5, 5))
                    if state == DeliveryState.SENT
                    else None,
                    "created_at": created,
                }
            )
            match_id += 1
            match_count += 1
        with factory.begin() as session:
            session.execute(insert(Article), articles)
            if rows:
                session.execute(insert(Match), rows)
                session.execute(insert(Delivery), deliveries)
    with factory.begin() as session:
        judged = rng.sample(article_ids, min(50, len(article_ids) // 10))
        session.execute(
            insert(Feedback),
            [
                {"article_id": a, "topic_id": TOPICS[i % 3], "relevant": i % 4 != 0, "created_at": now}
                for i, a in enumerate(judged)
            ],
        )
        newest = session.query(Match.created_at).order_by(Match.created_at.desc()).limit(1).scalar() or now
        if session.get_bind().dialect.name == "postgresql":
            # The ids were given: move the sequences past them for later inserts.
            for table in ("articles", "matches"):
                session.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                    )
                )
    return Corpus(feed_ids, article_ids, match_count, newest)
