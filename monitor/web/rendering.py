"""What every page handler shares: rendering a template with the session
its forms need, the messages pages answer with, and the checks a form must
pass before it changes anything (signed in, CSRF token; see
``monitor.web.access``).

(No ``from __future__ import annotations``: FastAPI reads these signatures
at runtime.)
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import Response

from monitor.alerting.message import safe_link
from monitor.ingest.schedule import format_seconds
from monitor.web.access import CSRF_FIELD, SESSION_COOKIE
from monitor.web.context import browser_session, signed_in, web


class LoginRequired(Exception):
    """A page that needs a sign-in (``web.protect_reads``); the app redirects."""

    def __init__(self, wanted: str) -> None:
        super().__init__(wanted)
        self.wanted = wanted


def page_reader(request: Request) -> None:
    if web(request).access.protect_reads and not signed_in(request):
        raise LoginRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))


Csrf = Annotated[str, Form(alias=CSRF_FIELD)]


def set_session(request: Request, response: Response, cookie: str, lifetime: float | None) -> None:
    base = web(request).settings.web.base_url or ""
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(lifetime) if lifetime else None,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https" or base.startswith("https://"),
        path="/",
    )


def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    """A page, with the session (and so the CSRF token) its forms need."""
    ctx = web(request)
    session = browser_session(request)
    cookie = None
    if session is None:
        session, cookie = ctx.access.new_session(signed_in=False)
    response = ctx.templates.TemplateResponse(
        request,
        template,
        {
            **context,
            "signed_in": signed_in(request),
            "writes_enabled": ctx.access.writes_enabled,
            "csrf_field": CSRF_FIELD,
            "csrf": ctx.access.csrf_token(session),
            "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            "link": safe_link,
        },
        status_code=status,
    )
    if cookie is not None:
        set_session(request, response, cookie, None)
    return response


def message(request: Request, status: int, title: str, text: str) -> Response:
    return render(request, "message.html", {"title": title, "text": text}, status)


def refused(request: Request, csrf: str) -> Response | None:
    """Why this form may not change anything (a page to show), or None."""
    ctx = web(request)
    if not ctx.access.writes_enabled:
        return message(
            request,
            403,
            "Changes are off",
            "No token is configured, so nobody can sign in and change anything here. Set "
            "MONITOR_API_TOKEN (or web.tokens in the config) and restart `monitor serve`.",
        )
    session = browser_session(request)
    if session is None or not session.signed_in:
        return message(request, 401, "Sign in first", "Only a signed-in person can change this.")
    if not ctx.access.csrf_ok(session, csrf):
        return message(
            request,
            403,
            "Form refused",
            "This form has expired or was sent from another site. Reload the page and try again.",
        )
    return None


def local_path(value: str | None) -> str:
    """A path on this site to go back to; never another site."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/matches"


# --- matches -----------------------------------------------------------------------


def first_param(params: Any, name: str) -> str | None:
    value = params.get(name)
    return value.strip() or None if isinstance(value, str) else None


def _short_time(moment: datetime | None) -> str:
    return "–" if moment is None else moment.strftime("%Y-%m-%d %H:%M")


FILTERS = {"when": _short_time, "interval": format_seconds}
