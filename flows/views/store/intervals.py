"""The views' half-hourly intervals (``register_interval_hh``): what the feeder holds and
writes (in its batch's transaction), and what readers ask of them."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from flows.db import Database, claims
from flows.db.connection import id_text, iso_time, query_in, query_in_rows, sqlite_slot_time


def interval_ranges(db: Database, registers: Iterable[UUID]
                    ) -> dict[tuple[UUID, str], tuple[datetime, datetime]]:
    """(register, direction) → when its first and last interval start (registers and
    directions without intervals are left out): index probes, not a scan."""
    probes = ", ".join(
        f"(SELECT {edge}(timestamp) FROM register_interval_hh i WHERE i.register_id = "
        f"r.register_id AND i.direction = '{direction}') AS {direction}_{edge}"
        for direction in ("import", "export") for edge in ("min", "max"))
    rows = query_in(db, f"SELECT r.register_id, {probes} FROM meter_registers r "
                        "WHERE r.register_id IN ({values})", registers)
    return {(row["register_id"], direction): (row[f"{direction}_min"], row[f"{direction}_max"])
            for row in rows for direction in ("import", "export")
            if row[f"{direction}_min"] is not None}


def interval_count(db: Database) -> int:
    """How many half hours the views hold (both directions)."""
    return int(db.query("SELECT count(*) AS n FROM register_interval_hh")[0]["n"])


WRITE_LOCK = 0x666C7677  # 'flvw': (WRITE_LOCK, k) while a feeder writes shard k's meters' views


def lock_writes(db: Database, registers: Iterable[UUID], meters: Iterable[UUID]) -> None:
    """Take, to the commit, the write locks of the shards of these registers' meters and of
    these meters, before computing what to write. A feeder writes only its own shards' meters
    — but a register moved to a meter of another shard can have changes waiting in both, and
    two feeders computing it at once could write rows from older values over newer ones: with
    the lock the second computes after the first committed. Uncontended otherwise (a feeder
    owns its shards); SQLite has one writer."""
    if db.engine != "postgres":
        return
    claims.lock_in_order(
        db, WRITE_LOCK, "SELECT DISTINCT flows.meter_shard(meter_id) AS key FROM (SELECT "
        "meter_id FROM meter_registers WHERE register_id = ANY(CAST(:registers AS uuid[])) "
        "UNION ALL SELECT unnest(CAST(:meters AS uuid[]))) AS written",
        {"registers": list(registers), "meters": list(meters)})


HeldInterval = tuple[int, str, bool]  # (Wh, flags, derived)


def held_intervals_many(db: Database, registers: Sequence[UUID], direction: str,
                        start: datetime, end: datetime) -> dict[UUID, dict[datetime, HeldInterval]]:
    """The views' intervals of these registers and the direction starting in [start, end),
    per register (one query for all of them)."""
    by_text = {str(register): register for register in registers}
    held: dict[UUID, dict[datetime, HeldInterval]] = {register: {} for register in registers}
    for register, stamp, wh, flags, derived in query_in_rows(
            db, "SELECT register_id, timestamp, wh, flags, derived FROM register_interval_hh "
                "WHERE register_id IN ({values}) AND direction = :direction "
                "AND timestamp >= :lo AND timestamp < :hi", registers,
            {"direction": direction, "lo": start, "hi": end}, times=(1,)):
        key = by_text[register] if isinstance(register, str) else register
        held[key][stamp] = (int(wh), flags, bool(derived))
    return held


IntervalRow = tuple[UUID, str, datetime, int, str, bool]  # register, direction, start, Wh, flags, derived


def write_interval_changes(db: Database, removed: Iterable[tuple[UUID, str, datetime]],
                           replaced: Sequence[IntervalRow], inserted: Sequence[IntervalRow]
                           ) -> None:
    """Apply the views' interval changes (in their batch's transaction): ``removed`` keys
    are deleted, ``replaced`` rows overwrite the row of their key, ``inserted`` rows are new.
    Rows go to the driver as the engine stores them (no per-value conversion); on PostgreSQL
    many new rows are copied in (COPY)."""
    db.executemany(
        "DELETE FROM register_interval_hh WHERE register_id = :r AND direction = :direction "
        "AND timestamp = :t",
        [{"r": register, "direction": direction, "t": start}
         for register, direction, start in removed])
    if db.engine == "sqlite":
        _write_sqlite(db, replaced, upsert=True)
        _write_sqlite(db, inserted, upsert=False)
        return
    if len(inserted) >= COPY_ROWS:
        _copy_postgres(db, inserted)
    else:
        replaced = [*replaced, *inserted]
    db.executemany(_UPSERT.format(source="VALUES (:r, :direction, :t, :kwh, :wh, :flags, "
                                         ":derived)"),
                   [{"r": register, "direction": direction, "t": start,
                     "kwh": Decimal(wh) / 1000, "wh": wh, "flags": flags, "derived": derived}
                    for register, direction, start, wh, flags, derived in replaced])


COPY_ROWS = 200  # from this many new rows, COPY beats a pipelined INSERT
_COLUMNS = "register_id, direction, timestamp, kwh, wh, flags, derived"
_UPSERT = (f"INSERT INTO register_interval_hh ({_COLUMNS}) {{source}} ON CONFLICT "
           "(register_id, direction, timestamp) DO UPDATE SET kwh = excluded.kwh, "
           "wh = excluded.wh, flags = excluded.flags, derived = excluded.derived")


def _write_sqlite(db: Database, rows: Sequence[IntervalRow], upsert: bool) -> None:
    prepared = [(id_text(register), direction, sqlite_slot_time(start), wh, flags, int(derived))
                for register, direction, start, wh, flags, derived in rows]
    # kWh computed by SQLite from the Wh (three decimals, exact), not formatted per row here.
    values = "VALUES (?1, ?2, ?3, printf('%.3f', ?4 / 1000.0), ?4, ?5, ?6)"
    statement = (_UPSERT.format(source=values) if upsert else
                 f"INSERT INTO register_interval_hh ({_COLUMNS}) {values}")
    db.executemany_raw(statement, prepared)


def _copy_postgres(db: Database, inserted: Sequence[IntervalRow]) -> None:
    # COPY's text format, written here (psycopg's write_row converts value by value); the
    # registers' and half hours' texts repeat, so they are formatted once.
    lines = [f"{id_text(register)}\t{direction}\t{iso_time(start)}\t{kwh_text(wh)}\t{wh}\t"
             f"{flags}\t{'t' if derived else 'f'}\n"
             for register, direction, start, wh, flags, derived in inserted]
    with db.copy(f"COPY register_interval_hh ({_COLUMNS}) FROM STDIN") as copy:
        copy.write("".join(lines))


@functools.lru_cache(maxsize=1 << 14)  # half hours' Wh repeat (a few thousand values)
def kwh_text(wh: int) -> str:
    """Wh as kWh with three decimals, exactly."""
    sign = "-" if wh < 0 else ""
    whole, fraction = divmod(abs(wh), 1000)
    return f"{sign}{whole}.{fraction:03d}"


# Who the half hours are read for: a meter's registers, a customer's meters while linked, or an
# esco's meters. CROSS JOIN: SQLite then reads in this order (registers, then their intervals
# by the (register_id, direction, timestamp) key) instead of scanning every interval.
_HALF_HOURS_OF = {
    "meter_id": "FROM meter_registers r CROSS JOIN register_interval_hh i "
                "WHERE r.meter_id = :key AND i.register_id = r.register_id",
    "customer_id": "FROM customer_meters c CROSS JOIN meter_registers r CROSS JOIN "
                   "register_interval_hh i WHERE c.customer_id = :key AND r.meter_id = c.meter_id "
                   "AND i.register_id = r.register_id AND c.valid_from <= i.timestamp "
                   "AND (c.valid_to IS NULL OR i.timestamp < c.valid_to)",
    "esco": "FROM meter_registry m CROSS JOIN meter_registers r CROSS JOIN register_interval_hh i "
            "WHERE m.esco = :key AND r.meter_id = m.id AND i.register_id = r.register_id",
}


def half_hours(db: Database, start: datetime, end: datetime, key: tuple[str, Any],
               direction: str = "import") -> list[tuple[datetime, int, str, bool]]:
    """Intervals in [start, end) of ``key`` (("meter_id", id), ("customer_id", id) or
    ("esco", id)), by time: (timestamp, Wh, flags, derived)."""
    column, value = key
    rows = db.query_rows(f"SELECT i.timestamp, i.wh, i.flags, i.derived {_HALF_HOURS_OF[column]} "
                         "AND i.direction = :direction AND i.timestamp >= :start "
                         "AND i.timestamp < :end ORDER BY i.timestamp",
                         {"start": start, "end": end, "key": value, "direction": direction},
                         times=(0,))
    return [(stamp, int(wh), flags or "", bool(derived)) for stamp, wh, flags, derived in rows]


def latest_interval(db: Database, meter: UUID) -> datetime | None:
    """When the meter's newest interval starts (None: it has none)."""
    latest: datetime | None = db.query(
        "SELECT max(i.timestamp) AS t FROM register_interval_hh i JOIN meter_registers r "
        "ON r.register_id = i.register_id WHERE r.meter_id = :m AND i.direction = 'import'",
        {"m": meter})[0]["t"]
    return latest


class Statistics:
    """Keeps PostgreSQL's statistics of the views' tables fresh while the views fill them.

    The refresh's joins are planned from statistics, and autovacuum never analyzes a
    partitioned table's parent (nor a table one bulk write has just filled soon enough):
    planned without them, a refresh reads every interval of a partition instead of the
    touched registers' (10× slower). So once the views have written as many new half hours
    as they had at the last analysis (and at least `ANALYZE_ROWS`), they analyze their tables:
    a handful of times while they grow from nothing to millions, never in a steady state."""

    ANALYZE_ROWS = 50_000

    def __init__(self, db: Database) -> None:
        self.db, self.since, self.analyzed = db, 0, 0

    def written(self, rows: int) -> None:
        """``rows`` new half hours were committed."""
        if self.db.engine != "postgres":
            return
        self.since += rows
        if self.since >= max(self.ANALYZE_ROWS, self.analyzed):
            self.db.execute("ANALYZE register_interval_hh, usage_meter_daily, "
                            "usage_customer_daily, usage_esco_daily")
            self.analyzed += self.since
            self.since = 0
