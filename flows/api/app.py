"""The HTTP API: meters, consumption (Octopus-like), customer usage, fleet health, metrics,
admin actions (correct or delete a read, sync one meter, customer links), and the dashboard.
Each resource's routes live in `flows.api.routes` (a router each; a new route goes there, with
its response model in `flows.api.models`); this module wires them into one app.

Every request takes a connection to the Flows database (a SQLite file or PostgreSQL) from the
app's small pool; route functions are synchronous and FastAPI runs them in its thread pool.
While the database is unreachable (a restart) requests answer 503 and the pool reconnects.
"""

from __future__ import annotations

import json

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from flows.api.auth import ApiKeys, LoginRequired, Sessions, is_octopus
from flows.api.connections import ConnectionPool
from flows.api.limits import DEFAULT_BODY_TIMEOUT_S, MAX_BODY, BodyTimeout, invalid_request
from flows.api.middleware import HeadersAndAccessLog
from flows.api.missing_cache import MissingHalfHours
from flows.api.routes import admin, health, links, meters, octopus, tariffs, usage
from flows.api.routes.admin import AdminSync
from flows.api.routes.tariffs import AdminTariffs
from flows.api.throttle import Failures
from flows.api.ui import console_router, is_console, login_router, page_for_error, session_ended
from flows.db import UnavailableError

DEFAULT_STALE_AFTER_S = 900.0  # views lagging longer than this make /readyz say "degraded"


def create_app(database_url: str, keys: ApiKeys, admin_sync: AdminSync | None = None,
               stale_after_s: float = DEFAULT_STALE_AFTER_S, public_url: str | None = None,
               body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
               admin_tariffs: AdminTariffs | None = None) -> FastAPI:
    """The API over the database at ``database_url``; ``admin_sync`` enables
    POST /meters/{serial}/sync, ``admin_tariffs`` POST /admin/tariffs/schedules; views
    lagging more than ``stale_after_s`` behind the change log make /readyz report degraded;
    ``public_url`` (``https://flows.example.com``) starts the ``next``/``previous`` links of
    pages (without it they are relative); a request body must arrive within
    ``body_timeout_s``."""
    # /docs from the Swagger UI files installed with Flows (fastapi-offline: no CDN); no ReDoc.
    app = FastAPIOffline(title="Flows", version="0.1.0", redoc_url=None,
                         static_url="/docs-assets", max_body_size=MAX_BODY,
                         description="Smart prepayment meters: registry, health and consumption.")
    app.state.database_url, app.state.keys, app.state.admin_sync = database_url, keys, admin_sync
    app.state.stale_after_s = stale_after_s
    app.state.admin_tariffs, app.state.tariff_schedules = admin_tariffs, {}
    app.state.public_url = public_url.rstrip("/") if public_url else None
    app.state.connections = ConnectionPool(database_url)
    app.state.missing = MissingHalfHours()  # missing half hours, kept while the views stand
    app.state.sessions, app.state.failures = Sessions(), Failures()
    app.add_middleware(BodyTimeout, timeout_s=body_timeout_s)
    app.add_middleware(HeadersAndAccessLog)  # outermost: logs what BodyTimeout cuts too

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, error: RequestValidationError) -> Response:
        answer = await invalid_request(request, error)
        if is_console(request):
            return page_for_error(request, 422, json.loads(bytes(answer.body))["detail"])
        if is_octopus(request.url.path):  # Octopus answers a bad parameter with 400
            answer.status_code = 400
        return answer

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if is_console(request):  # a person in a browser: a page, not JSON
            return page_for_error(request, error.status_code, error.detail,
                                  dict(error.headers or {}))
        if error.status_code == 422 and is_octopus(request.url.path):
            error = StarletteHTTPException(400, error.detail, error.headers)
        return await http_exception_handler(request, error)

    @app.exception_handler(LoginRequired)
    async def log_in_first(request: Request, error: LoginRequired) -> Response:
        if error.ended:
            return session_ended(request)
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(UnavailableError)
    async def database_unavailable(request: Request, error: UnavailableError) -> Response:
        return JSONResponse({"detail": f"the database is unavailable, try again: {error}"},
                            status_code=503, headers={"Retry-After": "5"})

    for routes in (meters.router, usage.router, octopus.router, admin.router, tariffs.router,
                   links.router, health.router):
        app.include_router(routes)
    app.include_router(login_router())
    app.include_router(console_router())
    return app
