"""HTML error pages for the console's paths (an API client keeps its JSON errors): 404 and 422
say what was wrong, with a way back; 401 goes to the login form (`flows.api.app`)."""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from flows.api.ui.page import page

TITLES = {400: "Bad request", 403: "Not allowed", 404: "Not found", 405: "Not allowed",
          413: "Too large", 422: "Cannot show that", 429: "Too many requests",
          500: "Something went wrong", 503: "Unavailable"}


def is_console(request: Request) -> bool:
    """A console path, asked for by a browser (a page, not the API)."""
    path = request.url.path
    return (path == "/" or path.startswith("/ui/")) and "text/html" in request.headers.get(
        "accept", "text/html")


def page_for_error(request: Request, status: int, detail: Any,
                   headers: dict[str, str] | None = None) -> HTMLResponse:
    title = TITLES.get(status, f"Error {status}")
    problems = detail if isinstance(detail, list) else [detail]
    items = "".join(f"<li>{escape(_problem(problem))}</li>" for problem in problems)
    response = page(request, title, f"<h1>{escape(title)}</h1><ul id=problem>{items}</ul>"
                    "<p><a href='/'>Back to fleet health</a> · "
                    "<a href='/ui/meters'>All meters</a></p>", status=status)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _problem(problem: Any) -> str:
    if isinstance(problem, dict):  # a validation error: where, and what
        where = ".".join(str(part) for part in problem.get("loc", ())[1:])
        return f"{where}: {problem.get('msg', '')}" if where else str(problem.get("msg", ""))
    return str(problem)
