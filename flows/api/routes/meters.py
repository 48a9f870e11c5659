"""Meter routes: the meters (pages by serial), one meter, and fleet health."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from flows.api.auth import reader
from flows.api.connections import Db
from flows.api.models import FleetHealth, MeterDetail, MeterPage
from flows.api.params import Serial
from flows.db import fleet

router = APIRouter(dependencies=[Depends(reader)])


@router.get("/meters", tags=["meters"], response_model=MeterPage)
def list_meters(db: Db, esco: Annotated[str | None, Query(max_length=64)] = None,
                health: Literal["healthy", "unhealthy"] | None = None,
                page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
                cursor: Annotated[str | None, Query(max_length=64)] = None) -> dict[str, Any]:
    """Meters by serial with their health; ``cursor``: the last serial of the previous page."""
    rows = fleet.meters(db, esco=esco, health=health, after=cursor, limit=page_size + 1)
    return {"results": rows[:page_size],
            "next": rows[page_size - 1]["serial"] if len(rows) > page_size else None}


@router.get("/meters/{serial}", tags=["meters"], response_model=MeterDetail)
def get_meter(serial: Serial, db: Db) -> dict[str, Any]:
    """Registry, shadow (latest values) and health of one meter."""
    found = fleet.meter(db, serial)
    if found is None:
        raise HTTPException(404, f"no meter with serial {serial!r}")
    return found


@router.get("/fleet/health", tags=["fleet"], response_model=FleetHealth)
def fleet_health(request: Request, db: Db) -> dict[str, Any]:
    """Counts; unhealthy, offline, low-balance and clock-drift meters; missing half hours
    (as of the views' position); healthy meters with no usage."""
    return fleet.health(db, missing=request.app.state.missing)
