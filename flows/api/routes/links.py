"""Admin routes for customer links (move-in, move-out, a link made by mistake), with the same
rules as `flows customers`: dates are Europe/London local midnights, times need an offset,
every change is audited with the key's name and a reason."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from flows.api.auth import admin, key_name, reader
from flows.api.connections import Db
from flows.api.errors import http_error
from flows.api.models import Link, MeterLinks
from flows.api.params import Serial
from flows.db import DatabaseError, customers
from flows.meterdata import SERIAL_PATTERN, local_midnight

When = AwareDatetime | date  # a date: local midnight (Europe/London)
Reason = Field(min_length=1, max_length=500, description="why (kept in the link audit)")


class NewLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    serial: str = Field(pattern=SERIAL_PATTERN)
    valid_from: When = Field(description="a date (local midnight) or a time with an offset")
    valid_to: When | None = Field(None, description="exclusive; null: open-ended")
    reason: str = Reason


class LinkEnd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: When = Field(description="when the link ends (exclusive)")
    reason: str = Reason


def moment(value: datetime | date) -> datetime:
    """A link's time in UTC: a date is local midnight (422 for a time no calendar holds)."""
    try:
        if isinstance(value, datetime):
            return value.astimezone(UTC)
        return local_midnight(value)
    except OverflowError:
        raise HTTPException(422, f"{value.isoformat()} lies outside the dates a link may have "
                                 f"({customers.LINK_DATES})") from None


router = APIRouter(tags=["links"])


@router.post("/customers/{customer_id}/links", dependencies=[Depends(admin)],
             status_code=201, response_model=Link)
def link(customer_id: str, body: NewLink, db: Db, request: Request) -> dict[str, Any]:
    """The customer has the meter from ``valid_from`` (a move-in), audited."""
    start = moment(body.valid_from)
    end = moment(body.valid_to) if body.valid_to is not None else None
    try:
        customers.link_meter(db, customer_id, body.serial, start, end, key_name(request),
                             body.reason)
    except DatabaseError as error:
        raise http_error(error) from None
    return {"customer_id": customer_id, "serial": body.serial, "valid_from": start,
            "valid_to": end}


@router.post("/meters/{serial}/links/end", dependencies=[Depends(admin)], response_model=Link)
def end_link(serial: Serial, body: LinkEnd, db: Db, request: Request) -> dict[str, Any]:
    """End the meter's link valid at ``at`` (a move-out), audited."""
    at = moment(body.at)
    try:
        link = customers.unlink_meter(db, serial, at, key_name(request), body.reason)
    except DatabaseError as error:
        raise http_error(error) from None
    return {"customer_id": link["customer_id"], "serial": serial,
            "valid_from": link["valid_from"], "valid_to": at}


@router.delete("/meters/{serial}/links", dependencies=[Depends(admin)], response_model=Link)
def delete_link(serial: Serial, db: Db, request: Request, valid_from: AwareDatetime,
                reason: Annotated[str, Query(min_length=1, max_length=500)]
                ) -> dict[str, Any]:
    """Delete the meter's link starting at ``valid_from`` (one made by mistake), audited."""
    try:
        link = customers.delete_link(db, serial, moment(valid_from),
                                     key_name(request), reason)
    except DatabaseError as error:
        raise http_error(error) from None
    return {"customer_id": link["customer_id"], "serial": serial,
            "valid_from": link["valid_from"], "valid_to": link["valid_to"]}


@router.get("/meters/{serial}/links", dependencies=[Depends(reader)], response_model=MeterLinks)
def links(serial: Serial, db: Db) -> dict[str, Any]:
    """The meter's links, oldest first, and their audit, newest first."""
    try:
        return {"results": customers.links_of_meter(db, serial),
                "audit": customers.link_history(db, serial)}
    except DatabaseError as error:
        raise http_error(error) from None
