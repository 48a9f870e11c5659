"""Logging in to the console: ``/login`` takes a key in a form and opens a session (the cookie
holds the session id, never the key); ``/logout`` ends it."""

from __future__ import annotations

import hmac
import secrets
from html import escape
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from flows.api.auth import SESSION_COOKIE, SESSION_S, Role, identify
from flows.api.limits import FORM_BODY
from flows.api.throttle import Failures, client_of
from flows.api.ui.page import logout_token, page

CSRF_COOKIE = "flows_csrf"  # the login form's token, sent back as a field (double submit)
CSRF_S = 3600


def _login_form(request: Request, problem: str = "", status: int = 200) -> HTMLResponse:
    note = f"<p class=bad id=problem>{escape(problem)}</p>" if problem else ""
    token = secrets.token_urlsafe(24)
    response = page(request, "Log in", f"<h1>Log in</h1>{note}<form method=post action=/login>"
                    f"<input type=hidden name=csrf value='{token}'>"
                    "<label>API key <input type=password name=key autocomplete=off required "
                    "autofocus></label> <button>Log in</button></form>", status=status,
                    logged_in=False)
    response.set_cookie(CSRF_COOKIE, token, max_age=CSRF_S, httponly=True, samesite="strict",
                        secure=_behind_https(request), path="/login")
    return response


def session_ended(request: Request) -> HTMLResponse:
    """401 with the login form: the session sent has ended (logged out, timed out or its key
    revoked); its cookie is dropped."""
    response = _login_form(request, "Your session has ended; log in again.", status=401)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict",
                           secure=_behind_https(request))
    return response


def _behind_https(request: Request) -> bool:
    # The scheme a trusted proxy forwarded (uvicorn's proxy headers), never a client's claim.
    return request.url.scheme == "https"


def _form(body: bytes) -> dict[str, str]:
    """A form's fields (the first of each); bytes that are not UTF-8 are replaced."""
    return {name: values[0].strip() for name, values in parse_qs(body.decode(errors="replace")).items()}


def login_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/login", response_class=HTMLResponse)
    def login_page(request: Request) -> HTMLResponse:
        return _login_form(request)

    @router.post("/login", max_body_size=FORM_BODY)
    async def log_in(request: Request) -> Response:
        form = _form(await request.body())
        expected = request.cookies.get(CSRF_COOKIE, "")
        if not expected or not hmac.compare_digest(form.get("csrf", ""), expected):
            return _login_form(request, "The form expired; log in again.", status=403)
        failures: Failures = request.app.state.failures
        failures.check(client_of(request))
        key = form.get("key", "")
        caller = await identify(request, key) if key else None
        if caller is None or caller.role < Role.READ:
            failures.failed(client_of(request))
            return _login_form(request, "That key is not known.", status=401)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(SESSION_COOKIE, await request.app.state.sessions.open(request, caller),
                            max_age=SESSION_S, httponly=True, samesite="strict",
                            secure=_behind_https(request))
        response.delete_cookie(CSRF_COOKIE, path="/login", httponly=True, samesite="strict",
                               secure=_behind_https(request))
        return response

    @router.post("/logout", max_body_size=FORM_BODY)
    async def log_out(request: Request) -> Response:
        session = request.cookies.get(SESSION_COOKIE)
        if session:
            token = _form(await request.body()).get("csrf", "")
            if not hmac.compare_digest(token, logout_token(session)):
                raise HTTPException(403, "the logout form is not this session's")
            await request.app.state.sessions.close(request, session)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict",
                               secure=_behind_https(request))
        return response

    return router
