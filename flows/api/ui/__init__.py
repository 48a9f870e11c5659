"""The operations console: pages rendered on the server over the API's database, with one
script of Flows' own (`console.js`: times in the viewer's zone, an auto-refresh that can be
stopped) and nothing from a CDN. Where things are: `page` (the frame and the formats:
timestamps, money, tables), `fleet` (fleet health and the meter lists), `meter` (a
meter's page), `charts` (SVG from pygal), `login` (sessions), `errors` (HTML error pages). A new
page: a function in a module here, added to `console_router`."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from flows.api.auth import viewer
from flows.api.ui import fleet, meter
from flows.api.ui.errors import is_console, page_for_error
from flows.api.ui.login import login_router, session_ended
from flows.api.ui.page import CONSOLE_JS

__all__ = ["console_router", "is_console", "login_router", "page_for_error", "session_ended"]


def console_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    pages = APIRouter(include_in_schema=False, dependencies=[Depends(viewer)])
    pages.add_api_route("/", fleet.overview, response_class=HTMLResponse)
    pages.add_api_route("/ui/meters", fleet.meters_page, response_class=HTMLResponse)
    pages.add_api_route("/ui/meters/{serial}", meter.meter_page, response_class=HTMLResponse)

    @router.get("/ui/assets/console.js")
    def console_script() -> Response:  # no session needed: the login page loads it too
        return Response(CONSOLE_JS, media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=31536000, immutable"})

    router.include_router(pages)
    return router
