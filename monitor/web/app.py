"""``monitor serve``: the pages, the API, its docs, ``/metrics`` and ``/health``.

Every asset is ours: the pages' stylesheet from ``monitor/web/static``,
Swagger UI's files from the ``fastapi-offline`` package (which vendors them),
started by a script of ours instead of an inline one. The Content Security
Policy says so to the browser (``'self'`` only), so a page that tried to
load anything from elsewhere would fail in tests, not silently online.

(No ``from __future__ import annotations``: FastAPI reads these signatures
at runtime.)
"""

from collections.abc import Awaitable, Callable
from importlib.resources import files
from pathlib import Path
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import text

from monitor.config import Settings
from monitor.storage import create_db_engine, make_session_factory
from monitor.web import api, pages, rendering
from monitor.web.access import Access
from monitor.web.context import Db, Web, WebContext, api_read
from monitor.web.metrics import CONTENT_TYPE, metrics_text
from monitor.web.signin import signin
from monitor.web.topics import PreviewRunner

PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# Swagger UI sets inline styles on its elements.
DOCS_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
BROKER_TIMEOUT = 2.0


def _swagger_assets() -> Path:
    resource = files("fastapi_offline").joinpath("static")
    if not isinstance(resource, Path):  # pragma: no cover - a zip import
        raise RuntimeError("fastapi-offline must be installed as files on disk")
    return resource


def _templates() -> Jinja2Templates:
    environment = Environment(
        loader=PackageLoader("monitor.web", "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(rendering.FILTERS)
    return Jinja2Templates(env=environment)


def _broker_answers(url: str) -> str | None:
    """None when the broker answers a PING, else why not."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=BROKER_TIMEOUT, socket_connect_timeout=BROKER_TIMEOUT)
    try:
        client.ping()
    except redis.RedisError as exc:
        return type(exc).__name__
    finally:
        client.close()
    return None


def create_app(settings: Settings) -> FastAPI:
    """The application; raises ``AccessError`` on access settings it must not run with."""
    access = Access.from_settings(settings)
    factory = make_session_factory(create_db_engine(settings.database_url))
    app = FastAPI(
        title="news-monitor",
        version="1",
        description="Matches of the watched topics, feeds and alert deliveries. Writes need "
        "`Authorization: Bearer TOKEN`.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.web = WebContext(settings, factory, access, PreviewRunner(settings, factory), _templates())

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.url.path.startswith(("/api/", "/login", "/metrics")) or request.method != "GET":
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(rendering.LoginRequired)
    async def login_first(request: Request, exc: rendering.LoginRequired) -> Response:
        return RedirectResponse("/login?" + urlencode({"next": exc.wanted}), status_code=303)

    @app.get("/health", tags=["operations"], summary="Database (and broker) reachable")
    def health(s: Db, ctx: Web) -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            s.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # any failure is the answer, not a crash
            checks["database"] = f"failed: {type(exc).__name__}"
        if ctx.settings.broker_url:
            problem = _broker_answers(ctx.settings.broker_url)
            checks["broker"] = "ok" if problem is None else f"failed: {problem}"
        healthy = all(value == "ok" for value in checks.values())
        return JSONResponse(
            {"status": "ok" if healthy else "failing", **checks}, status_code=200 if healthy else 503
        )

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", dependencies=[Depends(api_read)])
    def metrics(ctx: Web) -> Response:
        return Response(metrics_text(ctx.factory), media_type=CONTENT_TYPE)

    @app.get("/api/docs", include_in_schema=False)
    def docs(request: Request, ctx: Web) -> HTMLResponse:
        response = ctx.templates.TemplateResponse(request, "docs.html", {"openapi_url": app.openapi_url})
        response.headers["Content-Security-Policy"] = DOCS_POLICY
        return response

    app.mount("/api/docs/assets", StaticFiles(directory=_swagger_assets()), name="docs-assets")
    app.mount("/static", StaticFiles(packages=[("monitor.web", "static")]), name="static")
    app.include_router(api.router)
    app.include_router(pages.pages)
    app.include_router(signin)
    return app
