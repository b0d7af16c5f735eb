"""``monitor backtest``: re-score stored articles with the current model.

Compares the current decisions for one topic with the stored ``Match`` rows
and lists what would now match and what would stop matching. Read-only:
nothing is written and nothing is sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from monitor.matching.base import ArticleText, TopicDecision, TopicMatcher
from monitor.storage.articles import articles_fetched_since, matched_article_ids
from monitor.storage.models import Article, utcnow


@dataclass(frozen=True)
class BacktestRow:
    article_id: int
    title: str
    stored: bool  # a Match row exists
    now: bool  # the current matcher matches
    score: float
    threshold: float
    reason: str

    @property
    def change(self) -> str:
        if self.now and not self.stored:
            return "new"
        if self.stored and not self.now:
            return "gone"
        return "same"


@dataclass(frozen=True)
class BacktestResult:
    topic_id: str
    since: datetime
    scanned: int
    rows: list[BacktestRow]

    @property
    def new(self) -> list[BacktestRow]:
        return [r for r in self.rows if r.change == "new"]

    @property
    def gone(self) -> list[BacktestRow]:
        return [r for r in self.rows if r.change == "gone"]

    @property
    def kept(self) -> int:
        return sum(1 for r in self.rows if r.stored and r.now)


def _batches(session: Session, since: datetime, size: int) -> Iterator[list[Article]]:
    """Articles fetched since ``since``: what the monitor saw in the window,
    whatever date the publisher put on them."""
    last_id = 0
    while True:
        batch = articles_fetched_since(session, since, after_id=last_id, limit=size)
        if not batch:
            return
        yield batch
        last_id = batch[-1].id


def rescore(
    session: Session,
    matcher: TopicMatcher,
    topic_id: str,
    start: datetime,
    *,
    batch_size: int = 256,
) -> Iterator[tuple[Article, bool, TopicDecision]]:
    """Every article fetched since ``start``, whether a match is stored for
    it, and the current matcher's decision for the topic."""
    stored = matched_article_ids(session, topic_id)
    for batch in _batches(session, start, batch_size):
        decisions = matcher.classify([ArticleText(a.title or "", a.summary or "", a.language) for a in batch])
        for article, row in zip(batch, decisions, strict=True):
            decision: TopicDecision | None = next((d for d in row if d.topic_id == topic_id), None)
            if decision is None:
                raise KeyError(f"topic {topic_id!r} is not configured")
            yield article, article.id in stored, decision


def backtest(
    session: Session,
    matcher: TopicMatcher,
    topic_id: str,
    since: timedelta,
    *,
    batch_size: int = 256,
) -> BacktestResult:
    start = utcnow() - since
    rows: list[BacktestRow] = []
    scanned = 0
    for article, was, decision in rescore(session, matcher, topic_id, start, batch_size=batch_size):
        scanned += 1
        if decision.matched or was:
            rows.append(
                BacktestRow(
                    article_id=article.id,
                    title=article.title,
                    stored=was,
                    now=decision.matched,
                    score=decision.score,
                    threshold=decision.threshold,
                    reason=str(decision.evidence.get("reason", "")),
                )
            )
    return BacktestResult(topic_id, start, scanned, rows)


@dataclass(frozen=True)
class ThresholdPreview:
    """What a new threshold would do to the window's matches, from one
    re-scoring: the scores do not depend on the threshold, so any number of
    thresholds are previewed from the same scores. Nothing is written."""

    topic_id: str
    since: datetime
    scanned: int
    current_threshold: float
    model_version: str
    # (score with the current model, a match is stored) per article that
    # scored above zero or has a stored match
    scores: tuple[tuple[float, bool], ...]

    @property
    def stored(self) -> int:
        return sum(1 for _, was in self.scores if was)

    def at(self, threshold: float) -> dict[str, float | int]:
        """Of the stored matches: how many the threshold keeps and drops; of
        the rest: how many it adds; and how many it matches in all."""
        keep = sum(1 for score, was in self.scores if was and score >= threshold)
        add = sum(1 for score, was in self.scores if not was and score >= threshold)
        return {
            "threshold": threshold,
            "stored": self.stored,
            "keep": keep,
            "drop": self.stored - keep,
            "add": add,
            "matches": keep + add,
        }


def threshold_preview(
    session: Session, matcher: TopicMatcher, topic_id: str, since: timedelta
) -> ThresholdPreview:
    """Re-score the window's articles once for a threshold preview (the
    backtest, keeping every score instead of only the decisions)."""
    start = utcnow() - since
    scanned = 0
    current = 0.5
    scores: list[tuple[float, bool]] = []
    for _, was, decision in rescore(session, matcher, topic_id, start):
        scanned += 1
        current = decision.threshold
        if decision.score > 0 or was:
            scores.append((decision.score, was))
    return ThresholdPreview(topic_id, start, scanned, current, matcher.version, tuple(scores))
