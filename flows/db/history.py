"""History tables: register reads, profile values, balances, event logs (appended, kept)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from flows.db.connection import (
    ConflictError,
    Database,
    InvalidValueError,
    id_text,
    iso_time,
    sqlite_slot_time,
)


def append_events(db: Database, meter: UUID, events: Iterable[tuple[datetime, int, int]]) -> int:
    """Event log entries (timestamp, type, set); ones already stored are skipped."""
    added = 0
    for timestamp, event_type, event_set in events:
        added += db.execute(
            "INSERT INTO meter_event_log (meter_id, timestamp, event_type, event_set) VALUES "
            "(:m, :t, :type, :set) ON CONFLICT DO NOTHING",
            {"m": meter, "t": timestamp, "type": event_type, "set": event_set})
    return added


def stored_events(db: Database, meter: UUID) -> set[tuple[datetime, int]]:
    """(timestamp, event type) of the meter's stored events."""
    return {(row["timestamp"], int(row["event_type"])) for row in db.query(
        "SELECT timestamp, event_type FROM meter_event_log WHERE meter_id = :m", {"m": meter})}


def append_profile_values(db: Database, values: Iterable[tuple[UUID | str, datetime, int, int]]
                          ) -> None:
    """Half-hourly cumulative values (register, timestamp, Wh, status); stored ones are kept.
    In bulk: on SQLite one statement with the rows as SQLite stores them (no per-value
    conversion), on PostgreSQL by COPY (or, when some are stored already, one INSERT of
    arrays that skips them)."""
    rows = list(values)
    if not rows:
        return
    if db.engine == "sqlite":
        sqlite_rows = [(id_text(register), sqlite_slot_time(timestamp), wh, status)
                       for register, timestamp, wh, status in rows]
        db.executemany_raw(_INSERT_PROFILE.format(source="VALUES (?, ?, ?, ?)"), sqlite_rows)
    elif len(rows) < PROFILE_COPY_ROWS or not _copied(db, rows):
        # One statement for all of them: one round trip, and the change log's statement
        # trigger runs once; values stored already are skipped.
        registers, timestamps, whs, statuses = (list(column) for column in zip(*rows))
        db.execute(_INSERT_PROFILE.format(
            source="SELECT * FROM unnest(CAST(:r AS uuid[]), CAST(:t AS timestamptz[]), "
                   "CAST(:wh AS bigint[]), CAST(:s AS integer[]))"),
            {"r": registers, "t": timestamps, "wh": whs, "s": statuses})


PROFILE_COPY_ROWS = 100  # from this many values, COPY first (PostgreSQL)


def _copied(db: Database, rows: list[tuple[UUID | str, datetime, int, int]]) -> bool:
    """COPY the values straight in (the fastest way); False when some are stored already
    (COPY cannot skip them: the whole COPY is undone, nothing written)."""
    text = "".join(f"{id_text(register)}\t{iso_time(timestamp)}\t{wh}\t{status}\n"
                   for register, timestamp, wh, status in rows)
    try:
        with db.transaction(), db.copy("COPY register_profile_hh (register_id, timestamp, "
                                       "cumulative_wh, status) FROM STDIN") as copy:
            copy.write(text)
    except ConflictError:
        return False
    return True


_INSERT_PROFILE = ("INSERT INTO register_profile_hh (register_id, timestamp, cumulative_wh, "
                   "status) {source} ON CONFLICT DO NOTHING")


def last_profile_timestamp(db: Database, register: UUID) -> datetime | None:
    """When the register's newest stored profile value was taken (None: it has none)."""
    last: datetime | None = db.query(
        "SELECT max(timestamp) AS last FROM register_profile_hh WHERE register_id = :r",
        {"r": register})[0]["last"]
    return last


def register_history(db: Database, meter: UUID, element: str = "A",
                     direction: str = "import") -> list[tuple[datetime, float]]:
    """(timestamp, kWh) of one register's reads, oldest first."""
    if direction not in ("import", "export"):
        raise InvalidValueError(f"direction is import or export, not {direction!r}")
    rows = db.query(f"SELECT h.timestamp, h.read FROM register_{direction} h JOIN meter_registers r "
                    "ON r.register_id = h.register_id WHERE r.meter_id = :m AND r.element = :e "
                    "ORDER BY h.timestamp", {"m": meter, "e": element})
    return [(r["timestamp"], float(r["read"])) for r in rows]


def balance_history(db: Database, meter: UUID) -> list[Decimal]:
    return [r["balance"] for r in db.query(
        "SELECT balance FROM meter_prepay_balance WHERE meter_id = :m ORDER BY timestamp",
        {"m": meter})]
