"""Usage routes: a meter's consumption and a customer's and an esco's usage, Octopus-like
(period, order and pages), one handler behind the three (`UsageQuery.page_of`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field

from flows.api.auth import reader
from flows.api.connections import Db
from flows.api.errors import http_error
from flows.api.params import Serial
from flows.db import Database, NotFoundError, customers, registry
from flows.meterdata import Quality, flag_names
from flows.views import UsageRow, freshness, usage

GroupBy = Literal["hh", "hour", "day", "week", "month", "quarter"]
DailyGroupBy = Literal["day", "week", "month", "quarter"]
OrderBy = Literal["period", "-period"]
Direction = Literal["import", "export"]
MAX_PAGE = 25_000
MAX_SPAN = timedelta(days=3660)  # ten years: also how far back an open period_from reaches
# Comparing an aware datetime in year 1 or 9999 with an offset overflows: such ends are refused.
EARLIEST, LATEST = datetime(1990, 1, 1, tzinfo=UTC), datetime(2100, 12, 31, tzinfo=UTC)
_ENCODER = msgspec.json.Encoder()  # decimals as strings: exact for any reader


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


def period(period_from: datetime | None, period_to: datetime | None) -> tuple[datetime, datetime]:
    """The period asked for; as with Octopus either end may be left out: up to now, and from
    as far back as a period may reach (ten years). Both ends lie in 1990–2100."""
    for name, moment in (("period_from", period_from), ("period_to", period_to)):
        if moment is not None:
            check_years(name, moment)
    end = period_to or datetime.now(UTC)
    start = max(period_from or end - MAX_SPAN, EARLIEST)
    if end <= start:
        raise HTTPException(422, "period_to must be later than period_from")
    if end - start > MAX_SPAN:
        raise HTTPException(422, "a period may span at most ten years")
    return start, end


RowShape = Callable[[UsageRow], dict[str, Any]]


def page_response(request: Request, rows: list[UsageRow], order_by: OrderBy, page: int,
                  page_size: int, data_as_of: datetime | None, shape: RowShape | None = None,
                  encoder: msgspec.json.Encoder = _ENCODER) -> Response:
    """Octopus-style pages: ``count`` is the whole result's, ``next``/``previous`` are URLs.
    The rows are built typed from typed values (``shape``: a `ConsumptionRow`'s by default)
    and encoded with msgspec (``encoder``): validating a year of days through the model would
    cost more than reading them (tests check the shape)."""
    if order_by == "-period":
        rows = rows[::-1]
    first = (page - 1) * page_size
    if page > 1 and first >= len(rows):
        raise HTTPException(404, f"page {page} is past the last page ({max(1, -(-len(rows) // page_size))})")
    shape = shape or consumption_row
    results = [shape(row) for row in rows[first:first + page_size]]

    def url(number: int) -> str:
        # From the configured public URL, else relative: never from the Host header (a
        # client's Host would put any address into the links others follow).
        target = request.url.include_query_params(page=number)
        return f"{request.app.state.public_url or ''}{target.path}?{target.query}"

    body = {"data_as_of": data_as_of, "count": len(rows),
            "next": url(page + 1) if first + page_size < len(rows) else None,
            "previous": url(page - 1) if page > 1 else None, "results": results}
    return Response(encoder.encode(body), media_type="application/json")


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
        start, end = period(self.period_from, self.period_to)
        as_of = freshness(db).data_as_of  # before reading: the rows are at least this fresh
        rows = usage(db, period_from=start, period_to=end, group_by=group_by,
                     direction=self.direction, **key)
        return page_response(request, rows, self.order_by, self.page, self.page_size, as_of)


Usage = Annotated[UsageQuery, Depends()]


def check_years(name: str, moment: datetime) -> None:
    if not EARLIEST <= moment <= LATEST:
        raise HTTPException(422, f"{name} must lie between {EARLIEST.date()} and "
                                 f"{LATEST.date()}, not {moment.isoformat()}")


def consumption_row(row: UsageRow) -> dict[str, Any]:
    """A row in the shape of `ConsumptionRow`."""
    total = row.total
    counts = None if total is None else {
        "actual": total.actual, "estimated": total.estimated, "invalid": total.invalid,
        "missing": row.missing, "expected": row.expected}
    return {"interval_start": row.start, "interval_end": row.end, "consumption": row.kwh,
            "quality": row.quality, "flags": flag_names(row.flags), "partial": row.partial,
            "counts": counts,
            "invalid_consumption": None if total is None else row.invalid_kwh, "unit": "kWh"}


def meter_id_of(db: Database, serial: str) -> Any:
    try:
        return registry.meter_id(db, serial)
    except NotFoundError as error:
        raise http_error(error) from None


router = APIRouter(tags=["usage"], dependencies=[Depends(reader)])


@router.get("/meters/{serial}/consumption", response_model=ConsumptionPage)
def meter_consumption(serial: Serial, db: Db, request: Request, query: Usage,
                      group_by: GroupBy = "hh") -> Response:
    """Consumption (import, or export with direction=export) from period_from (inclusive)
    to period_to (exclusive), newest first unless order_by=period. Half hours and hours are
    UTC; days, weeks (from Monday), months and quarters are Europe/London."""
    return query.page_of(db, request, group_by, meter_id=meter_id_of(db, serial))


@router.get("/customers/{customer_id}/usage", response_model=ConsumptionPage)
def customer_usage(customer_id: str, db: Db, request: Request, query: Usage,
                   group_by: GroupBy = "day") -> Response:
    """A customer's import (or export) over their meters, while each was theirs."""
    if not customers.exists(db, customer_id):
        raise HTTPException(404, f"no customer {customer_id!r}")
    return query.page_of(db, request, group_by, customer_id=customer_id)


@router.get("/escos/{code}/usage", response_model=ConsumptionPage)
def esco_usage(code: str, db: Db, request: Request, query: Usage,
               group_by: DailyGroupBy = "day") -> Response:
    """An esco's import (or export) over its meters (a supplier's portfolio), by local
    day, week, month or quarter, with the same quality counts as a meter's."""
    try:
        esco = registry.esco_id(db, code)
    except NotFoundError as error:
        raise http_error(error) from None
    return query.page_of(db, request, group_by, esco=esco)
