"""What the views read and write in the Flows schema: the change log of register values
(``register_value_changes``), consecutive values of one register, and the views' own tables
``register_interval_hh`` (half-hourly intervals) and ``views_spans`` (pairs of values that do
not make one half hour). Writes run in the views' iteration transaction (on its connection)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol
from uuid import UUID

import psycopg

from flows.db.connection import Database, UnavailableError

# Profile values at :00 or :30 (others are off-grid: the meter's clock was off).
_ON_GRID = {
    "sqlite": "strftime('%M:%f', timestamp) IN ('00:00.000', '30:00.000')",
    "postgres": "(extract(minute FROM timestamp AT TIME ZONE 'UTC') IN (0, 30) "
                "AND extract(second FROM timestamp AT TIME ZONE 'UTC') = 0)",
}
SOURCES = {  # source → (table, value in Wh)
    "profile": ("register_profile_hh", "cumulative_wh"),
    "reads": ("register_import", "round(read * 1000)"),
    "export": ("register_export", "round(read * 1000)"),
}


class SpanFields(Protocol):
    """A span as the views hold it (`flows.views.query.Span` has these fields)."""

    @property
    def register_id(self) -> UUID: ...
    @property
    def source(self) -> str: ...
    @property
    def flag(self) -> str: ...
    @property
    def first_at(self) -> datetime: ...
    @property
    def first_wh(self) -> int: ...
    @property
    def last_at(self) -> datetime: ...
    @property
    def last_wh(self) -> int: ...


class IntervalFields(Protocol):
    """A half-hourly interval as the views output it (`flows.views.query.Interval`)."""

    @property
    def register_id(self) -> UUID: ...
    @property
    def direction(self) -> str: ...
    @property
    def start(self) -> datetime: ...
    @property
    def wh(self) -> int: ...
    @property
    def flags(self) -> str: ...
    @property
    def derived(self) -> bool: ...


# The change log -------------------------------------------------------------------------------


def value_changes(db: Database, after: int, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` logged changes after change number ``after``, in order: seq, source,
    register_id, timestamp, old_wh, new_wh."""
    return db.query("SELECT seq, source, register_id, timestamp, old_wh, new_wh FROM "
                    "register_value_changes WHERE seq > :after ORDER BY seq LIMIT :limit",
                    {"after": after, "limit": limit})


NOTIFY_CHANNEL = "flows_register_changes"  # notified by the change-log trigger (PostgreSQL)


@contextlib.contextmanager
def change_listener(db: Database) -> Iterator[Callable[[float], bool]]:
    """A function that waits up to N seconds and tells whether changes were logged meanwhile:
    on PostgreSQL woken by the change-log trigger's NOTIFY, on SQLite it only sleeps."""
    if db.engine != "postgres":
        def sleep(seconds: float) -> bool:
            time.sleep(seconds)
            return False
        yield sleep
        return
    try:
        conn = psycopg.connect(db.url, autocommit=True)
        conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
    except psycopg.OperationalError as error:
        raise UnavailableError(f"cannot listen for changes: {error}") from None

    def wait(seconds: float) -> bool:
        try:
            return any(True for _ in conn.notifies(timeout=seconds, stop_after=1))
        except psycopg.OperationalError as error:  # the server restarted or the link broke
            raise UnavailableError(f"lost the change listener: {error}") from None

    with conn:
        yield wait


def write_position(db: Database, feed: str, position: int) -> None:
    """How far the views have applied ``feed`` (in the views' iteration transaction)."""
    db.execute("INSERT INTO views_position (feed, position) VALUES (:feed, :position) "
               "ON CONFLICT (feed) DO UPDATE SET position = excluded.position",
               {"feed": feed, "position": position})


def views_position(db: Database, feed: str = "register_value_changes") -> int:
    """The last change the views have applied (0: none yet)."""
    rows = db.query("SELECT position FROM views_position WHERE feed = :feed", {"feed": feed})
    return int(rows[0]["position"]) if rows else 0


def last_change(db: Database) -> int:
    """The number of the newest logged change (0: none)."""
    return int(db.query("SELECT coalesce(max(seq), 0) AS n FROM register_value_changes")[0]["n"])


# Consecutive values of a register -------------------------------------------------------------


def values_around(db: Database, source: str, register: UUID, first: datetime, last: datetime
                  ) -> list[tuple[datetime, int, bool]]:
    """(timestamp, Wh, usable) of the register's values from the last usable one before
    ``first`` to the first usable one after ``last``, in time order. Usable: every register
    read; profile values on the half-hour grid."""
    table, value = SOURCES[source]
    usable = _ON_GRID[db.engine] if source == "profile" else "TRUE"
    rows = db.query(
        f"SELECT timestamp, {value} AS wh, {usable} AS usable FROM {table} "
        f"WHERE register_id = :r AND timestamp >= coalesce((SELECT max(timestamp) FROM {table} "
        f"WHERE register_id = :r AND timestamp < :lo AND {usable}), :lo) "
        f"AND timestamp <= coalesce((SELECT min(timestamp) FROM {table} "
        f"WHERE register_id = :r AND timestamp > :hi AND {usable}), :hi) ORDER BY timestamp",
        {"r": register, "lo": first, "hi": last})
    return [(row["timestamp"], int(row["wh"]), bool(row["usable"])) for row in rows]


# The views' tables ----------------------------------------------------------------------------


def stored_spans(db: Database, source: str, register: UUID, lower: datetime | None,
                 upper: datetime | None) -> list[dict[str, Any]]:
    """The views' spans of the register that overlap (lower, upper): flag, first_at, first_wh,
    last_at, last_wh (None bounds are open)."""
    sql = ("SELECT flag, first_at, first_wh, last_at, last_wh FROM views_spans "
           "WHERE register_id = :r AND source = :source")
    if lower is not None:
        sql += " AND last_at > :lo"
    if upper is not None:
        sql += " AND first_at < :hi"
    return db.query(sql, {"r": register, "source": source, "lo": lower, "hi": upper})


def stored_actual(db: Database, register: UUID, lower: datetime | None,
                  upper: datetime | None) -> list[dict[str, Any]]:
    """The register's actual (not derived) intervals within [lower, upper): timestamp, wh, flags."""
    sql = ("SELECT timestamp, wh, flags FROM register_interval_hh "
           "WHERE register_id = :r AND direction = 'import' AND NOT derived")
    if lower is not None:
        sql += " AND timestamp >= :lo"
    if upper is not None:
        sql += " AND timestamp < :hi"
    return db.query(sql, {"r": register, "lo": lower, "hi": upper})


def write_spans(db: Database, removed: Iterable[SpanFields], added: Iterable[SpanFields]) -> None:
    db.executemany(
        "DELETE FROM views_spans WHERE register_id = :r AND source = :source AND first_at = :t",
        [{"r": s.register_id, "source": s.source, "t": s.first_at} for s in removed])
    db.executemany(
        "INSERT INTO views_spans (register_id, source, flag, first_at, first_wh, last_at, "
        "last_wh) VALUES (:r, :source, :flag, :first_at, :first_wh, :last_at, :last_wh)",
        [{"r": s.register_id, "source": s.source, "flag": s.flag, "first_at": s.first_at,
          "first_wh": s.first_wh, "last_at": s.last_at, "last_wh": s.last_wh} for s in added])


def write_intervals(db: Database, removed: Iterable[IntervalFields],
                    added: Iterable[IntervalFields]) -> None:
    db.executemany(
        "DELETE FROM register_interval_hh WHERE register_id = :r AND direction = :direction "
        "AND timestamp = :t",
        [{"r": interval.register_id, "direction": interval.direction, "t": interval.start}
         for interval in removed])
    db.executemany(
        "INSERT INTO register_interval_hh (register_id, direction, timestamp, kwh, wh, flags, "
        "derived) VALUES (:r, :direction, :t, :kwh, :wh, :flags, :derived) ON CONFLICT "
        "(register_id, direction, timestamp) DO UPDATE SET kwh = excluded.kwh, wh = excluded.wh, "
        "flags = excluded.flags, derived = excluded.derived",
        [{"r": interval.register_id, "direction": interval.direction, "t": interval.start,
          "kwh": Decimal(interval.wh) / 1000, "wh": interval.wh, "flags": interval.flags,
          "derived": interval.derived} for interval in added])


def half_hours(db: Database, start: datetime, end: datetime, *, meter: UUID | None = None,
               customer: str | None = None, direction: str = "import") -> list[dict[str, Any]]:
    """Intervals of a meter's registers, or of a customer's meters while linked, in
    [start, end) by time: timestamp, wh, flags, derived."""
    params = {"start": start, "end": end, "meter": meter, "customer": customer,
              "direction": direction}
    # CROSS JOIN: SQLite then reads in this order (registers, then their intervals by the
    # (register_id, direction, timestamp) key) instead of scanning every interval.
    if customer is None:
        source = ("SELECT i.timestamp, i.wh, i.flags, i.derived FROM meter_registers r "
                  "CROSS JOIN register_interval_hh i WHERE r.meter_id = :meter "
                  "AND i.register_id = r.register_id")
    else:
        source = ("SELECT i.timestamp, i.wh, i.flags, i.derived FROM customer_meters c "
                  "CROSS JOIN meter_registers r CROSS JOIN register_interval_hh i "
                  "WHERE c.customer_id = :customer AND r.meter_id = c.meter_id "
                  "AND i.register_id = r.register_id AND c.valid_from <= i.timestamp "
                  "AND (c.valid_to IS NULL OR i.timestamp < c.valid_to)")
    return db.query(f"{source} AND i.direction = :direction AND i.timestamp >= :start "
                    "AND i.timestamp < :end ORDER BY i.timestamp", params)


def latest_interval(db: Database, meter: UUID) -> datetime | None:
    """When the meter's newest interval starts (None: it has none)."""
    latest: datetime | None = db.query(
        "SELECT max(i.timestamp) AS t FROM register_interval_hh i JOIN meter_registers r "
        "ON r.register_id = i.register_id WHERE r.meter_id = :m AND i.direction = 'import'",
        {"m": meter})[0]["t"]
    return latest
