"""The HTTP API: meters, consumption (Octopus-like), customer usage, fleet health, metrics,
admin actions (correct or delete a read, sync one meter), and the dashboard.

Every request takes a connection to the Flows database (a SQLite file or PostgreSQL) from the
app's small pool; route functions are synchronous and FastAPI runs them in its thread pool.
While the database is unreachable (a restart) requests answer 503 and the pool reconnects.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse
from fastapi_offline import FastAPIOffline
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

from flows.api.auth import ApiKeys, LoginRequired, Sessions, admin, key_name, reader
from flows.api.connections import ConnectionPool, Db
from flows.api.dashboard import dashboard_router, login_router, session_ended
from flows.api.errors import http_error
from flows.api.limits import DEFAULT_BODY_TIMEOUT_S, MAX_BODY, BodyTimeout, invalid_request
from flows.api.links import links_router
from flows.api.metrics import metrics_text
from flows.api.middleware import HeadersAndAccessLog
from flows.api.params import Serial
from flows.api.throttle import Failures
from flows.db import (
    Database,
    DatabaseError,
    NotFoundError,
    UnavailableError,
    connect,
    corrections,
    customers,
    fleet,
    registry,
)
from flows.meterdata import REGISTER_MAX_WH, Frequency, Quality, flag_names
from flows.views import UsageRow, correct, freshness, usage, views_position

GroupBy = Literal["hh", "hour", "day", "week", "month", "quarter"]
DailyGroupBy = Literal["day", "week", "month", "quarter"]
OrderBy = Literal["period", "-period"]
Direction = Literal["import", "export"]
MAX_PAGE = 25_000
MAX_SPAN = timedelta(days=3660)  # ten years: also how far back an open period_from reaches
# Comparing an aware datetime in year 1 or 9999 with an offset overflows: such ends are refused.
EARLIEST, LATEST = datetime(1990, 1, 1, tzinfo=UTC), datetime(2100, 12, 31, tzinfo=UTC)
# Syncs one meter now: (database, serial, frequency) → what to answer. `flows serve` gives one
# that runs the collector's cycle through the mediator; without it the route answers 409.
AdminSync = Callable[[Database, str, str], Awaitable[dict[str, Any]]]


DEFAULT_STALE_AFTER_S = 900.0  # views lagging longer than this make /readyz say "degraded"


def create_app(database_url: str, keys: ApiKeys, admin_sync: AdminSync | None = None,
               stale_after_s: float = DEFAULT_STALE_AFTER_S, public_url: str | None = None,
               body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S) -> FastAPI:
    """The API over the database at ``database_url``; ``admin_sync`` enables
    POST /meters/{serial}/sync; views lagging more than ``stale_after_s`` behind the change
    log make /readyz report degraded; ``public_url`` (``https://flows.example.com``) starts
    the ``next``/``previous`` links of pages (without it they are relative); a request body
    must arrive within ``body_timeout_s``."""
    # /docs from the Swagger UI files installed with Flows (fastapi-offline: no CDN); no ReDoc.
    app = FastAPIOffline(title="Flows", version="0.1.0", redoc_url=None,
                         static_url="/docs-assets", max_body_size=MAX_BODY,
                         description="Smart prepayment meters: registry, health and consumption.")
    app.state.database_url, app.state.keys, app.state.admin_sync = database_url, keys, admin_sync
    app.state.stale_after_s = stale_after_s
    app.state.public_url = public_url.rstrip("/") if public_url else None
    app.state.connections = ConnectionPool(database_url)
    app.state.sessions, app.state.failures = Sessions(), Failures()
    app.add_middleware(BodyTimeout, timeout_s=body_timeout_s)
    app.add_middleware(HeadersAndAccessLog)  # outermost: logs what BodyTimeout cuts too
    app.add_exception_handler(RequestValidationError, invalid_request)

    @app.exception_handler(LoginRequired)
    async def log_in_first(request: Request, error: LoginRequired) -> Response:
        if error.ended:
            return session_ended(request)
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(UnavailableError)
    async def database_unavailable(request: Request, error: UnavailableError) -> Response:
        return JSONResponse({"detail": f"the database is unavailable, try again: {error}"},
                            status_code=503, headers={"Retry-After": "5"})

    app.include_router(_api_routes())
    app.include_router(links_router())
    app.include_router(login_router())
    app.include_router(dashboard_router())
    return app





class HalfHourCounts(BaseModel):
    """The register half hours of a row (a twin-element meter has two per half hour)."""

    actual: int
    estimated: int = Field(description="derived from a gap, a clock skew or register reads")
    invalid: int = Field(description="reversal, sentinel or spike: not in consumption")
    missing: int
    expected: int = Field(description="46, 48 or 50 a local day per register, inside the row")


class ConsumptionRow(BaseModel):
    interval_start: datetime
    interval_end: datetime
    consumption: Decimal = Field(description="kWh of the usable half hours")
    quality: Quality | Literal["incomplete"] = Field(
        description="half hours: actual, estimated or invalid. Longer rows: actual when every "
                    "expected half hour is actual, incomplete when any is missing or invalid, "
                    "otherwise estimated")
    flags: list[str]
    partial: bool = Field(False, description="period_from or period_to cuts this row's hour, day, "
                                             "week, month or quarter: interval_start/interval_end "
                                             "are the cut's, and only the half hours inside count")
    counts: HalfHourCounts | None = Field(None, description="every row longer than a half hour")
    invalid_consumption: Decimal | None = Field(
        None, description="kWh of the invalid half hours, apart (rows longer than a half hour)")
    unit: Literal["kWh"] = "kWh"


class ConsumptionPage(BaseModel):
    data_as_of: datetime | None = Field(
        description="the rows reflect every reading and correction committed up to this time "
                    "(null: the views have never caught up)")
    count: int = Field(description="rows in the whole result, over every page")
    next: str | None = Field(description="URL of the next page")
    previous: str | None = Field(description="URL of the previous page")
    results: list[ConsumptionRow]


class Correction(BaseModel):
    """A corrected cumulative value; unknown fields are refused (a misspelt field must not
    fall back to a default, such as the element)."""

    model_config = ConfigDict(extra="forbid")

    timestamp: AwareDatetime
    wh: StrictInt = Field(ge=0, le=REGISTER_MAX_WH, description="cumulative Wh at that time")
    element: Literal["A", "B"] = "A"
    register_read: bool = Field(False, description="a periodic register read, not a profile value")
    reason: str = Field(min_length=1, max_length=500, description="why (kept in the audit trail)")
    allow_span: bool = Field(False, description="confirm a value that stretches the register's "
                                                "history by more than 31 days")
    allow_reversal: bool = Field(False, description="confirm a value that makes a reversal or "
                                                    "a spike with the values around it")


def _period(period_from: datetime | None, period_to: datetime | None) -> tuple[datetime, datetime]:
    """The period asked for; as with Octopus either end may be left out: up to now, and from
    as far back as a period may reach (ten years). Both ends lie in 1990–2100."""
    for name, moment in (("period_from", period_from), ("period_to", period_to)):
        if moment is not None:
            _check_years(name, moment)
    end = period_to or datetime.now(UTC)
    start = max(period_from or end - MAX_SPAN, EARLIEST)
    if end <= start:
        raise HTTPException(422, "period_to must be later than period_from")
    if end - start > MAX_SPAN:
        raise HTTPException(422, "a period may span at most ten years")
    return start, end


def _page(request: Request, rows: list[UsageRow], order_by: OrderBy, page: int,
          page_size: int, data_as_of: datetime | None) -> Response:
    """Octopus-style pages: ``count`` is the whole result's, ``next``/``previous`` are URLs.
    The rows are built typed from typed values and encoded with msgspec: validating a year of
    days through the model would cost more than reading them (tests check the shape)."""
    if order_by == "-period":
        rows = rows[::-1]
    first = (page - 1) * page_size
    if page > 1 and first >= len(rows):
        raise HTTPException(404, f"page {page} is past the last page ({max(1, -(-len(rows) // page_size))})")
    results = [_consumption_row(row) for row in rows[first:first + page_size]]

    def url(number: int) -> str:
        # From the configured public URL, else relative: never from the Host header (a
        # client's Host would put any address into the links others follow).
        target = request.url.include_query_params(page=number)
        return f"{request.app.state.public_url or ''}{target.path}?{target.query}"

    body = {"data_as_of": data_as_of, "count": len(rows),
            "next": url(page + 1) if first + page_size < len(rows) else None,
            "previous": url(page - 1) if page > 1 else None, "results": results}
    return Response(msgspec.json.encode(body), media_type="application/json")


class UsageQuery:
    """The parameters every usage route shares: Octopus' period, order and pages, and the
    direction."""

    def __init__(self, period_from: AwareDatetime | None = None,
                 period_to: AwareDatetime | None = None, order_by: OrderBy = "-period",
                 page_size: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
                 page: Annotated[int, Query(ge=1)] = 1, direction: Direction = "import") -> None:
        self.period_from, self.period_to, self.order_by = period_from, period_to, order_by
        self.page_size, self.page, self.direction = page_size, page, direction

    def page_of(self, db: Database, request: Request, group_by: str, **key: Any) -> Response:
        """The page asked for of ``key``'s usage (a meter, a customer or an esco)."""
        start, end = _period(self.period_from, self.period_to)
        as_of = freshness(db).data_as_of  # before reading: the rows are at least this fresh
        rows = usage(db, period_from=start, period_to=end, group_by=group_by,
                     direction=self.direction, **key)
        return _page(request, rows, self.order_by, self.page, self.page_size, as_of)


Usage = Annotated[UsageQuery, Depends()]


def _check_years(name: str, moment: datetime) -> None:
    if not EARLIEST <= moment <= LATEST:
        raise HTTPException(422, f"{name} must lie between {EARLIEST.date()} and "
                                 f"{LATEST.date()}, not {moment.isoformat()}")


def _apply(db: Database, request: Request, correction: corrections.Correction) -> dict[str, Any]:
    _check_years("timestamp", correction.timestamp)
    try:
        applied = correct(db, correction)
    except DatabaseError as error:
        raise http_error(error) from None
    return {"serial": correction.serial, "element": correction.element,
            "timestamp": correction.timestamp, "old_wh": applied.old_wh,
            "wh": applied.new_wh, "change": applied.change,
            "views_applied": views_position(db) >= applied.change}


def _consumption_row(row: UsageRow) -> dict[str, Any]:
    """A row in the shape of `ConsumptionRow`."""
    total = row.total
    counts = None if total is None else {
        "actual": total.actual, "estimated": total.estimated, "invalid": total.invalid,
        "missing": row.missing, "expected": row.expected}
    return {"interval_start": row.start, "interval_end": row.end, "consumption": row.kwh,
            "quality": row.quality, "flags": flag_names(row.flags), "partial": row.partial,
            "counts": counts,
            "invalid_consumption": None if total is None else row.invalid_kwh, "unit": "kWh"}


def _meter_id(db: Database, serial: str) -> Any:
    try:
        return registry.meter_id(db, serial)
    except NotFoundError as error:
        raise http_error(error) from None


def _api_routes() -> APIRouter:
    router = APIRouter()
    @router.get("/meters", dependencies=[Depends(reader)], tags=["meters"])
    def list_meters(db: Db, esco: Annotated[str | None, Query(max_length=64)] = None,
                    health: Literal["healthy", "unhealthy"] | None = None,
                    page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
                    cursor: Annotated[str | None, Query(max_length=64)] = None) -> dict[str, Any]:
        """Meters by serial with their health; ``cursor``: the last serial of the previous page."""
        rows = fleet.meters(db, esco=esco, health=health, after=cursor, limit=page_size + 1)
        return {"results": rows[:page_size],
                "next": rows[page_size - 1]["serial"] if len(rows) > page_size else None}

    @router.get("/meters/{serial}", dependencies=[Depends(reader)], tags=["meters"])
    def get_meter(serial: Serial, db: Db) -> dict[str, Any]:
        """Registry, shadow (latest values) and health of one meter."""
        found = fleet.meter(db, serial)
        if found is None:
            raise HTTPException(404, f"no meter with serial {serial!r}")
        return found

    @router.get("/meters/{serial}/consumption", dependencies=[Depends(reader)], tags=["usage"],
                response_model=ConsumptionPage)
    def meter_consumption(serial: Serial, db: Db, request: Request, query: Usage,
                          group_by: GroupBy = "hh") -> Response:
        """Consumption (import, or export with direction=export) from period_from (inclusive)
        to period_to (exclusive), newest first unless order_by=period. Half hours and hours are
        UTC; days, weeks (from Monday), months and quarters are Europe/London."""
        return query.page_of(db, request, group_by, meter_id=_meter_id(db, serial))

    @router.get("/customers/{customer_id}/usage", dependencies=[Depends(reader)], tags=["usage"],
                response_model=ConsumptionPage)
    def customer_usage(customer_id: str, db: Db, request: Request, query: Usage,
                       group_by: GroupBy = "day") -> Response:
        """A customer's import (or export) over their meters, while each was theirs."""
        if not customers.exists(db, customer_id):
            raise HTTPException(404, f"no customer {customer_id!r}")
        return query.page_of(db, request, group_by, customer_id=customer_id)

    @router.get("/escos/{code}/usage", dependencies=[Depends(reader)], tags=["usage"],
                response_model=ConsumptionPage)
    def esco_usage(code: str, db: Db, request: Request, query: Usage,
                   group_by: DailyGroupBy = "day") -> Response:
        """An esco's import (or export) over its meters (a supplier's portfolio), by local
        day, week, month or quarter, with the same quality counts as a meter's."""
        try:
            esco = registry.esco_id(db, code)
        except NotFoundError as error:
            raise http_error(error) from None
        return query.page_of(db, request, group_by, esco=esco)

    @router.get("/healthz", response_class=PlainTextResponse, tags=["health"])
    def healthz() -> str:
        """Liveness (no key): the server answers."""
        return "ok\n"

    @router.get("/readyz", response_class=PlainTextResponse, tags=["health"],
                responses={503: {"description": "the database cannot be reached"}})
    def readyz(request: Request) -> PlainTextResponse:
        """Readiness (no key): the database answers. ``ready``, or 200 ``degraded: …`` while
        meters are quarantined by the views or the views lag more than the configured time
        (usage is served, possibly stale), or 503 without a database."""
        try:
            with connect(request.app.state.database_url) as db:
                db.ping()
                problems = freshness(db).problems(request.app.state.stale_after_s)
        except DatabaseError as error:
            return PlainTextResponse(f"database unavailable: {error}\n", status_code=503)
        if problems:
            return PlainTextResponse(f"degraded: {'; '.join(problems)}\n")
        return PlainTextResponse("ready\n")

    @router.get("/fleet/health", dependencies=[Depends(reader)], tags=["fleet"])
    def fleet_health(db: Db) -> dict[str, Any]:
        return fleet.health(db)

    @router.get("/metrics", response_class=PlainTextResponse, tags=["fleet"])
    def metrics(db: Db) -> Response:
        """Prometheus text format (no key: counts only)."""
        return PlainTextResponse(metrics_text(db), media_type="text/plain; version=0.0.4")

    @router.put("/meters/{serial}/reads", dependencies=[Depends(admin)], tags=["admin"])
    def correct_read(serial: Serial, correction: Correction, db: Db, request: Request
                     ) -> dict[str, Any]:
        """Set a cumulative value (adding it if missing), audited; the views re-derive what
        depends on it. ``change``: its number in the change log; ``views_applied``: whether
        the views show it yet (`flows serve --views` applies it within seconds)."""
        return _apply(db, request, corrections.Correction(
            serial, correction.element, correction.timestamp, correction.wh,
            key_name(request), correction.register_read, correction.reason,
            correction.allow_span, correction.allow_reversal))

    @router.delete("/meters/{serial}/reads", dependencies=[Depends(admin)], tags=["admin"])
    def delete_read(serial: Serial, db: Db, request: Request, timestamp: AwareDatetime,
                    reason: Annotated[str, Query(min_length=1, max_length=500)],
                    element: Literal["A", "B"] = "A", register_read: bool = False
                    ) -> dict[str, Any]:
        """Delete a value, audited."""
        return _apply(db, request, corrections.Correction(
            serial, element, timestamp, None, key_name(request), register_read, reason))

    @router.get("/meters/{serial}/corrections", dependencies=[Depends(reader)], tags=["admin"])
    def correction_history(serial: Serial, db: Db) -> dict[str, Any]:
        """Every correction and deletion of the meter's values, newest first: who, when, the
        value before and after (null: none), why, and whether the views show it yet."""
        try:
            rows = corrections.history_of(db, serial)
        except DatabaseError as error:
            raise http_error(error) from None
        applied = views_position(db)
        return {"results": [{**row, "views_applied": row["change"] <= applied} for row in rows]}

    @router.post("/meters/{serial}/sync", dependencies=[Depends(admin)], tags=["admin"])
    async def sync_now(serial: Serial, request: Request,
                       frequency: Frequency = Frequency.HOURLY) -> dict[str, Any]:
        """Sync one meter now with the metrics enabled for ``frequency``."""
        admin_sync: AdminSync | None = request.app.state.admin_sync
        if admin_sync is None:
            raise HTTPException(409, "this server has no mediator configured (--mediator)")
        db = connect(request.app.state.database_url)
        try:
            _meter_id(db, serial)
            result = await admin_sync(db, serial, frequency.value)
        finally:
            db.close()
        return {"serial": serial, **result}

    return router
