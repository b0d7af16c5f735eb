"""The pages: server-rendered HTML (Jinja2, autoescaped), no script of
their own, every asset served by us.

Matches (filters, pages, a count per topic per day) → an article (its
scores and reasons, Relevant / Not relevant) → Topics (what was learned, a
threshold preview) → Feeds (reset) → Deliveries (retry). Forms change
things only for a signed-in person and carry a CSRF token; see
``monitor.web.access``.

(No ``from __future__ import annotations``: FastAPI reads these signatures
at runtime.)
"""

from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from monitor.ingest.dispatch import reset_feed
from monitor.matching.feedback import FeedbackError, record_feedback
from monitor.query import FilterError, delivery_json, match_filter
from monitor.storage import DeliveryState, outbox, run_in_transaction, utcnow
from monitor.storage.browse import (
    CursorError,
    MatchPage,
    article_view,
    daily_counts,
    match_page,
)
from monitor.storage.views import list_deliveries, list_feeds
from monitor.web.context import Db, Web
from monitor.web.rendering import Csrf, first_param, message, page_reader, refused, render
from monitor.web.topics import topic_overviews

COUNT_DAYS = 14  # the per-day table when no since/until is given
MAX_COUNT_DAYS = 92


pages = APIRouter(include_in_schema=False)
readable = APIRouter(include_in_schema=False, dependencies=[Depends(page_reader)])


@readable.get("/")
def home() -> Response:
    return RedirectResponse("/matches", status_code=303)


@readable.get("/matches")
def matches_page(request: Request, s: Db, ctx: Web) -> Response:
    params = request.query_params
    form = {
        name: first_param(params, name) or ""
        for name in ("feed_id", "lang", "since", "until", "min_score", "search")
    }
    form["topic"] = first_param(params, "topic") or ""
    topics = [t for t in params.getlist("topic") if t]
    error = None
    try:
        min_score = float(form["min_score"]) if form["min_score"] else None
        if min_score is not None and not 0 <= min_score <= 1:
            raise FilterError("min_score", "a score is between 0 and 1")
        feed_id = int(form["feed_id"]) if form["feed_id"] else None
        flt = match_filter(
            topic=topics,
            since=form["since"] or None,
            until=form["until"] or None,
            feed_id=feed_id,
            lang=form["lang"] or None,
            min_score=min_score,
            search=form["search"] or None,
            limit=ctx.settings.web.page_size,
        )
        page = match_page(s, flt, first_param(params, "cursor"))
    except (FilterError, CursorError, ValueError) as exc:
        error = f"{exc.field}: {exc}" if isinstance(exc, FilterError) else str(exc)
        flt = match_filter(limit=ctx.settings.web.page_size)
        page = MatchPage(rows=[], next_cursor=None, prev_cursor=None)
    today = utcnow().date()
    last = min(flt.until.date(), today) if flt.until else today
    first = flt.since.date() if flt.since else last - timedelta(days=COUNT_DAYS - 1)
    first = max(first, last - timedelta(days=MAX_COUNT_DAYS - 1))
    counts = daily_counts(s, flt, first=first, last=last)
    kept = [(name, value) for name, value in form.items() if value and name != "topic"]
    kept += [("topic", t) for t in topics]

    def page_link(cursor: str | None) -> str | None:
        return None if cursor is None else "/matches?" + urlencode([*kept, ("cursor", cursor)])

    feeds = list_feeds(s, now=utcnow(), silent_after=ctx.settings.fetch.silent_after)
    languages = sorted({"en", "fr", *(f.language for f in ctx.settings.feeds if f.language)})
    return render(
        request,
        "matches.html",
        {
            "nav": "matches",
            "form": form,
            "error": error,
            "rows": page.rows,
            "older": page_link(page.next_cursor),
            "newer": page_link(page.prev_cursor),
            "first_page": "/matches?" + urlencode(kept) if page.prev_cursor else None,
            "counts": counts,
            "topic_names": {t.id: t.name for t in ctx.settings.topics},
            "topics": ctx.settings.topics,
            "feeds": feeds,
            "languages": languages,
        },
        422 if error else 200,
    )


# --- one article ---------------------------------------------------------------------


@readable.get("/articles/{article_id}")
def article_page(request: Request, s: Db, ctx: Web, article_id: int) -> Response:
    view = article_view(s, article_id)
    if view is None:
        return message(request, 404, "No such article", f"There is no article with id {article_id}.")
    configured = {t.id: t for t in ctx.settings.topics}
    topic_ids = list(dict.fromkeys([*view.matches, *configured]))
    return render(
        request,
        "article.html",
        {
            "nav": "matches",
            "article": view,
            "topic_ids": topic_ids,
            "configured": configured,
            "saved": first_param(request.query_params, "saved"),
        },
    )


@pages.post("/articles/{article_id}/feedback")
def article_feedback(
    request: Request,
    ctx: Web,
    article_id: int,
    csrf: Csrf,
    topic: Annotated[str, Form()],
    relevant: Annotated[str, Form(pattern="^(yes|no)$")],
) -> Response:
    problem = refused(request, csrf)
    if problem is not None:
        return problem
    if topic not in {t.id for t in ctx.settings.topics}:
        return message(request, 422, "Unknown topic", f"{topic!r} is not a configured topic.")
    verdict = relevant == "yes"
    try:
        run_in_transaction(ctx.factory, lambda s: record_feedback(s, article_id, topic, verdict))
    except FeedbackError as exc:
        return message(request, 404, "No such article", str(exc))
    return RedirectResponse(f"/articles/{article_id}?{urlencode({'saved': topic})}#topic-{topic}", 303)


# --- topics -------------------------------------------------------------------------


@readable.get("/topics")
def topics_page(request: Request, s: Db, ctx: Web) -> Response:
    today = utcnow().date()
    counts = daily_counts(s, match_filter(), first=today - timedelta(days=COUNT_DAYS - 1), last=today)
    return render(
        request,
        "topics.html",
        {
            "nav": "topics",
            "overviews": topic_overviews(ctx.settings, s),
            "counts": counts,
            "topic_names": {t.id: t.name for t in ctx.settings.topics},
        },
    )


@readable.get("/topics/{topic_id}")
def topic_page(request: Request, s: Db, ctx: Web, topic_id: str) -> Response:
    overview = next((o for o in topic_overviews(ctx.settings, s) if o.config.id == topic_id), None)
    if overview is None:
        return message(request, 404, "No such topic", f"{topic_id!r} is not a configured topic.")
    today = utcnow().date()
    counts = daily_counts(s, match_filter(topic=[topic_id]), first=today - timedelta(days=29), last=today)
    wanted = first_param(request.query_params, "threshold")
    preview: dict[str, Any] | None = None
    run = None
    error = None
    if wanted is not None:
        try:
            threshold = float(wanted)
            if not 0 <= threshold <= 1:
                raise ValueError
        except ValueError:
            error = "a threshold is a number between 0 and 1"
        else:
            run = ctx.previews.get(topic_id)
            if run.preview is not None:
                preview = run.preview.at(threshold)
    return render(
        request,
        "topic.html",
        {
            "nav": "topics",
            "o": overview,
            "counts": counts,
            "topic_names": {topic_id: overview.config.name},
            "threshold": wanted,
            "preview": preview,
            "run": run,
            "error": error,
        },
        422 if error else 200,
    )


# --- feeds and deliveries ---------------------------------------------------------------


@readable.get("/feeds")
def feeds_page(request: Request, s: Db, ctx: Web) -> Response:
    views = list_feeds(s, now=utcnow(), silent_after=ctx.settings.fetch.silent_after)
    return render(
        request,
        "feeds.html",
        {"nav": "feeds", "feeds": views, "reset": first_param(request.query_params, "reset")},
    )


@pages.post("/feeds/{feed_id}/reset")
def feed_reset(request: Request, ctx: Web, feed_id: int, csrf: Csrf) -> Response:
    problem = refused(request, csrf)
    if problem is not None:
        return problem
    if not reset_feed(ctx.factory, feed_id):
        return message(request, 404, "No such feed", f"There is no configured feed with id {feed_id}.")
    return RedirectResponse(f"/feeds?reset={feed_id}", 303)


@readable.get("/deliveries")
def deliveries_page(request: Request, s: Db, ctx: Web) -> Response:
    state_text = first_param(request.query_params, "state")
    state = DeliveryState(state_text) if state_text in {x.value for x in DeliveryState} else None
    cursor = first_param(request.query_params, "cursor")
    before = int(cursor) if cursor and cursor.isdigit() and len(cursor) < 19 else None
    size = ctx.settings.web.page_size
    views = list_deliveries(s, state=state, limit=size + 1, before_id=before)
    shown = views[:size]
    older = None
    if len(views) > size:
        older = "/deliveries?" + urlencode(
            [*([("state", state.value)] if state else []), ("cursor", shown[-1].id)]
        )
    return render(
        request,
        "deliveries.html",
        {
            "nav": "deliveries",
            "counts": outbox.delivery_counts(s),
            "state": state,
            "rows": [delivery_json(view) for view in shown],
            "older": older,
            "retried": first_param(request.query_params, "retried"),
        },
    )


@pages.post("/deliveries/{delivery_id}/retry")
def delivery_retry(request: Request, ctx: Web, delivery_id: int, csrf: Csrf) -> Response:
    problem = refused(request, csrf)
    if problem is not None:
        return problem
    count = run_in_transaction(ctx.factory, lambda s: outbox.retry_dead(s, [delivery_id]))
    return RedirectResponse(f"/deliveries?state=pending&retried={count}", 303)


@pages.post("/deliveries/retry-dead")
def deliveries_retry_dead(request: Request, ctx: Web, csrf: Csrf) -> Response:
    problem = refused(request, csrf)
    if problem is not None:
        return problem
    count = run_in_transaction(ctx.factory, lambda s: outbox.retry_dead(s))
    return RedirectResponse(f"/deliveries?state=pending&retried={count}", 303)


# --- signing in ------------------------------------------------------------------------


pages.include_router(readable)
