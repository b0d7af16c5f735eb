"""Signing in and out of the pages with a token (see ``monitor.web.access``).

(No ``from __future__ import annotations``: FastAPI reads these signatures
at runtime.)
"""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from monitor.web.context import Web, browser_session
from monitor.web.rendering import Csrf, first_param, local_path, message, render, set_session

signin = APIRouter(include_in_schema=False)


@signin.get("/login")
def login_page(request: Request) -> Response:
    wanted = local_path(first_param(request.query_params, "next"))
    return render(request, "login.html", {"nav": "login", "next": wanted, "failed": False})


@signin.post("/login")
def login(
    request: Request,
    ctx: Web,
    csrf: Csrf,
    token: Annotated[str, Form(max_length=1000)],
    next_page: Annotated[str, Form(alias="next")] = "/matches",
) -> Response:
    session = browser_session(request)
    wanted = local_path(next_page)
    if not ctx.access.csrf_ok(session, csrf):
        return message(
            request, 403, "Form refused", "This form has expired. Reload the page and sign in again."
        )
    if not ctx.access.writes_enabled or not ctx.access.token_ok(token.strip()):
        return render(request, "login.html", {"nav": "login", "next": wanted, "failed": True}, 401)
    _, cookie = ctx.access.new_session(signed_in=True)  # a new nonce: no session fixation
    response = RedirectResponse(wanted, 303)
    set_session(request, response, cookie, ctx.access.session_lifetime)
    return response


@signin.post("/logout")
def logout(request: Request, ctx: Web, csrf: Csrf) -> Response:
    if not ctx.access.csrf_ok(browser_session(request), csrf):
        return message(request, 403, "Form refused", "This form has expired. Reload the page and try again.")
    _, cookie = ctx.access.new_session(signed_in=False)
    response = RedirectResponse("/matches", 303)
    set_session(request, response, cookie, None)
    return response
