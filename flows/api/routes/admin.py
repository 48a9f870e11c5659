"""Admin routes: correct or delete a value (audited, judged by the views' rules), the audit
trail, and syncing one meter now."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

from flows.api.auth import admin, key_name, reader
from flows.api.connections import Db
from flows.api.errors import http_error
from flows.api.models import CorrectionAnswer, CorrectionHistory, SyncAnswer
from flows.api.params import Serial
from flows.api.routes.usage import check_years, meter_id_of
from flows.db import Database, DatabaseError, connect, corrections
from flows.meterdata import REGISTER_MAX_WH, Frequency
from flows.views import correct, views_position

# Syncs one meter now: (database, serial, frequency) → what to answer. `flows serve` gives one
# that runs the collector's cycle through the mediator; without it the route answers 409.
AdminSync = Callable[[Database, str, str], Awaitable[dict[str, Any]]]

router = APIRouter(tags=["admin"])


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


def _apply(db: Database, correction: corrections.Correction) -> dict[str, Any]:
    check_years("timestamp", correction.timestamp)
    try:
        applied = correct(db, correction)
    except DatabaseError as error:
        raise http_error(error) from None
    return {"serial": correction.serial, "element": correction.element,
            "timestamp": correction.timestamp, "old_wh": applied.old_wh,
            "wh": applied.new_wh, "change": applied.change,
            "views_applied": views_position(db) >= applied.change}


@router.put("/meters/{serial}/reads", dependencies=[Depends(admin)],
            response_model=CorrectionAnswer)
def correct_read(serial: Serial, correction: Correction, db: Db, request: Request
                 ) -> dict[str, Any]:
    """Set a cumulative value (adding it if missing), audited; the views re-derive what
    depends on it. ``change``: its number in the change log; ``views_applied``: whether
    the views show it yet (`flows serve --views` applies it within seconds)."""
    return _apply(db, corrections.Correction(
        serial, correction.element, correction.timestamp, correction.wh,
        key_name(request), correction.register_read, correction.reason,
        correction.allow_span, correction.allow_reversal))


@router.delete("/meters/{serial}/reads", dependencies=[Depends(admin)],
               response_model=CorrectionAnswer)
def delete_read(serial: Serial, db: Db, request: Request, timestamp: AwareDatetime,
                reason: Annotated[str, Query(min_length=1, max_length=500)],
                element: Literal["A", "B"] = "A", register_read: bool = False
                ) -> dict[str, Any]:
    """Delete a value, audited."""
    return _apply(db, corrections.Correction(
        serial, element, timestamp, None, key_name(request), register_read, reason))


@router.get("/meters/{serial}/corrections", dependencies=[Depends(reader)],
            response_model=CorrectionHistory)
def correction_history(serial: Serial, db: Db) -> dict[str, Any]:
    """Every correction and deletion of the meter's values, newest first: who, when, the
    value before and after (null: none), why, and whether the views show it yet."""
    try:
        rows = corrections.history_of(db, serial)
    except DatabaseError as error:
        raise http_error(error) from None
    applied = views_position(db)
    return {"results": [{**row, "views_applied": row["change"] <= applied} for row in rows]}


@router.post("/meters/{serial}/sync", dependencies=[Depends(admin)], response_model=SyncAnswer)
async def sync_now(serial: Serial, request: Request,
                   frequency: Frequency = Frequency.HOURLY) -> dict[str, Any]:
    """Sync one meter now with the metrics enabled for ``frequency``."""
    admin_sync: AdminSync | None = request.app.state.admin_sync
    if admin_sync is None:
        raise HTTPException(409, "this server has no mediator configured (--mediator)")
    db = connect(request.app.state.database_url)
    try:
        meter_id_of(db, serial)
        result = await admin_sync(db, serial, frequency.value)
    finally:
        db.close()
    return {"serial": serial, **result}
