"""Admin routes of future tariffs: schedule one on a set of meters (written in the background
through the mediator, as `flows tariffs schedule` does) and follow each meter's outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from flows.api.auth import admin, key_name
from flows.api.connections import Db
from flows.api.errors import http_error
from flows.db import DatabaseError, tariffs
from flows.db.tariffs import FutureTariff

# Writes a tariff to meters through the mediator: (tariff, serials, actor) → done. `flows
# serve --mediator` gives one (running `flows.collect.tariffs.schedule_tariff`); without it
# the routes answer 409.
AdminTariffs = Callable[[FutureTariff, list[str], str], Coroutine[Any, Any, None]]

router = APIRouter(tags=["admin"])


class Meters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    esco: str | None = Field(None, description="every active meter of this esco")
    serials: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=100_000)


class TariffSchedule(BaseModel):
    """A future tariff (GBP, at most 5 decimal places) and the meters it goes to. Prepayment
    settings left out: each meter keeps its own."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    activation: AwareDatetime = Field(alias="from")
    standing_charge: Decimal = Field(description="GBP per day")
    unit_rate: Decimal = Field(description="GBP per kWh")
    emergency_credit: Decimal | None = None
    ecredit_availability: Decimal | None = None
    debt_recovery_rate: Decimal | None = None
    meters: Meters


class ScheduleStarted(BaseModel):
    schedule_id: UUID
    meters: int
    status: str = Field(description="where to follow it")


class MeterOutcome(BaseModel):
    outcome: str
    reason: str
    at: Any
    actor: str


class ScheduleStatus(BaseModel):
    schedule_id: UUID
    running: bool = Field(description="still writing meters (in this server)")
    verified: int
    failed: int
    meters: dict[str, MeterOutcome] = Field(description="each meter's last outcome, by serial")


def _hook(request: Request) -> AdminTariffs:
    hook: AdminTariffs | None = request.app.state.admin_tariffs
    if hook is None:
        raise HTTPException(409, "this server has no mediator configured (--mediator)")
    return hook


@router.post("/admin/tariffs/schedules", dependencies=[Depends(admin)], status_code=202,
             response_model=ScheduleStarted)
async def schedule(body: TariffSchedule, request: Request, db: Db) -> dict[str, Any]:
    """Write a future tariff to meters in the background; a meter verified for the same tariff
    before is skipped. Follow it at the answer's ``status``."""
    hook = _hook(request)
    try:
        tariff = FutureTariff(body.activation, body.standing_charge, body.unit_rate,
                              body.emergency_credit, body.ecredit_availability,
                              body.debt_recovery_rate)
        serials = tariffs.target_meters(db, body.meters.esco, tuple(body.meters.serials))
        actor = f"api:{key_name(request)}"
        with db.transaction():
            schedule_id = tariffs.schedule(db, tariff, actor)
    except DatabaseError as error:
        raise http_error(error) from None
    running: dict[UUID, asyncio.Task[None]] = request.app.state.tariff_schedules
    if schedule_id in running and not running[schedule_id].done():
        raise HTTPException(409, f"tariff schedule {schedule_id} is being written already")
    running[schedule_id] = asyncio.create_task(hook(tariff, serials, actor))
    return {"schedule_id": schedule_id, "meters": len(serials),
            "status": f"/admin/tariffs/schedules/{schedule_id}"}


@router.get("/admin/tariffs/schedules/{schedule_id}", dependencies=[Depends(admin)],
            response_model=ScheduleStatus)
async def schedule_status(schedule_id: UUID, request: Request, db: Db) -> dict[str, Any]:
    """Each meter's last outcome of the schedule so far."""
    try:
        outcomes = tariffs.latest_outcomes(db, schedule_id)
    except DatabaseError as error:
        raise http_error(error) from None
    task = request.app.state.tariff_schedules.get(schedule_id)
    return {"schedule_id": schedule_id, "running": task is not None and not task.done(),
            "verified": sum(last["outcome"] == "verified" for last in outcomes.values()),
            "failed": sum(last["outcome"] == "failed" for last in outcomes.values()),
            "meters": outcomes}
