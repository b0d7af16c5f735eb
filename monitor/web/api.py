"""The HTTP API, version 1 (``/api/v1``): the data of the pages, for programs.

* Lists page by cursor: a response carries ``next_cursor`` (older items)
  and, for matches, ``prev_cursor`` (newer ones); pass one back as
  ``cursor``. A page stays right while new matches arrive.
* A query parameter an endpoint does not take is refused with 422, so a
  misspelt filter never silently returns everything.
* Writes (feedback, feed reset, delivery retry) need ``Authorization:
  Bearer TOKEN``; reads need it too when ``web.protect_reads`` is on.
* Nothing here shows a channel's Apprise URL or a feed's credentials.

(No ``from __future__ import annotations``: FastAPI reads these signatures
at runtime.)
"""

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from monitor.ingest.dispatch import reset_feed
from monitor.matching.feedback import FeedbackError, record_feedback
from monitor.query import FilterError, delivery_json, match_filter
from monitor.storage import DeliveryState, outbox, run_in_transaction, utcnow
from monitor.storage.browse import CursorError, article_view, count_matches, daily_counts, match_page
from monitor.storage.views import MatchFilter, list_deliveries, list_feeds
from monitor.web.context import Db, Web, api_read, api_write, reject_unknown_query
from monitor.web.topics import topic_overviews

router = APIRouter(prefix="/api/v1", dependencies=[Depends(reject_unknown_query)])
reads = APIRouter(dependencies=[Depends(api_read)])
writes = APIRouter(dependencies=[Depends(api_write)])

MAX_PAGE = 500

Topics = Annotated[list[str] | None, Query(description="only these topic ids (repeat the parameter)")]
Since = Annotated[str | None, Query(description="matched since: 24h, 7d, 2w, a date or an ISO time")]
Until = Annotated[str | None, Query(description="matched until: same forms as since")]
FeedText = Annotated[str | None, Query(description="feed name or URL, or a part of either")]
FeedId = Annotated[int | None, Query(ge=1, description="exactly this feed")]
Lang = Annotated[str | None, Query(max_length=16, description="article language code, e.g. en or fr")]
MinScore = Annotated[float | None, Query(ge=0, le=1)]
Search = Annotated[
    str | None, Query(max_length=500, description="words that must all appear in title or summary")
]


def match_filters(
    ctx: Web,
    topic: Topics = None,
    since: Since = None,
    until: Until = None,
    feed: FeedText = None,
    feed_id: FeedId = None,
    lang: Lang = None,
    min_score: MinScore = None,
    search: Search = None,
    limit: Annotated[
        int | None, Query(ge=1, le=MAX_PAGE, description="page size (default web.page_size)")
    ] = None,
) -> MatchFilter:
    """The filters of ``monitor matches``, as query parameters."""
    try:
        return match_filter(
            topic=topic or (),
            since=since,
            until=until,
            feed=feed,
            feed_id=feed_id,
            lang=lang,
            min_score=min_score,
            search=search,
            limit=limit or ctx.settings.web.page_size,
        )
    except FilterError as exc:
        raise HTTPException(422, f"{exc.field}: {exc}") from None


Filters = Annotated[MatchFilter, Depends(match_filters)]


@reads.get("/matches", tags=["matches"], summary="Stored matches, newest first, a page at a time")
def matches(
    s: Db,
    flt: Filters,
    cursor: Annotated[str | None, Query(description="next_cursor or prev_cursor of a previous page")] = None,
    total: Annotated[bool, Query(description="also count every match the filter selects")] = False,
) -> dict[str, Any]:
    try:
        page = match_page(s, flt, cursor)
    except CursorError as exc:
        raise HTTPException(422, f"cursor: {exc}") from None
    body: dict[str, Any] = {
        "count": len(page.rows),
        "matches": [row.as_json() for row in page.rows],
        "next_cursor": page.next_cursor,
        "prev_cursor": page.prev_cursor,
    }
    if total:
        body["total"] = count_matches(s, flt)
    return body


@reads.get("/matches/daily", tags=["matches"], summary="Matches per topic per UTC day (limit is ignored)")
def matches_daily(
    s: Db,
    flt: Filters,
    days: Annotated[int, Query(ge=1, le=366, description="days back from today (UTC)")] = 30,
) -> dict[str, Any]:
    today = utcnow().date()
    counts = daily_counts(s, flt, first=today - timedelta(days=days - 1), last=today)
    return {"first": counts.first.isoformat(), "last": counts.last.isoformat(), "counts": counts.as_json()}


@reads.get(
    "/articles/{article_id}",
    tags=["articles"],
    summary="One article: its matches with their evidence, and feedback",
)
def article(s: Db, article_id: int) -> dict[str, Any]:
    view = article_view(s, article_id)
    if view is None:
        raise HTTPException(404, f"no article with id {article_id}")
    return view.as_json()


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topic: str = Field(description="a configured topic id")
    relevant: bool = Field(description="true: the article is about the topic; false: it is not")


@writes.post(
    "/articles/{article_id}/feedback", tags=["articles"], summary="Say whether an article is about a topic"
)
def feedback(ctx: Web, article_id: int, judgement: FeedbackIn) -> dict[str, Any]:
    if judgement.topic not in {t.id for t in ctx.settings.topics}:
        raise HTTPException(422, f"topic: {judgement.topic!r} is not a configured topic")
    try:
        changed = run_in_transaction(
            ctx.factory, lambda s: record_feedback(s, article_id, judgement.topic, judgement.relevant)
        )
    except FeedbackError as exc:
        raise HTTPException(404, str(exc)) from None
    return {
        "article_id": article_id,
        "topic": judgement.topic,
        "relevant": judgement.relevant,
        "changed": changed,
    }


@reads.get("/topics", tags=["topics"], summary="The configured topics and what the model learned for each")
def topics(s: Db, ctx: Web) -> list[dict[str, Any]]:
    return [overview.as_json() for overview in topic_overviews(ctx.settings, s)]


@reads.get("/topics/{topic_id}", tags=["topics"], summary="One topic, with its matches per day over 30 days")
def topic(s: Db, ctx: Web, topic_id: str) -> dict[str, Any]:
    found = next((o for o in topic_overviews(ctx.settings, s) if o.config.id == topic_id), None)
    if found is None:
        raise HTTPException(404, f"no topic {topic_id!r} in the config")
    today = utcnow().date()
    counts = daily_counts(s, match_filter(topic=[topic_id]), first=today - timedelta(days=29), last=today)
    return {**found.as_json(), "daily": counts.as_json()}


@reads.get(
    "/topics/{topic_id}/preview",
    tags=["topics"],
    summary="What a threshold would keep, drop and add among the last 30 days' articles",
    responses={202: {"description": "the window is being re-scored: ask again"}},
)
def preview(ctx: Web, topic_id: str, threshold: Annotated[float, Query(ge=0, le=1)]) -> Any:
    if topic_id not in {t.id for t in ctx.settings.topics}:
        raise HTTPException(404, f"no topic {topic_id!r} in the config")
    run = ctx.previews.get(topic_id)
    if run.error:
        raise HTTPException(500, f"the re-scoring failed: {run.error}")
    if run.preview is None:
        return JSONResponse(
            {"status": "computing", "retry_after": 2}, status_code=202, headers={"Retry-After": "2"}
        )
    result = run.preview
    return {
        "status": "ready",
        "topic": topic_id,
        "since": result.since.isoformat(),
        "scanned": result.scanned,
        "model_version": result.model_version,
        "current_threshold": result.current_threshold,
        **result.at(threshold),
    }


@reads.get("/feeds", tags=["feeds"], summary="Feeds with their polling state")
def feeds(s: Db, ctx: Web) -> list[dict[str, Any]]:
    return [
        view.as_json() for view in list_feeds(s, now=utcnow(), silent_after=ctx.settings.fetch.silent_after)
    ]


@writes.post(
    "/feeds/{feed_id}/reset", summary="Clear a feed's errors (or gone state); poll it at the next tick"
)
def feed_reset(ctx: Web, feed_id: int) -> dict[str, Any]:
    if not reset_feed(ctx.factory, feed_id):
        raise HTTPException(404, f"no configured feed with id {feed_id}")
    return {"feed_id": feed_id, "reset": True}


@reads.get(
    "/deliveries", tags=["deliveries"], summary="Alert deliveries, newest first, with the count per state"
)
def deliveries(
    s: Db,
    ctx: Web,
    state: Annotated[DeliveryState | None, Query()] = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE)] = None,
    cursor: Annotated[
        str | None, Query(pattern=r"^[0-9]{1,18}$", description="next_cursor of a previous page")
    ] = None,
) -> dict[str, Any]:
    size = limit or ctx.settings.web.page_size
    views = list_deliveries(s, state=state, limit=size + 1, before_id=int(cursor) if cursor else None)
    shown = views[:size]
    return {
        "counts": {state.value: count for state, count in outbox.delivery_counts(s).items()},
        "deliveries": [delivery_json(view) for view in shown],
        "next_cursor": str(shown[-1].id) if len(views) > size else None,
    }


@writes.post("/deliveries/{delivery_id}/retry", tags=["deliveries"], summary="Send a dead delivery again")
def delivery_retry(ctx: Web, delivery_id: int) -> dict[str, Any]:
    count = run_in_transaction(ctx.factory, lambda s: outbox.retry_dead(s, [delivery_id]))
    if not count:
        raise HTTPException(409, f"delivery {delivery_id} is not dead (or does not exist): nothing to retry")
    return {"delivery_id": delivery_id, "retried": True}


@writes.post("/deliveries/retry-dead", tags=["deliveries"], summary="Send every dead delivery again")
def deliveries_retry_dead(ctx: Web) -> dict[str, Any]:
    return {"retried": run_in_transaction(ctx.factory, lambda s: outbox.retry_dead(s))}


router.include_router(reads)
router.include_router(writes)
