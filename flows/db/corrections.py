"""Corrections of stored values — profile values and periodic register reads — guarded and
audited. The API and the CLI both go through `apply_correction`, so the rules are the same:

- the meter and the register of the element must exist;
- the time is aware, not in the future (beyond `FUTURE_SKEW`), not before the register's
  first value of that kind minus `MARGIN_BEFORE_FIRST` and not before the history kept
  (retention dropped those months: a value there would change nothing);
- the value is a whole, finite Wh within the register's range (0 to 4,294,967,295);
- a value that would stretch the register's history by more than `MAX_NEW_HALF_HOURS` half
  hours (a year typo makes 175,000) is refused unless ``allow_span`` confirms it;
- a profile value lies on the half-hour grid (:00 or :30; an off-grid one could only be
  deleted);
- a reason is given;
- a deletion needs the value to exist.

(A value that makes a reversal or a spike with its neighbours needs ``allow_reversal``: that
is judged by the views' interval rules, `flows.views.corrections`, which every caller uses.)

Each accepted change is stored with its audit row (who, when, old and new value, why, the
change-log number the views will apply it as) in one transaction: both or neither. The views
follow through the change log the triggers keep.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from flows.db.connection import Database, InvalidValueError, NotFoundError
from flows.db.partitions import history_kept_from
from flows.db.registry import meter_id, register_id
from flows.db.values import SOURCES, neighbours, on_grid
from flows.meterdata import HALF_HOUR, REGISTER_MAX_WH

FUTURE_SKEW = timedelta(minutes=5)
MARGIN_BEFORE_FIRST = timedelta(days=31)
MAX_NEW_HALF_HOURS = 31 * 48


@dataclass(frozen=True)
class Correction:
    """Set (``wh``) or delete (``wh=None``) the value of a meter's element at ``timestamp``."""

    serial: str
    element: str
    timestamp: datetime
    wh: int | None
    actor: str  # the API key's name, or "cli:" and the operating-system user
    register_read: bool = False  # a periodic register read, not a profile-log value
    reason: str = ""
    allow_span: bool = False
    allow_reversal: bool = False  # confirmed: the value makes a reversal or a spike


@dataclass(frozen=True)
class Applied:
    old_wh: int | None
    new_wh: int | None
    change: int  # the change-log number the views apply it as


Value = tuple[datetime, int]  # (timestamp, Wh)
# The implausible flags a value would give its intervals with the values around it:
# (source, value before, the value, value after) → flags (the views' rules judge).
Judge = Callable[[str, Value | None, Value, Value | None], list[str]]


def apply_correction(db: Database, correction: Correction, now: datetime | None = None,
                     judge: Judge | None = None) -> Applied:
    """Check ``correction`` against the rules above (and ``judge``'s, unless it is confirmed
    with ``allow_reversal``) and store it with its audit row; raises `NotFoundError` or
    `InvalidValueError` naming the problem, with nothing stored."""
    source = "reads" if correction.register_read else "profile"
    if not correction.reason.strip():
        raise InvalidValueError("give a reason (it is kept in the audit trail)")
    meter = meter_id(db, correction.serial)
    register = register_id(db, correction.serial, correction.element)
    at = _checked_time(correction.timestamp, now or datetime.now(UTC))
    kept_from = history_kept_from(db)
    if kept_from is not None and at < kept_from:
        raise InvalidValueError(f"{at.isoformat()} is before the history kept (from "
                                f"{kept_from.isoformat()}: retention dropped the months before; "
                                "values there change no usage and the next retention deletes "
                                "them)")
    if source == "profile" and correction.wh is not None and not on_grid(at):
        raise InvalidValueError(f"{at.isoformat()} is not on the half-hour grid (:00 or :30): "
                                "profile values are half-hourly (a register read may be at "
                                "any time: register_read)")
    with db.transaction():
        old = _value(db, source, register, at)
        if correction.wh is None:
            if old is None:
                raise NotFoundError(f"no {_kind(source)} of {correction.serial} "
                                    f"{correction.element} at {at.isoformat()} to delete")
            _delete(db, source, register, at)
        else:
            _check_wh(correction.wh)
            _check_history(db, source, register, at, correction.allow_span)
            if judge is not None and not correction.allow_reversal:
                flags = judge(source, *_around(db, source, register, at, correction.wh))
                if flags:
                    raise InvalidValueError(
                        f"{correction.wh} Wh at {at.isoformat()} would make a "
                        f"{' and a '.join(flags)} with the values around it; confirm with "
                        "allow_reversal (CLI: --allow-reversal) if meant")
            _write(db, source, register, at, correction.wh, exists=old is not None)
        change = _last_change(db)
        db.execute(
            "INSERT INTO value_corrections (made_at, actor, reason, meter_id, register_id, "
            "source, timestamp, old_wh, new_wh, change) VALUES (:made_at, :actor, :reason, :m, "
            ":r, :source, :t, :old, :new, :change)",
            {"made_at": datetime.now(UTC), "actor": correction.actor, "reason": correction.reason,
             "m": meter, "r": register, "source": source, "t": at, "old": old,
             "new": correction.wh, "change": change})
    return Applied(old, correction.wh, change)


def history_of(db: Database, serial: str) -> list[dict[str, Any]]:
    """The meter's corrections, newest first: made_at, actor, reason, element, source,
    timestamp, old_wh, new_wh, change."""
    return db.query(
        "SELECT c.made_at, c.actor, c.reason, r.element, c.source, c.timestamp, c.old_wh, "
        "c.new_wh, c.change FROM value_corrections c JOIN meter_registers r "
        "ON r.register_id = c.register_id WHERE c.meter_id = :m ORDER BY c.id DESC",
        {"m": meter_id(db, serial)})


def _around(db: Database, source: str, register: UUID, at: datetime, wh: int
            ) -> tuple[Value | None, Value, Value | None]:
    before, after = neighbours(db, source, register, at)
    return before, (at, wh), after


def _kind(source: str) -> str:
    return "register read" if source == "reads" else "profile value"


def _checked_time(timestamp: datetime, now: datetime) -> datetime:
    if timestamp.tzinfo is None:
        raise InvalidValueError(f"{timestamp.isoformat()}: give the time zone (UTC: Z)")
    at = timestamp.astimezone(UTC)
    if at > now + FUTURE_SKEW:
        raise InvalidValueError(f"{at.isoformat()} is in the future")
    return at


def _check_wh(wh: int) -> None:
    if isinstance(wh, float) and not math.isfinite(wh):
        raise InvalidValueError(f"{wh} is not a number of Wh")
    if not 0 <= wh <= REGISTER_MAX_WH:
        raise InvalidValueError(f"{wh} Wh is outside a register's range (0 to {REGISTER_MAX_WH})")


def _check_history(db: Database, source: str, register: UUID, at: datetime,
                   allow_span: bool) -> None:
    table, _ = SOURCES[source]
    bounds = db.query(f"SELECT min(timestamp) AS first, max(timestamp) AS last FROM {table} "
                      "WHERE register_id = :r", {"r": register})[0]
    first, last = bounds["first"], bounds["last"]
    if first is None:
        return  # nothing to stretch: a register's first value
    for end in (first, last):
        if not isinstance(end, datetime):  # a row another tool wrote in another text form
            raise InvalidValueError(
                f"{table} holds the timestamp {end!r} for this register, which Flows cannot "
                "read (UTC text such as 2025-01-06T00:30:00.000Z): fix that row first")
    if at < first - MARGIN_BEFORE_FIRST:
        raise InvalidValueError(
            f"{at.isoformat()} is before the register's first {_kind(source)} "
            f"({first.isoformat()}) by more than {MARGIN_BEFORE_FIRST.days} days")
    new_half_hours = max(first - at, at - last, timedelta(0)) // HALF_HOUR
    if new_half_hours > MAX_NEW_HALF_HOURS and not allow_span:
        raise InvalidValueError(
            f"a value at {at.isoformat()} would add {new_half_hours:,} half hours to the "
            f"register's history ({first.isoformat()} to {last.isoformat()}), more than "
            f"{MAX_NEW_HALF_HOURS:,}; confirm with allow_span (CLI: --allow-span) if meant")


def _value(db: Database, source: str, register: UUID, at: datetime) -> int | None:
    table, value = SOURCES[source]
    rows = db.query(f"SELECT {value} AS wh FROM {table} WHERE register_id = :r AND timestamp = :t",
                    {"r": register, "t": at})
    return int(rows[0]["wh"]) if rows else None


def _write(db: Database, source: str, register: UUID, at: datetime, wh: int,
           exists: bool) -> None:
    params: dict[str, Any] = {"r": register, "t": at, "wh": wh, "kwh": wh / 1000}
    if source == "profile" and exists:
        db.execute("UPDATE register_profile_hh SET cumulative_wh = :wh WHERE register_id = :r "
                   "AND timestamp = :t", params)
    elif source == "profile":
        db.execute("INSERT INTO register_profile_hh (register_id, timestamp, cumulative_wh, "
                   "status) VALUES (:r, :t, :wh, 0)", params)
    elif exists:  # register reads are stored in kWh, as collected
        db.execute("UPDATE register_import SET read = :kwh WHERE register_id = :r "
                   "AND timestamp = :t", params)
    else:
        db.execute("INSERT INTO register_import (register_id, timestamp, read) "
                   "VALUES (:r, :t, :kwh)", params)


def _delete(db: Database, source: str, register: UUID, at: datetime) -> None:
    table, _ = SOURCES[source]
    db.execute(f"DELETE FROM {table} WHERE register_id = :r AND timestamp = :t",
               {"r": register, "t": at})


def _last_change(db: Database) -> int:
    return int(db.query("SELECT coalesce(max(seq), 0) AS n FROM register_value_changes")[0]["n"])


# Unguarded writes for tests and tools that set up history (not for people: no audit row).

def correct_profile_value(db: Database, register: UUID, timestamp: datetime, wh: int) -> None:
    """Set the cumulative Wh at ``timestamp`` (adding the value if it was missing)."""
    _check_wh(wh)
    _write(db, "profile", register, timestamp, wh,
           exists=_value(db, "profile", register, timestamp) is not None)


def correct_register_read(db: Database, register: UUID, timestamp: datetime, wh: int) -> None:
    """Set the periodic register read (import) at ``timestamp``, adding it if it was missing."""
    _check_wh(wh)
    _write(db, "reads", register, timestamp, wh,
           exists=_value(db, "reads", register, timestamp) is not None)


def delete_register_read(db: Database, register: UUID, timestamp: datetime) -> None:
    if _value(db, "reads", register, timestamp) is None:
        raise NotFoundError(f"no register read of register {register} at {timestamp.isoformat()}")
    _delete(db, "reads", register, timestamp)


def delete_profile_value(db: Database, register: UUID, timestamp: datetime) -> None:
    if _value(db, "profile", register, timestamp) is None:
        raise NotFoundError(f"no profile value of register {register} at {timestamp.isoformat()}")
    _delete(db, "profile", register, timestamp)
