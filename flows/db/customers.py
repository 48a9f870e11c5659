"""Customers and the meters they have (``customers``, ``customer_meters``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from flows.db.connection import (
    ConflictError,
    Database,
    InvalidValueError,
    NotFoundError,
    query_in,
)
from flows.db.registry import meter_id
from flows.meterdata import FIRST_LINK_DAY, LAST_DAY, local_midnight


def add_customer(db: Database, customer_id: str, name: str = "") -> None:
    if not customer_id.strip():
        raise InvalidValueError("a customer needs an id")
    if exists(db, customer_id):
        raise ConflictError(f"customer {customer_id!r} exists already")
    db.execute("INSERT INTO customers (id, name) VALUES (:id, :name)", {"id": customer_id, "name": name})


def link_meter(db: Database, customer_id: str, serial: str, valid_from: datetime,
               valid_to: datetime | None = None, actor: str = "flows", reason: str = "") -> None:
    """The customer had the meter from ``valid_from`` (inclusive) to ``valid_to`` (exclusive),
    audited."""
    _check_bounds(valid_from, valid_to)
    if valid_to is not None and valid_to <= valid_from:
        raise InvalidValueError(f"valid_to {valid_to} is not after valid_from {valid_from}")
    if not exists(db, customer_id):
        raise NotFoundError(f"no customer {customer_id!r}")
    meter = meter_id(db, serial)
    clashing = _overlapping(db, meter, valid_from, valid_to)
    if clashing:
        raise ConflictError(f"meter {serial} is linked already for part of that period: "
                            f"{_describe(clashing[0])}; a meter has one customer at a time "
                            "(end that link first: flows customers unlink)")
    with db.transaction():
        db.execute("INSERT INTO customer_meters (customer_id, meter_id, valid_from, valid_to) "
                   "VALUES (:c, :m, :f, :t)", {"c": customer_id, "m": meter, "f": valid_from,
                                                 "t": valid_to})
        _audit(db, "link", customer_id, meter, valid_from, None, valid_to, actor, reason)


def unlink_meter(db: Database, serial: str, at: datetime, actor: str = "flows",
                 reason: str = "") -> dict[str, Any]:
    """End the meter's link that is valid at ``at`` (``at`` becomes its exclusive end),
    audited; the link as it was."""
    _check_bounds(at, None)
    meter = meter_id(db, serial)
    current = _overlapping(db, meter, at, at + _INSTANT)
    if not current:
        raise NotFoundError(f"meter {serial} is linked to no customer at {at.isoformat()}")
    link = current[0]
    if at <= link["valid_from"]:
        raise InvalidValueError(f"{_describe(link)} starts at {at.isoformat()} or later: ending "
                                "it there would leave it empty; give a later time (or delete "
                                "the link: flows customers delete-link)")
    with db.transaction():
        db.execute("UPDATE customer_meters SET valid_to = :at WHERE customer_id = :c "
                   "AND meter_id = :m AND valid_from = :f",
                   {"at": at, "c": link["customer_id"], "m": meter, "f": link["valid_from"]})
        _audit(db, "end", link["customer_id"], meter, link["valid_from"], link["valid_to"], at,
               actor, reason)
    return link


def delete_link(db: Database, serial: str, valid_from: datetime, actor: str = "flows",
                reason: str = "") -> dict[str, Any]:
    """Remove the meter's link starting at ``valid_from`` (one made by mistake), audited; the
    link as it was."""
    meter = meter_id(db, serial)
    found = [link for link in db.query(
        "SELECT customer_id, valid_from, valid_to FROM customer_meters WHERE meter_id = :m",
        {"m": meter}) if link["valid_from"] == valid_from]
    if not found:
        raise NotFoundError(f"meter {serial} has no link starting at {valid_from.isoformat()} "
                            "(flows customers links --meter lists them)")
    link = found[0]
    with db.transaction():
        db.execute("DELETE FROM customer_meters WHERE customer_id = :c AND meter_id = :m "
                   "AND valid_from = :f", {"c": link["customer_id"], "m": meter,
                                           "f": link["valid_from"]})
        _audit(db, "delete", link["customer_id"], meter, link["valid_from"], link["valid_to"],
               None, actor, reason)
    return link


def link_history(db: Database, serial: str) -> list[dict[str, Any]]:
    """Every link change of the meter, newest first: at, actor, action, customer_id,
    valid_from, valid_to_before, valid_to_after, reason."""
    return db.query("SELECT at, actor, action, customer_id, valid_from, valid_to_before, "
                    "valid_to_after, reason FROM customer_link_audit WHERE meter_id = :m "
                    "ORDER BY at DESC, id DESC", {"m": meter_id(db, serial)})


def _audit(db: Database, action: str, customer_id: str, meter: UUID, valid_from: datetime,
           before: datetime | None, after: datetime | None, actor: str, reason: str) -> None:
    db.execute("INSERT INTO customer_link_audit (at, actor, action, customer_id, meter_id, "
               "valid_from, valid_to_before, valid_to_after, reason) VALUES (:at, :actor, "
               ":action, :c, :m, :f, :before, :after, :reason)",
               {"at": datetime.now(UTC), "actor": actor, "action": action, "c": customer_id,
                "m": meter, "f": valid_from, "before": before, "after": after, "reason": reason})


# Links start and end within these (local midnights): a year typo is refused where it enters,
# and the views quarantine a link another writer stored outside them.
EARLIEST_LINK = local_midnight(FIRST_LINK_DAY)
LATEST_LINK = local_midnight(LAST_DAY + timedelta(days=1))
LINK_DATES = f"{FIRST_LINK_DAY} to {LAST_DAY}"


def within_link_dates(moment: datetime) -> bool:
    return EARLIEST_LINK <= moment <= LATEST_LINK


def _check_bounds(valid_from: datetime, valid_to: datetime | None) -> None:
    for name, moment in (("valid_from", valid_from), ("valid_to", valid_to)):
        if moment is None:
            continue
        if moment.tzinfo is None:
            raise InvalidValueError(f"{name} must be timezone-aware, got {moment!r}")
        if not within_link_dates(moment):
            raise InvalidValueError(f"{name} {moment.isoformat()} lies outside the dates a link "
                                    f"may have ({LINK_DATES})")


def links_of_meter(db: Database, serial: str) -> list[dict[str, Any]]:
    """The meter's links, oldest first: customer_id, valid_from, valid_to (None: open)."""
    return db.query("SELECT customer_id, valid_from, valid_to FROM customer_meters "
                    "WHERE meter_id = :m ORDER BY valid_from", {"m": meter_id(db, serial)})


_INSTANT = timedelta(milliseconds=1)  # the storage precision of timestamps
_END_OF_TIME = datetime(9999, 12, 31, tzinfo=UTC)


def _overlapping(db: Database, meter: UUID, start: datetime, end: datetime | None
                 ) -> list[dict[str, Any]]:
    return db.query(
        "SELECT customer_id, valid_from, valid_to FROM customer_meters WHERE meter_id = :m "
        "AND valid_from < :end AND (valid_to IS NULL OR :start < valid_to) ORDER BY valid_from",
        {"m": meter, "start": start, "end": end or _END_OF_TIME})


def _describe(link: dict[str, Any]) -> str:
    until = link["valid_to"].isoformat() if link["valid_to"] else "open-ended"
    return f"customer {link['customer_id']!r} from {link['valid_from'].isoformat()} until {until}"


def exists(db: Database, customer_id: str) -> bool:
    return bool(db.query("SELECT 1 AS found FROM customers WHERE id = :id", {"id": customer_id}))


def links(db: Database) -> list[dict[str, Any]]:
    """Every customer-meter link: customer_id, meter_id, valid_from, valid_to (None: open)."""
    return db.query("SELECT customer_id, meter_id, valid_from, valid_to FROM customer_meters")


def links_of_meters(db: Database, meters: Iterable[UUID]) -> list[dict[str, Any]]:
    """The links of these meters, as `links`."""
    return query_in(db, "SELECT customer_id, meter_id, valid_from, valid_to FROM customer_meters "
                        "WHERE meter_id IN ({values})", meters)
