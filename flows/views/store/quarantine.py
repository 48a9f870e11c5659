"""Meters whose changes the views could not apply (``views_quarantine``): the error and the
last change of the batch that found it. Their changes are left aside while every other
meter's go on; a retry applies the meter's whole history again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from flows.db import Database
from flows.db.change_log import log_retry

ERROR_TEXT_MAX = 2_000  # an error's text kept (a driver's message may quote a whole statement)


@dataclass(frozen=True)
class Quarantined:
    meter_id: UUID
    serial: str | None  # None: the meter was removed since
    error: str
    change: int  # the last change of the batch that found the error
    quarantined_at: datetime


def quarantine(db: Database, meter: UUID, error: str, change: int) -> None:
    """Put ``meter`` aside with ``error`` (a meter put aside again keeps its first change)."""
    db.execute("INSERT INTO views_quarantine (meter_id, error, change, quarantined_at) "
               "VALUES (:m, :error, :change, :at) ON CONFLICT (meter_id) DO UPDATE "
               "SET error = excluded.error, quarantined_at = excluded.quarantined_at",
               {"m": meter, "error": error[:ERROR_TEXT_MAX], "change": change,
                "at": datetime.now(UTC)})


def release(db: Database, meter: UUID) -> None:
    db.execute("DELETE FROM views_quarantine WHERE meter_id = :m", {"m": meter})


def clear(db: Database) -> None:
    db.execute("DELETE FROM views_quarantine")


def quarantined_meters(db: Database) -> set[UUID]:
    return {row["meter_id"] for row in db.query("SELECT meter_id FROM views_quarantine")}


def quarantined(db: Database) -> list[Quarantined]:
    """Every meter put aside, oldest first, with its serial."""
    return db.query("SELECT q.meter_id, m.serial, q.error, q.change, q.quarantined_at "
                    "FROM views_quarantine q LEFT JOIN meter_registry m ON m.id = q.meter_id "
                    "ORDER BY q.quarantined_at, m.serial", None, row=Quarantined)


def count(db: Database) -> int:
    return int(db.query("SELECT count(*) AS n FROM views_quarantine")[0]["n"])


def request_retry(db: Database, meters: list[UUID]) -> None:
    """Ask whichever feeder runs to apply these quarantined meters' whole history again (a
    change in the change log each; the meter is released in the transaction that applies it)."""
    with db.transaction():
        log_retry(db, meters)
