"""The Octopus-compatible surface: what client libraries, dashboards and exporters written for
Octopus Energy's API read, with only their base URL changed (``https://flows.example.com``
for ``https://api.octopus.energy``).

A meter point is an MPAN (a meter's import MPAN, or its export MPAN: the direction follows);
``/v1/electricity-meter-points/{mpan}/meters/{serial}/consumption/`` takes Octopus' parameters
and answers its pages: ``consumption`` a JSON number, interval times in the local offset
(``Z`` in winter, ``+01:00`` in summer), 400 on a bad parameter, with or without the trailing
slash. Keys come as HTTP Basic with the key as the username. Flows' extras (quality, flags,
counts, partial) ride along as fields Octopus clients ignore; Flows' own routes keep exact
decimal strings and UTC half hours.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, Field

from flows.api.auth import OCTOPUS_PREFIX, reader
from flows.api.connections import Db
from flows.api.errors import http_error
from flows.api.params import Serial
from flows.api.routes.usage import (
    MAX_PAGE,
    ConsumptionPage,
    ConsumptionRow,
    OrderBy,
    check_years,
    consumption_row,
    page_response,
    period,
)
from flows.db import NotFoundError, registry
from flows.meterdata import GSP_GROUPS, HALF_HOUR, LOCAL_ZONE, MPAN_PATTERN
from flows.views import UsageRow, freshness, usage

PREFIX = OCTOPUS_PREFIX.rstrip("/")
# Octopus' aggregates; none given: half hours.
OctopusGroupBy = Literal["hour", "day", "week", "month", "quarter"]
Mpan = Annotated[str, Path(pattern=MPAN_PATTERN, description="the meter point's MPAN (13 digits)")]
# Numbers, not strings: what Octopus sends (the text is the exact decimal all the same).
_ENCODER = msgspec.json.Encoder(decimal_format="number")
# A query string's "+" is a space once decoded: "2025-06-01T00:00:00 01:00" is what a client
# that did not encode "+01:00" sends.
_UNENCODED_PLUS = re.compile(r" (\d\d:?\d\d)$")


class OctopusConsumptionRow(ConsumptionRow):
    consumption: float = Field(description="kWh of the usable half hours: a JSON number whose "  # type: ignore[assignment]
                                           "text is the exact decimal")
    invalid_consumption: float | None = None  # type: ignore[assignment]


class OctopusConsumptionPage(ConsumptionPage):
    results: list[OctopusConsumptionRow]  # type: ignore[assignment]


class MeterOnPoint(BaseModel):
    serial_number: str
    direction: Literal["import", "export"] = Field(description="what this MPAN is for the meter")


class MeterPoint(BaseModel):
    mpan: str
    gsp: str | None = Field(description="the GSP group of the distributor's area (_A to _P); "
                                        "null for a distributor that spans areas")
    profile_class: int | None = Field(None, description="not held by Flows: always null")
    meters: list[MeterOnPoint] = Field(description="Flows' meters on this meter point")


def _moment(name: str, text: str | None) -> datetime | None:
    """An ISO 8601 date-time with an offset (``Z`` or ``+01:00``); 400 naming the parameter."""
    if text is None:
        return None
    cleaned = _UNENCODED_PLUS.sub(r"+\1", text.strip())
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise HTTPException(400, f"{name} must be an ISO 8601 date-time with an offset "
                                 f"(2025-06-01T00:00:00Z), not {text[:40]!r}")
    return moment


def _last_whole_half_hour() -> datetime:
    """An open period ends here: the running half hour has no consumption yet."""
    now = datetime.now(UTC)
    return now - (now - datetime(2000, 1, 1, tzinfo=UTC)) % HALF_HOUR


def octopus_row(row: UsageRow) -> dict[str, Any]:
    """Flows' row with Octopus' interval times: local, with their offset (the consumption is
    the same decimal, written as a number by the encoder)."""
    return {**consumption_row(row), "interval_start": row.start.astimezone(LOCAL_ZONE),
            "interval_end": row.end.astimezone(LOCAL_ZONE)}


router = APIRouter(prefix=PREFIX, tags=["octopus-compatible"], dependencies=[Depends(reader)])


@router.get("/electricity-meter-points/{mpan}/meters/{serial}/consumption/",
            response_model=OctopusConsumptionPage)
@router.get("/electricity-meter-points/{mpan}/meters/{serial}/consumption",
            include_in_schema=False)
def consumption(mpan: Mpan, serial: Serial, db: Db, request: Request,
                period_from: Annotated[str | None, Query(
                    description="from (inclusive), ISO 8601 with an offset")] = None,
                period_to: Annotated[str | None, Query(
                    description="to (exclusive); default: the last whole half hour")] = None,
                page_size: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
                page: Annotated[int, Query(ge=1)] = 1, order_by: OrderBy = "-period",
                group_by: OctopusGroupBy | None = None) -> Response:
    """Octopus' consumption of a meter on a meter point: import on its import MPAN, export
    on its export MPAN, by half hour (or ``group_by``), newest first unless order_by=period.
    ``consumption`` is kWh as a number; times are local (Europe/London) with their offset."""
    try:
        meter, direction = registry.meter_on_mpan(db, mpan, serial)
    except NotFoundError as error:
        raise http_error(error) from None
    start, end = _moment("period_from", period_from), _moment("period_to", period_to)
    as_of = freshness(db).data_as_of  # before reading: the rows are at least this fresh
    open_end = _last_whole_half_hour()
    if end is None and start is not None and start >= open_end:
        check_years("period_from", start)
        rows: list[UsageRow] = []  # from the running half hour on: nothing yet, not an error
    else:
        start, end = period(start, end or open_end)
        rows = usage(db, period_from=start, period_to=end, group_by=group_by or "hh",
                     meter_id=meter, direction=direction)
    return page_response(request, rows, order_by, page, page_size, as_of, octopus_row, _ENCODER)


@router.get("/electricity-meter-points/{mpan}/", response_model=MeterPoint)
@router.get("/electricity-meter-points/{mpan}", include_in_schema=False)
def meter_point(mpan: Mpan, db: Db) -> dict[str, Any]:
    """A meter point as Octopus describes it (mpan, gsp, profile_class), with the meters on
    it in Flows."""
    meters = registry.meters_on_mpan(db, mpan)
    if not meters:
        raise HTTPException(404, f"no meter is on MPAN {mpan}")
    return {"mpan": mpan, "gsp": GSP_GROUPS.get(mpan[:2]), "profile_class": None,
            "meters": [{"serial_number": m["serial"], "direction": m["direction"]}
                       for m in meters]}
