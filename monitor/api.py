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
from sqlalchemy import text
from sqlalchemy.orm import Session

from monitor.config import Settings
from monitor.query import FilterError, match_filter
from monitor.storage import create_db_engine, make_session_factory, utcnow
from monitor.storage.outbox import delivery_counts
from monitor.storage.views import find_matches, list_feeds


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
        views = list_feeds(s, now=utcnow(), silent_after=settings.fetch.silent_after)
        return [feed.as_json() for feed in views]

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
        return {state.value: count for state, count in delivery_counts(s).items()}

    return app
