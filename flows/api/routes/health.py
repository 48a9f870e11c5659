"""Health routes (no key): liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from flows.api.connections import Db
from flows.api.metrics import metrics_text
from flows.views import freshness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_class=PlainTextResponse)
def healthz() -> str:
    """Liveness: the server answers."""
    return "ok\n"


@router.get("/readyz", response_class=PlainTextResponse,
            responses={503: {"description": "the database cannot be reached"}})
def readyz(request: Request, db: Db) -> PlainTextResponse:
    """Readiness: the database answers. ``ready``, or 200 ``degraded: …`` while meters are
    quarantined by the views or the views lag more than the configured time (usage is served,
    possibly stale); 503 without a database."""
    db.ping()  # a database away is a 503 (UnavailableError, answered by the app)
    problems = freshness(db).problems(request.app.state.stale_after_s)
    if problems:
        return PlainTextResponse(f"degraded: {'; '.join(problems)}\n")
    return PlainTextResponse("ready\n")


@router.get("/metrics", response_class=PlainTextResponse, tags=["fleet"])
def metrics(request: Request, db: Db) -> Response:
    """Prometheus text format (counts only)."""
    return PlainTextResponse(metrics_text(db, request.app.state.missing),
                             media_type="text/plain; version=0.0.4")
