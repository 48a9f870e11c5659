"""Customers, their meters, and corrections of profile-log values (the views follow them)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from flows.db import Database, DatabaseError


def _meter_id(db: Database, serial: str) -> UUID:
    rows = db.query("SELECT id FROM meter_registry WHERE serial = :s", {"s": serial})
    if not rows:
        raise DatabaseError(f"no meter with serial {serial!r}")
    return UUID(str(rows[0]["id"]))


def register_id(db: Database, serial: str, element: str = "A") -> UUID:
    rows = db.query("SELECT register_id FROM meter_registers WHERE meter_id = :m AND element = :e",
                    {"m": _meter_id(db, serial), "e": element})
    if not rows:
        raise DatabaseError(f"meter {serial} has no element {element} register")
    return UUID(str(rows[0]["register_id"]))


def add_customer(db: Database, customer_id: str, name: str = "") -> None:
    if not customer_id.strip():
        raise DatabaseError("a customer needs an id")
    if db.query("SELECT 1 AS found FROM customers WHERE id = :id", {"id": customer_id}):
        raise DatabaseError(f"customer {customer_id!r} exists already")
    db.execute("INSERT INTO customers (id, name) VALUES (:id, :name)", {"id": customer_id, "name": name})


def link_meter(db: Database, customer_id: str, serial: str, valid_from: datetime,
               valid_to: datetime | None = None) -> None:
    """The customer had the meter from ``valid_from`` (inclusive) to ``valid_to`` (exclusive)."""
    if valid_to is not None and valid_to <= valid_from:
        raise DatabaseError(f"valid_to {valid_to} is not after valid_from {valid_from}")
    if not db.query("SELECT 1 AS found FROM customers WHERE id = :id", {"id": customer_id}):
        raise DatabaseError(f"no customer {customer_id!r}")
    db.execute("INSERT INTO customer_meters (customer_id, meter_id, valid_from, valid_to) "
               "VALUES (:c, :m, :f, :t)", {"c": customer_id, "m": _meter_id(db, serial),
                                             "f": valid_from, "t": valid_to})


def correct_profile_value(db: Database, register: UUID, timestamp: datetime, wh: int) -> None:
    """Set the cumulative Wh at ``timestamp`` (adding the value if it was missing)."""
    if wh < 0:
        raise DatabaseError(f"a cumulative register value cannot be negative: {wh}")
    changed = db.execute("UPDATE register_profile_hh SET cumulative_wh = :wh WHERE register_id = "
                         ":r AND timestamp = :t", {"r": register, "t": timestamp, "wh": wh})
    if not changed:
        db.execute("INSERT INTO register_profile_hh (register_id, timestamp, cumulative_wh, "
                   "status) VALUES (:r, :t, :wh, 0)", {"r": register, "t": timestamp, "wh": wh})


def correct_register_read(db: Database, register: UUID, timestamp: datetime, wh: int) -> None:
    """Set the periodic register read (import) at ``timestamp``, adding it if it was missing."""
    if wh < 0:
        raise DatabaseError(f"a cumulative register value cannot be negative: {wh}")
    params = {"r": register, "t": timestamp, "kwh": wh / 1000}  # stored as kWh, as collected
    changed = db.execute("UPDATE register_import SET read = :kwh WHERE register_id = :r AND "
                         "timestamp = :t", params)
    if not changed:
        db.execute("INSERT INTO register_import (register_id, timestamp, read) "
                   "VALUES (:r, :t, :kwh)", params)


def delete_register_read(db: Database, register: UUID, timestamp: datetime) -> None:
    removed = db.execute("DELETE FROM register_import WHERE register_id = :r AND timestamp = :t",
                         {"r": register, "t": timestamp})
    if not removed:
        raise DatabaseError(f"no register read of register {register} at {timestamp.isoformat()}")


def delete_profile_value(db: Database, register: UUID, timestamp: datetime) -> None:
    removed = db.execute("DELETE FROM register_profile_hh WHERE register_id = :r AND timestamp = :t",
                         {"r": register, "t": timestamp})
    if not removed:
        raise DatabaseError(f"no profile value of register {register} at {timestamp.isoformat()}")
