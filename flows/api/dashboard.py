"""The dashboard: server-rendered HTML with inline SVG charts (no scripts, no CDN).

``/`` shows fleet health, unhealthy meters, low balances and the meters; ``/ui/meters/SERIAL``
a meter with its daily and half-hourly usage. ``/login`` takes a key in a form and opens a
session (the cookie holds the session id, never the key); ``/logout`` ends it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import escape
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from flows.api.auth import SESSION_COOKIE, SESSION_S, Role, identify, viewer
from flows.api.connections import Db
from flows.api.limits import FORM_BODY
from flows.api.params import Serial
from flows.api.throttle import Failures, client_of
from flows.db import Database, fleet
from flows.meterdata import HALF_HOUR
from flows.views import UsageRow, freshness, latest_interval, quarantined, usage

STYLE = """
body{font:14px system-ui,sans-serif;margin:2rem;color:#222;max-width:1100px}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;
padding:.6rem 1rem;min-width:7rem}.card b{display:block;font-size:1.6rem}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eee;padding:.3rem;
text-align:left}.bad{color:#b00020}svg{background:#fafafa;border:1px solid #eee}
.bar{fill:#3b82f6}.bar.estimated{fill:#93c5fd}.bar.invalid{fill:#ef4444}
.logout{float:right;margin-top:-2.2rem}
"""


CSRF_COOKIE = "flows_csrf"  # the login form's token, sent back as a field (double submit)
CSRF_S = 3600


def logout_token(session: str) -> str:
    """The logout form's token: known only to whoever holds the (HttpOnly) session cookie."""
    return hashlib.sha256(b"logout:" + session.encode()).hexdigest()[:32]


def _logout_form(request: Request) -> str:
    token = logout_token(request.cookies.get(SESSION_COOKIE, ""))
    return (f"<form method=post action=/logout class=logout><input type=hidden name=csrf "
            f"value='{token}'><button>Log out</button></form>")


def _page(request: Request, title: str, body: str, status: int = 200,
          logged_in: bool = True) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><html lang=en><head><meta charset=utf-8>"
                        f"<title>{escape(title)} · Flows</title><style>{STYLE}</style></head>"
                        f"<body><p><a href='/'>Flows</a></p>"
                        f"{_logout_form(request) if logged_in else ''}"
                        f"{body}</body></html>", status_code=status)


def _login_form(request: Request, problem: str = "", status: int = 200) -> HTMLResponse:
    note = f"<p class=bad id=problem>{escape(problem)}</p>" if problem else ""
    token = secrets.token_urlsafe(24)
    response = _page(request, "Log in", f"<h1>Log in</h1>{note}<form method=post action=/login>"
                     f"<input type=hidden name=csrf value='{token}'>"
                     "<label>API key <input type=password name=key autocomplete=off required "
                     "autofocus></label> <button>Log in</button></form>", status, logged_in=False)
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


def _views_state(db: Database, stale_after_s: float) -> str:
    """Usage's freshness, and the meters the views have quarantined (with why)."""
    fresh = freshness(db)
    as_of = fresh.data_as_of
    note = (f"<p id=views-state>Usage as of {_when(as_of)}"
            f"{f' ({fresh.lag_changes:,} changes waiting)' if fresh.lag_changes else ''}.</p>")
    problems = fresh.problems(stale_after_s)
    if problems:
        note += "".join(f"<p class=bad data-problem>{escape(problem)}</p>" for problem in problems)
    held = quarantined(db)
    if held:
        note += _table(["Meter", "Since", "Why"], [
            [_meter_link(row.serial) if row.serial else escape(str(row.meter_id)),
             _when(row.quarantined_at), f"<span class=bad>{escape(row.error)}</span>"]
            for row in held], "quarantine")
    return note


def _when(value: Any) -> str:
    return escape(value.strftime("%Y-%m-%d %H:%M UTC")) if value else "never"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], table_id: str) -> str:
    if not rows:
        return f"<p id='{table_id}'>None.</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table id='{table_id}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _meter_link(serial: str) -> str:
    return f"<a href='/ui/meters/{escape(serial)}'>{escape(serial)}</a>"


def bar_chart(rows: Sequence[UsageRow], chart_id: str, label_format: str) -> str:
    """An SVG bar chart, one <rect class=bar> per row with its start and kWh as data."""
    if not rows:
        return f"<p id='{chart_id}'>No usage in this period.</p>"
    width, height, pad = 1000, 220, 30
    top = max((row.kwh for row in rows), default=Decimal(0)) or Decimal(1)
    step = (width - pad) / len(rows)
    bars = []
    for n, row in enumerate(rows):
        bar_height = float(max(row.kwh, Decimal(0)) / top) * (height - 2 * pad)
        quality = row.quality
        bars.append(
            f"<rect class='bar {quality}' x='{pad + n * step:.1f}' y='{height - pad - bar_height:.1f}' "
            f"width='{max(step - 1, 1):.1f}' height='{bar_height:.1f}' "
            f"data-start='{row.start.isoformat()}' data-kwh='{row.kwh}'>"
            f"<title>{escape(row.start.strftime(label_format))}: {row.kwh} kWh</title></rect>")
    axis = (f"<text x='2' y='{pad - 8}' font-size='11'>{top} kWh</text>"
            f"<text x='{pad}' y='{height - 8}' font-size='11'>{escape(rows[0].start.strftime(label_format))}"
            f"</text><text x='{width - 160}' y='{height - 8}' font-size='11'>"
            f"{escape(rows[-1].start.strftime(label_format))}</text>")
    return (f"<svg id='{chart_id}' viewBox='0 0 {width} {height}' width='100%' role='img'>"
            f"{axis}{''.join(bars)}</svg>")


def dashboard_router() -> APIRouter:
    router = APIRouter(include_in_schema=False, dependencies=[Depends(viewer)])

    @router.get("/", response_class=HTMLResponse)
    def overview(request: Request, db: Db) -> HTMLResponse:
        health = fleet.health(db)
        cards = "".join(f"<div class='card' data-count='{escape(name)}'><b>{count}</b>"
                        f"{escape(name.replace('_', ' '))}</div>"
                        for name, count in health["counts"].items())
        unhealthy = _table(["Meter", "Details", "Last healthy", "Last seen"], [
            [_meter_link(m["serial"]), f"<span class=bad>{escape(m['details'] or '')}</span>",
             _when(m["last_healthy_at"]), _when(m["last_seen_at"])] for m in health["unhealthy"]],
            "unhealthy")
        low = _table(["Meter", "Balance", "At"], [
            [_meter_link(m["serial"]), escape(str(m["balance"])), _when(m["balance_at"])]
            for m in health["low_balance"]], "low-balance")
        no_usage = _table(["Meter", "Hardware"], [
            [_meter_link(m["serial"]), escape(m["hardware"] or "")] for m in health["no_usage"]],
            "no-usage")
        meters = _table(["Meter", "Esco", "Hardware", "Health", "Balance"], [
            [_meter_link(m["serial"]), escape(m["esco"] or ""), escape(m["hardware"] or ""),
             escape(m["health"] or "never synced"), escape(str(m["balance"] or ""))]
            for m in fleet.meters(db, esco=None, health=None, after=None, limit=1000)], "meters")
        body = (f"<h1>Fleet health</h1>{_views_state(db, request.app.state.stale_after_s)}"
                f"<div class=cards id=counts>{cards}</div>"
                f"<h2>Unhealthy meters</h2>{unhealthy}<h2>Low balance</h2>{low}"
                f"<h2>Healthy, but no usage at all</h2>{no_usage}"
                f"<h2>Meters</h2>{meters}")
        return _page(request, "Fleet health", body)

    @router.get("/ui/meters/{serial}", response_class=HTMLResponse)
    def meter_page(request: Request, serial: Serial, db: Db,
                   days: Annotated[int, Query(ge=1, le=366)] = 30) -> HTMLResponse:
        found = fleet.meter(db, serial)
        if found is None:
            raise HTTPException(404, f"no meter with serial {serial!r}")
        latest = latest_interval(db, found["id"])
        end = (latest + HALF_HOUR) if latest else datetime.now(UTC)
        daily = usage(db, meter_id=found["id"], period_from=end - timedelta(days=days),
                      period_to=end, group_by="day")
        half_hourly = usage(db, meter_id=found["id"], period_from=end - timedelta(days=2),
                            period_to=end, group_by="hh")
        facts = _table(["", ""], [[escape(k), escape("—" if found[k] is None else str(found[k]))] for k in (
            "esco", "hardware", "firmware_version", "mode", "health", "health_details",
            "last_healthy_at", "balance", "csq", "import_a", "reads_at")], "facts")
        body = (f"<h1>Meter {escape(serial)}</h1>{facts}"
                f"<h2>Daily usage (kWh, last {days} days)</h2>"
                f"{bar_chart(daily, 'daily-chart', '%Y-%m-%d')}"
                f"<h2>Half-hourly usage (kWh, last 2 days; light: estimated, red: invalid)</h2>"
                f"{bar_chart(half_hourly, 'hh-chart', '%Y-%m-%d %H:%M UTC')}")
        return _page(request, f"Meter {serial}", body)

    return router
