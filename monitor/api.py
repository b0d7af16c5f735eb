"""The HTTP API: read-only access to what the monitor found.

``GET /matches`` takes the same filters as ``monitor matches``; ``/feeds``,
``/topics`` and ``/deliveries`` show state; ``/health`` is for probes.
Nothing here shows a channel's Apprise URL: only channel names leave.

(No ``from __future__ import annotations`` here: FastAPI resolves the
``Annotated`` dependencies declared inside ``create_app`` at runtime.)
"""

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from monitor.config import Settings
from monitor.ingest.fetch import safe_url
from monitor.query import FilterError, find_matches, match_filter
from monitor.storage import Delivery, DeliveryState, Feed, create_db_engine, make_session_factory


def create_app(settings: Settings) -> FastAPI:
    engine = create_db_engine(settings.database_url)
    factory = make_session_factory(engine)
    app = FastAPI(title="news-monitor", version="0.1.0")

    def session() -> Iterator[Session]:
        with factory() as s:
            yield s

    SessionDep = Annotated[Session, Depends(session)]

    @app.get("/health")
    def health(s: SessionDep) -> dict[str, Any]:
        s.execute(text("SELECT 1"))
        return {"status": "ok"}

    @app.get("/matches")
    def matches(
        s: SessionDep,
        topic: Annotated[list[str] | None, Query()] = None,
        since: str | None = None,
        until: str | None = None,
        feed: str | None = None,
        lang: str | None = None,
        min_score: Annotated[float | None, Query(ge=0, le=1)] = None,
        search: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> dict[str, Any]:
        try:
            flt = match_filter(
                topic=topic or (),
                since=since,
                until=until,
                feed=feed,
                lang=lang,
                min_score=min_score,
                search=search,
                limit=limit,
            )
        except FilterError as exc:
            raise HTTPException(status_code=422, detail=f"{exc.field}: {exc}") from None
        rows = find_matches(s, flt)
        return {"count": len(rows), "matches": [row.as_json() for row in rows]}

    @app.get("/feeds")
    def feeds(s: SessionDep) -> list[dict[str, Any]]:
        return [
            {
                "id": f.id,
                "name": f.name,
                "url": safe_url(f.url),
                "status": f.status,
                "next_check_at": f.next_check_at.isoformat(),
                "consecutive_errors": f.consecutive_errors,
                "last_error": f.last_error,
                "last_success_at": f.last_success_at.isoformat() if f.last_success_at else None,
            }
            for f in s.scalars(select(Feed).order_by(Feed.id))
        ]

    @app.get("/topics")
    def topics() -> list[dict[str, Any]]:
        return [
            {
                "id": t.id,
                "name": t.name,
                "description": t.description,
                "threshold": t.threshold,
                "model": t.model,
                "channels": list(t.channels),
            }
            for t in settings.topics
        ]

    @app.get("/deliveries")
    def deliveries(s: SessionDep) -> dict[str, int]:
        query = select(Delivery.state, func.count()).group_by(Delivery.state)
        counts = {state: count for state, count in s.execute(query)}
        return {state.value: int(counts.get(state.value, 0)) for state in DeliveryState}

    return app
