"""The query stage: stored matches, filtered, for the CLI and the HTTP API."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from monitor.ingest.fetch import safe_url
from monitor.storage import Article, Feed, Match, utcnow

_RELATIVE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(value: str, *, now: datetime | None = None, end_of_day: bool = False) -> datetime:
    """A point in time from ``24h``, ``7d``, ``2w``, a date or an ISO datetime.

    A relative value counts back from now. A bare date means its start (or,
    for ``--until``, its end), in UTC.
    """
    now = now or utcnow()
    relative = _RELATIVE.match(value)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        try:
            return now - timedelta(**{_UNITS[unit]: amount})
        except OverflowError:
            raise ValueError(f"{value!r} reaches too far back") from None
    try:
        if len(value.strip()) == 10:
            day = date.fromisoformat(value.strip())
            moment = datetime.combine(day, time.max if end_of_day else time.min)
            return moment.replace(tzinfo=UTC)
        parsed = datetime.fromisoformat(value.strip())
    except (ValueError, OverflowError):
        raise ValueError(
            f"{value!r} is not a time: use 24h, 7d, 2w, 2026-11-20 or 2026-11-20T08:00"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@dataclass(frozen=True)
class MatchFilter:
    topic: Sequence[str] = ()
    since: datetime | None = None
    until: datetime | None = None
    feed: str | None = None  # feed name or URL, or a part of either
    lang: str | None = None
    min_score: float | None = None
    search: str | None = None
    limit: int = 50


class FilterError(ValueError):
    """A filter value that cannot be used; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def match_filter(
    *,
    topic: Sequence[str] = (),
    since: str | None = None,
    until: str | None = None,
    feed: str | None = None,
    lang: str | None = None,
    min_score: float | None = None,
    search: str | None = None,
    limit: int = 50,
) -> MatchFilter:
    """A ``MatchFilter`` from the words a person types (the CLI and the API):
    ``since``/``until`` as ``24h``, ``7d``, a date or an ISO time."""

    def when(value: str | None, field: str, end_of_day: bool = False) -> datetime | None:
        if value is None:
            return None
        try:
            return parse_when(value, end_of_day=end_of_day)
        except ValueError as exc:
            raise FilterError(field, str(exc)) from None

    return MatchFilter(
        topic=tuple(topic),
        since=when(since, "since"),
        until=when(until, "until", end_of_day=True),
        feed=feed,
        lang=lang,
        min_score=min_score,
        search=search,
        limit=limit,
    )


@dataclass(frozen=True)
class MatchRow:
    match_id: int
    topic_id: str
    score: float
    matched_at: datetime
    evidence: dict[str, Any]
    model_version: str
    article_id: int
    title: str
    summary: str
    link: str | None
    language: str | None
    published_at: datetime | None
    feed_name: str
    feed_url: str

    def as_json(self) -> dict[str, Any]:
        """The machine-readable form: one object per match (JSON lines, API)."""
        return {
            "match_id": self.match_id,
            "topic": self.topic_id,
            "score": self.score,
            "matched_at": self.matched_at.isoformat(),
            "evidence": self.evidence,
            "model_version": self.model_version,
            "article": {
                "id": self.article_id,
                "title": self.title,
                "summary": self.summary,
                "link": self.link,
                "language": self.language,
                "published_at": self.published_at.isoformat() if self.published_at else None,
                "feed": {"name": self.feed_name, "url": self.feed_url},
            },
        }


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def find_matches(session: Session, flt: MatchFilter) -> list[MatchRow]:
    """Matches newest first, as the filter says."""
    query = (
        select(Match, Article, Feed)
        .join(Article, Match.article_id == Article.id)
        .join(Feed, Article.feed_id == Feed.id)
    )
    if flt.topic:
        query = query.where(Match.topic_id.in_(list(flt.topic)))
    if flt.since is not None:
        query = query.where(Match.created_at >= flt.since)
    if flt.until is not None:
        query = query.where(Match.created_at <= flt.until)
    if flt.feed:
        pattern = f"%{_escape_like(flt.feed)}%"
        query = query.where(or_(Feed.name.ilike(pattern, escape="\\"), Feed.url.ilike(pattern, escape="\\")))
    if flt.lang:
        query = query.where(Article.language == flt.lang)
    if flt.min_score is not None:
        query = query.where(Match.score >= flt.min_score)
    if flt.search:
        for word in flt.search.split():
            pattern = f"%{_escape_like(word)}%"
            query = query.where(
                or_(Article.title.ilike(pattern, escape="\\"), Article.summary.ilike(pattern, escape="\\"))
            )
    query = query.order_by(Match.created_at.desc(), Match.id.desc()).limit(flt.limit)
    return [
        MatchRow(
            match_id=match.id,
            topic_id=match.topic_id,
            score=match.score,
            matched_at=match.created_at,
            evidence=match.evidence,
            model_version=match.model_version,
            article_id=article.id,
            title=article.title,
            summary=article.summary,
            link=article.link,
            language=article.language,
            published_at=article.published_at,
            feed_name=feed.name,
            feed_url=safe_url(feed.url),
        )
        for match, article, feed in session.execute(query).all()
    ]


def evidence_line(evidence: dict[str, Any]) -> str:
    """The evidence in one line: the reason, else the matched terms."""
    reason = evidence.get("reason")
    if isinstance(reason, str) and reason:
        return reason
    terms = evidence.get("terms") or evidence.get("matched_terms")
    if isinstance(terms, list) and terms:
        return "terms: " + ", ".join(str(t) for t in terms[:8])
    return ""
