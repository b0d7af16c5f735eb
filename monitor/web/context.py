"""What every request of ``monitor serve`` reaches: the settings, the
database, the access rules, the previews and the templates (``WebContext``,
on ``app.state.web``), and the FastAPI dependencies that check access.

(No ``from __future__ import annotations``: FastAPI reads these signatures
at runtime.)
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from monitor.config import Settings, environment
from monitor.web.access import SESSION_COOKIE, Access, Session
from monitor.web.topics import PreviewRunner


@dataclass
class WebContext:
    settings: Settings
    factory: sessionmaker[DbSession]
    access: Access
    previews: PreviewRunner
    templates: Jinja2Templates


def web(request: Request) -> WebContext:
    context: WebContext = request.app.state.web
    return context


Web = Annotated[WebContext, Depends(web)]


def database(context: Web) -> Iterator[DbSession]:
    with context.factory() as session:
        yield session


Db = Annotated[DbSession, Depends(database)]


def browser_session(request: Request) -> Session | None:
    """The page session of the request's cookie, if it is ours and current."""
    return web(request).access.read_session(request.cookies.get(SESSION_COOKIE))


def signed_in(request: Request) -> bool:
    """A good bearer token, or a signed-in page session."""
    access = web(request).access
    if access.bearer(request.headers.get("authorization")):
        return True
    session = browser_session(request)
    return session is not None and session.signed_in


# Declares the scheme in the OpenAPI document (Swagger UI's "Authorize");
# the check itself is ours, with the messages below.
bearer_scheme = HTTPBearer(auto_error=False, description="a token of MONITOR_API_TOKEN or web.tokens")
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="news-monitor"'}


def api_read(request: Request, _: Bearer) -> None:
    """Reads are open unless ``web.protect_reads``; then a token or a sign-in."""
    access = web(request).access
    if access.protect_reads and not signed_in(request):
        raise HTTPException(401, "reading needs a token: send Authorization: Bearer TOKEN", _CHALLENGE)


def api_write(request: Request, _: Bearer) -> None:
    """Writes need a bearer token, and nothing else (no cookie, so no CSRF)."""
    access = web(request).access
    if not access.writes_enabled:
        raise HTTPException(
            403,
            f"writes are off: no token is configured (set {environment.API_TOKEN.name} or web.tokens)",
        )
    verdict = access.bearer(request.headers.get("authorization"))
    if verdict is None:
        raise HTTPException(401, "this change needs a token: send Authorization: Bearer TOKEN", _CHALLENGE)
    if not verdict:
        raise HTTPException(401, "the token was not accepted", _CHALLENGE)


def _query_names(dependant: Any) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def reject_unknown_query(request: Request) -> None:
    """422 for a query parameter the endpoint does not take: a misspelt
    filter (``?topics=``, ``?offset=``) must not be silently ignored."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    allowed = _query_names(dependant) if dependant is not None else set()
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise RequestValidationError(
            [
                {
                    "type": "extra_forbidden",
                    "loc": ("query", name),
                    "msg": f"unknown query parameter (this endpoint takes: {', '.join(sorted(allowed)) or 'none'})",
                    "input": None,
                }
                for name in unknown
            ]
        )
