"""Read models of the pages and the versioned API: matches page by page,
counts per topic per day, one article with its matches and feedback.

The list of matches uses :class:`~monitor.storage.views.Keyset` pagination:
a cursor names the last match shown, so the next page is a range scan of
``ix_matches_created_id`` whatever its depth, and no match is shown twice or
skipped while new ones arrive. A cursor is opaque to clients (URL-safe
base64 of the keyset); :func:`decode_cursor` refuses anything else.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.storage.models import Article, Delivery, DeliveryState, Feed, Feedback, Match
from monitor.storage.views import Keyset, MatchFilter, MatchRow, filter_matches, find_matches
from monitor.urls import redact_url


class CursorError(ValueError):
    """A page cursor this service did not make."""


OLDER, NEWER = "o", "n"


def encode_cursor(keyset: Keyset, direction: str) -> str:
    """A cursor to the page just ``OLDER`` or ``NEWER`` than ``keyset``."""
    raw = f"{direction}|{keyset.matched_at.astimezone(UTC).isoformat()}|{keyset.match_id}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, Keyset]:
    """(direction, keyset) of a cursor made by :func:`encode_cursor`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        direction, moment, match_id = raw.split("|")
        matched_at = datetime.fromisoformat(moment)
        if direction not in (OLDER, NEWER) or matched_at.tzinfo is None or not match_id.isdigit():
            raise ValueError(raw)
        return direction, Keyset(matched_at.astimezone(UTC), int(match_id))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise CursorError("not a cursor of this service: use a next_cursor or prev_cursor it gave") from None


@dataclass(frozen=True)
class MatchPage:
    rows: list[MatchRow]
    next_cursor: str | None  # the next page (older matches), None on the last one
    prev_cursor: str | None  # the previous page (newer matches), None on the first one


def match_page(session: Session, flt: MatchFilter, cursor: str | None = None) -> MatchPage:
    """One page of ``flt.limit`` matches, newest first, and the cursors
    around it; ``cursor`` is one a previous page gave."""
    direction, keyset = decode_cursor(cursor) if cursor else (OLDER, None)
    wanted = flt.limit
    probe = replace(flt, limit=wanted + 1)  # one more: is there a page beyond?
    if direction == NEWER:
        rows = find_matches(session, probe, newer_than=keyset)
        more = len(rows) > wanted
        rows = rows[-wanted:]  # the extra row is the newest one
        has_newer, has_older = more, True
    else:
        rows = find_matches(session, probe, older_than=keyset)
        more = len(rows) > wanted
        rows = rows[:wanted]
        has_newer, has_older = keyset is not None, more
    return MatchPage(
        rows=rows,
        next_cursor=encode_cursor(rows[-1].keyset, OLDER) if rows and has_older else None,
        prev_cursor=encode_cursor(rows[0].keyset, NEWER) if rows and has_newer else None,
    )


def count_matches(session: Session, flt: MatchFilter) -> int:
    """How many matches the filter selects, on every page together (a scan
    of them: the API gives it only when asked)."""
    return int(session.scalar(filter_matches(select(func.count(Match.id)), flt)) or 0)


def _as_date(value: Any) -> date:
    """``date(created_at)``: a string on SQLite, a date on PostgreSQL."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


@dataclass(frozen=True)
class DailyCounts:
    """Matches per topic per UTC day, for days ``first`` to ``last``."""

    first: date
    last: date
    counts: dict[tuple[date, str], int]

    @property
    def days(self) -> list[date]:
        """Newest first."""
        span = (self.last - self.first).days
        return [self.last - timedelta(days=offset) for offset in range(span + 1)]

    @property
    def topics(self) -> list[str]:
        return sorted({topic for _, topic in self.counts})

    def total(self, topic: str) -> int:
        return sum(count for (_, t), count in self.counts.items() if t == topic)

    @property
    def busiest(self) -> int:
        return max(self.counts.values(), default=0)

    def as_json(self) -> list[dict[str, Any]]:
        return [
            {"day": day.isoformat(), "topic": topic, "matches": count}
            for (day, topic), count in sorted(self.counts.items(), reverse=True)
        ]


def daily_counts(session: Session, flt: MatchFilter, *, first: date, last: date) -> DailyCounts:
    """Matches per topic per UTC day between two days (both included), as
    the filter selects them (its own since/until narrow the span further)."""
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    day = func.date(Match.created_at)
    query = filter_matches(
        select(day, Match.topic_id, func.count(Match.id)).where(
            Match.created_at >= start, Match.created_at < end
        ),
        flt,
    ).group_by(day, Match.topic_id)
    counts = {(_as_date(value), str(topic)): int(count) for value, topic, count in session.execute(query)}
    return DailyCounts(first, last, counts)


# --- one article -----------------------------------------------------------------


@dataclass(frozen=True)
class ArticleMatch:
    match_id: int
    topic_id: str
    score: float
    evidence: dict[str, Any]
    model_version: str
    matched_at: datetime
    deliveries: list[tuple[str, DeliveryState]]  # (channel, state)


@dataclass(frozen=True)
class ArticleView:
    id: int
    title: str
    summary: str
    link: str | None
    language: str | None
    published_at: datetime | None
    fetched_at: datetime
    classified_at: datetime | None
    feed_id: int
    feed_name: str
    feed_url: str
    matches: dict[str, ArticleMatch] = field(default_factory=dict)  # by topic id
    feedback: dict[str, bool] = field(default_factory=dict)  # topic id -> relevant

    def as_json(self) -> dict[str, Any]:
        def when(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment else None

        return {
            "id": self.id,
            "title": self.title,
            "summary": self.summary,
            "link": self.link,
            "language": self.language,
            "published_at": when(self.published_at),
            "fetched_at": when(self.fetched_at),
            "classified_at": when(self.classified_at),
            "feed": {"id": self.feed_id, "name": self.feed_name, "url": self.feed_url},
            "matches": [
                {
                    "match_id": m.match_id,
                    "topic": m.topic_id,
                    "score": m.score,
                    "evidence": m.evidence,
                    "model_version": m.model_version,
                    "matched_at": m.matched_at.isoformat(),
                    "deliveries": [{"channel": c, "state": s.value} for c, s in m.deliveries],
                }
                for m in self.matches.values()
            ],
            "feedback": [{"topic": topic, "relevant": relevant} for topic, relevant in self.feedback.items()],
        }


def article_view(session: Session, article_id: int) -> ArticleView | None:
    """An article with its matches (and their deliveries) and the feedback given on it."""
    found = session.execute(
        select(Article, Feed).join(Feed, Article.feed_id == Feed.id).where(Article.id == article_id)
    ).first()
    if found is None:
        return None
    article, feed = found
    sent: dict[int, list[tuple[str, DeliveryState]]] = {}
    for match_id, channel, state in session.execute(
        select(Delivery.match_id, Delivery.channel, Delivery.state)
        .join(Match, Delivery.match_id == Match.id)
        .where(Match.article_id == article_id)
        .order_by(Delivery.id)
    ):
        sent.setdefault(match_id, []).append((channel, state))
    matches = {
        match.topic_id: ArticleMatch(
            match_id=match.id,
            topic_id=match.topic_id,
            score=match.score,
            evidence=dict(match.evidence or {}),
            model_version=match.model_version,
            matched_at=match.created_at,
            deliveries=sent.get(match.id, []),
        )
        for match in session.scalars(select(Match).where(Match.article_id == article_id).order_by(Match.id))
    }
    feedback = {
        topic: bool(relevant)
        for topic, relevant in session.execute(
            select(Feedback.topic_id, Feedback.relevant).where(Feedback.article_id == article_id)
        )
    }
    return ArticleView(
        id=article.id,
        title=article.title,
        summary=article.summary,
        link=article.link,
        language=article.language,
        published_at=article.published_at,
        fetched_at=article.fetched_at,
        classified_at=article.classified_at,
        feed_id=feed.id,
        feed_name=feed.name,
        feed_url=redact_url(feed.url),
        matches=matches,
        feedback=feedback,
    )


def feedback_counts(session: Session) -> dict[str, tuple[int, int]]:
    """Per topic: (judged relevant, judged not relevant)."""
    counts: dict[str, list[int]] = {}
    for topic, relevant, count in session.execute(
        select(Feedback.topic_id, Feedback.relevant, func.count()).group_by(
            Feedback.topic_id, Feedback.relevant
        )
    ):
        counts.setdefault(topic, [0, 0])[0 if relevant else 1] += int(count)
    return {topic: (pair[0], pair[1]) for topic, pair in counts.items()}
