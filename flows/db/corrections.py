"""Corrections of stored values: profile values and periodic register reads (the views follow
them through the change log the triggers keep)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from flows.db.connection import Database, InvalidValueError, NotFoundError


def _check_cumulative(wh: int) -> None:
    if wh < 0:
        raise InvalidValueError(f"a cumulative register value cannot be negative: {wh}")


def correct_profile_value(db: Database, register: UUID, timestamp: datetime, wh: int) -> None:
    """Set the cumulative Wh at ``timestamp`` (adding the value if it was missing)."""
    _check_cumulative(wh)
    changed = db.execute("UPDATE register_profile_hh SET cumulative_wh = :wh WHERE register_id = "
                         ":r AND timestamp = :t", {"r": register, "t": timestamp, "wh": wh})
    if not changed:
        db.execute("INSERT INTO register_profile_hh (register_id, timestamp, cumulative_wh, "
                   "status) VALUES (:r, :t, :wh, 0)", {"r": register, "t": timestamp, "wh": wh})


def correct_register_read(db: Database, register: UUID, timestamp: datetime, wh: int) -> None:
    """Set the periodic register read (import) at ``timestamp``, adding it if it was missing."""
    _check_cumulative(wh)
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
        raise NotFoundError(f"no register read of register {register} at {timestamp.isoformat()}")


def delete_profile_value(db: Database, register: UUID, timestamp: datetime) -> None:
    removed = db.execute("DELETE FROM register_profile_hh WHERE register_id = :r AND timestamp = :t",
                         {"r": register, "t": timestamp})
    if not removed:
        raise NotFoundError(f"no profile value of register {register} at {timestamp.isoformat()}")
