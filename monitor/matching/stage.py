"""The matching stage: new articles scored against every topic.

Scoring (which may run an embedding model for a while) happens outside any
transaction, so SQLite's single writer is not held during it. The results are
then written in one transaction per batch: the article is marked classified
by a conditional UPDATE (``classified_at IS NULL``), and only the caller that
wins it inserts the matches and, **in the same transaction**, one outbox row
per (match, channel). Two workers classifying the same article therefore
produce one set of matches and one set of deliveries, and a crash before the
commit leaves the article pending for the next sweep.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerting.routing import RoutedMatch, route
from monitor.config import Settings
from monitor.matching.base import ArticleText, TopicDecision, TopicMatcher
from monitor.matching.embed import embed
from monitor.storage import articles, run_in_transaction, utcnow
from monitor.storage.articles import PendingArticle
from monitor.stories.assign import ArticleForStory, StoryPlacer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewMatch:
    match_id: int
    article_id: int
    topic_id: str
    score: float
    title: str


@dataclass
class ClassifyReport:
    articles: int = 0
    matches: list[NewMatch] = field(default_factory=list)
    delivery_ids: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)  # articles set aside unclassified


def pending_article_ids(session_factory: sessionmaker[Session], *, limit: int = 1000) -> list[int]:
    with session_factory() as session:
        return articles.pending_article_ids(session, limit=limit)


def classify_pending(
    session_factory: sessionmaker[Session],
    settings: Settings,
    matcher: TopicMatcher,
    *,
    article_ids: Sequence[int] | None = None,
    batch_size: int = 64,
    limit: int | None = None,
    now: datetime | None = None,
) -> ClassifyReport:
    """Classify pending articles (all of them, or those of ``article_ids``)."""
    report = ClassifyReport()
    remaining = list(article_ids) if article_ids is not None else None
    while limit is None or report.articles < limit:
        size = batch_size if limit is None else min(batch_size, limit - report.articles)
        if remaining is not None:
            if not remaining:
                break
            batch_ids, remaining = remaining[:size], remaining[size:]
            pending = _load(session_factory, batch_ids)
        else:
            pending = _load(session_factory, None, size)
            if not pending:
                break
        if pending:
            _classify_batch(session_factory, settings, matcher, pending, now, report)
    return report


def _classify_batch(
    session_factory: sessionmaker[Session],
    settings: Settings,
    matcher: TopicMatcher,
    pending: Sequence[PendingArticle],
    now: datetime | None,
    report: ClassifyReport,
) -> None:
    try:
        _classify_and_store(session_factory, settings, matcher, pending, now, report)
        return
    except Exception:
        # One bad article must not block every article after it (pending
        # articles are taken oldest first): retry one by one and set aside
        # the ones that fail alone.
        log.exception("classifying %d articles failed; retrying one by one", len(pending))
    for article in pending:
        try:
            _classify_and_store(session_factory, settings, matcher, [article], now, report)
        except Exception:
            log.exception("article %d cannot be classified; set aside unmatched", article.id)
            _set_aside(session_factory, article.id, now)
            report.failed.append(article.id)


def _classify_and_store(
    session_factory: sessionmaker[Session],
    settings: Settings,
    matcher: TopicMatcher,
    pending: Sequence[PendingArticle],
    now: datetime | None,
    report: ClassifyReport,
) -> None:
    cut = settings.full_text.classify_chars
    texts = [ArticleText(p.title, p.summary, p.language, _body_start(p.body, cut)) for p in pending]
    decisions = matcher.classify(texts)
    vectors = _story_vectors(pending, texts, decisions)
    _store(session_factory, settings, matcher.version, pending, decisions, vectors, now, report)


def _matched(decision: TopicDecision) -> bool:
    return decision.matched and math.isfinite(decision.score)


def _story_vectors(
    pending: Sequence[PendingArticle],
    texts: Sequence[ArticleText],
    decisions: Sequence[Sequence[TopicDecision]],
) -> dict[int, np.ndarray]:
    """The multilingual vector of each matched article, for story grouping.
    The classifier embedded the same text a moment ago, so ``embed``'s
    per-process cache answers without running the model again."""
    matched = {
        article.id: text.text
        for article, text, article_decisions in zip(pending, texts, decisions, strict=True)
        if any(_matched(decision) for decision in article_decisions)
    }
    if not matched:
        return {}
    return dict(zip(matched, embed(list(matched.values())), strict=True))


def _for_story(article: PendingArticle, vector: np.ndarray, at: datetime) -> ArticleForStory:
    return ArticleForStory(
        article_id=article.id,
        feed_id=article.feed_id,
        language=article.language,
        at=article.seen_at or at,
        title=article.title,
        summary=article.summary,
        link=article.link,
        vector=vector,
    )


def _body_start(body: str | None, chars: int) -> str:
    """The first ``chars`` characters of a page's text, ending on a word."""
    if not body or chars <= 0:
        return ""
    if len(body) <= chars:
        return body
    cut = body[:chars]
    space = cut.rfind(" ")
    return cut[:space] if space > chars // 2 else cut


def _set_aside(session_factory: sessionmaker[Session], article_id: int, now: datetime | None) -> None:
    run_in_transaction(
        session_factory,
        lambda session: articles.claim_for_classification(session, article_id, at=now or utcnow()),
    )


def _json_safe(value: Any) -> Any:
    """Evidence as strict JSON: PostgreSQL refuses NaN and infinities."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _load(
    session_factory: sessionmaker[Session], ids: Sequence[int] | None, limit: int = 0
) -> list[PendingArticle]:
    with session_factory() as session:
        return articles.pending_articles(session, ids, limit=limit)


def _store(
    session_factory: sessionmaker[Session],
    settings: Settings,
    model_version: str,
    pending: Sequence[PendingArticle],
    decisions: Sequence[Sequence[TopicDecision]],
    vectors: dict[int, np.ndarray],
    now: datetime | None,
    report: ClassifyReport,
) -> None:
    placers: list[StoryPlacer] = []

    def work(session: Session) -> tuple[int, list[NewMatch], list[int]]:
        at = now or utcnow()
        placers.clear()
        classified = 0
        new_matches: list[NewMatch] = []
        delivery_ids: list[int] = []
        for article, article_decisions in zip(pending, decisions, strict=True):
            if not articles.claim_for_classification(session, article.id, at=at):
                continue  # another worker classified it first
            classified += 1
            routed: list[RoutedMatch] = []
            for decision in article_decisions:
                if not _matched(decision):
                    continue
                evidence = decision.evidence
                if article.body_note:
                    # Whether the page's text was read: the first thing to
                    # check when a teaser-only feed matched, or did not.
                    evidence = {**evidence, "full_text": article.body_note}
                match_id = articles.insert_match(
                    session,
                    article.id,
                    decision.topic_id,
                    score=round(float(decision.score), 4),
                    evidence=_json_safe(evidence),
                    model_version=model_version,
                    at=at,
                )
                if match_id is None:
                    continue
                new_matches.append(
                    NewMatch(match_id, article.id, decision.topic_id, decision.score, article.title)
                )
                routed.append(RoutedMatch(match_id, decision.topic_id, round(float(decision.score), 4)))
            if not routed:
                continue
            story = None
            if article.id in vectors:
                if not placers:
                    placers.append(StoryPlacer(session, settings, now=at))
                story = placers[0].place(_for_story(article, vectors[article.id], at), at=at)
            for match in routed:
                delivery_ids.extend(route(session, settings, match, story, at=at))
        for placer in placers:
            placer.finish()
        return classified, new_matches, delivery_ids

    classified, new_matches, delivery_ids = run_in_transaction(session_factory, work)
    for placer in placers:
        placer.confirm()
    report.articles += classified
    report.matches.extend(new_matches)
    report.delivery_ids.extend(delivery_ids)
    for new in new_matches:
        log.info("match [%s %.2f] %s", new.topic_id, new.score, new.title)
