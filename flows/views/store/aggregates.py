"""The views' daily aggregates, each one GROUP BY, refreshed for the touched days only (as
TimescaleDB's continuous aggregates re-materialise their invalidated buckets): the rows of
the touched keys and days are deleted and computed again from ``register_interval_hh`` in
the feeder's batch transaction.

- ``usage_meter_daily``: per meter, direction and local day, whoever the customer (with the
  meter's esco, so a meter moving to another esco refreshes both escos' days);
- ``usage_customer_daily``: per customer, meter, direction and local day, while linked;
- ``usage_esco_daily``: per esco, direction and local day, with how many meters reported;
  from the meter days.

Each row holds a `DayTotal` (`TOTAL_COLUMNS`). A new daily view is one more `Aggregate` in
`AGGREGATES` (see docs/architecture.md, "How to add a view").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from flows.db import Database, claims
from flows.db.connection import execute_in, query_in
from flows.meterdata import LOCAL_ZONE
from flows.views.days import day_end, day_runs, day_start, days_between
from flows.views.rules import TOTAL_COLUMNS, DayTotal, day_total_sql, quality_sql

RUN_DAYS = 62  # days refreshed by one statement
_TOTALS = ", ".join(TOTAL_COLUMNS)
_SUMS = day_total_sql("wh", "quality")
_QUALITY = quality_sql("i.flags", "i.derived")
# The half hours of the meters in {values} over the local days :first to :last, each with its
# meter and day (d: local_days holds each day's bounds in UTC on both engines). The engines'
# planners want different statements for the same rows: SQLite seeks each register's half
# hours of each day by the (register_id, direction, timestamp) key in the order the CROSS JOINs
# give; PostgreSQL reads the registers' half hours by the key between :start and :end (the
# run's bounds, so it plans only the partitions they touch) and joins the day by hash.
HALF_HOURS_OF_METERS = {
    "sqlite": ("FROM meter_registers r CROSS JOIN local_days d CROSS JOIN register_interval_hh i "
               "WHERE r.meter_id IN {meters} AND d.day >= :first AND d.day <= :last "
               "AND i.register_id = r.register_id AND i.direction IN ('import', 'export') "
               "AND i.timestamp >= d.start_utc AND i.timestamp < d.end_utc"),
    "postgres": ("FROM register_interval_hh i JOIN meter_registers r ON r.register_id = "
                 "i.register_id JOIN local_days d ON d.day = (i.timestamp AT TIME ZONE :zone)::date "
                 "WHERE i.register_id = ANY(ARRAY(SELECT register_id FROM meter_registers "
                 "WHERE meter_id IN {meters})) AND i.direction IN ('import', 'export') "
                 "AND i.timestamp >= :start AND i.timestamp < :end"),
}


@dataclass(frozen=True)
class Aggregate:
    """A daily view: its table, the key its touched rows are found by (``meter_id`` or
    ``esco``), and the SELECT (per engine) computing its rows of the keys in ``{values}`` and
    the days from :first to :last, in the table's column order (``columns``)."""

    table: str
    key: str
    columns: str
    select: dict[str, str]


# After a subquery of half hours whose quality is then summed five times: PostgreSQL would
# pull the subquery up and work out each half hour's quality five times (OFFSET 0 keeps it a
# subquery); SQLite evaluates it once either way.
_ONCE = {"sqlite": "", "postgres": " OFFSET 0"}


def half_hours_sql(engine: str, meters: str = "({values})") -> str:
    """The FROM and WHERE of the half hours of ``meters`` (SQL: by default the keys given)."""
    return HALF_HOURS_OF_METERS[engine].replace("{meters}", meters)


def _per_engine(select: str, meters: str = "({values})") -> dict[str, str]:
    """``select`` for each engine: its {half_hours} those of ``meters`` (`half_hours_sql`),
    {once} the engine's fence."""
    return {engine: select.replace("{half_hours}", half_hours_sql(engine, meters))
            .replace("{once}", _ONCE[engine]) for engine in HALF_HOURS_OF_METERS}


METER_DAYS = Aggregate(
    "usage_meter_daily", "meter_id", f"meter_id, direction, day, {_TOTALS}, esco", _per_engine(
        f"SELECT meter_id, direction, day, {_TOTALS}, (SELECT m.esco FROM meter_registry m "
        f"WHERE m.id = days.meter_id) FROM (SELECT meter_id, direction, day, {_SUMS} FROM ("
        f"SELECT r.meter_id, i.direction, d.day, i.wh, {_QUALITY} AS quality {{half_hours}}"
        "{once}) AS half_hours GROUP BY meter_id, direction, day) AS days"))
# A customer's day of a meter: the meter's day when a link covers the whole day (most days:
# one row read, not its half hours); else the half hours of the day inside the links that cut
# it (links that cover the whole run cut no day: passed over before any half hour is read).
# A meter's links never overlap, so a day is one or the other.
_WHOLE_DAY = "c.valid_from <= d.start_utc AND (c.valid_to IS NULL OR c.valid_to >= d.end_utc)"
CUSTOMER_DAYS = Aggregate(
    "usage_customer_daily", "meter_id", f"customer_id, meter_id, direction, day, {_TOTALS}",
    _per_engine(
        f"SELECT c.customer_id, u.meter_id, u.direction, u.day, "
        f"{', '.join(f'u.{column}' for column in TOTAL_COLUMNS)} FROM usage_meter_daily u "
        "CROSS JOIN customer_meters c CROSS JOIN local_days d WHERE u.meter_id IN ({values}) "
        "AND u.day >= :first AND u.day <= :last AND c.meter_id = u.meter_id AND d.day = u.day "
        f"AND {_WHOLE_DAY} UNION ALL "
        f"SELECT c.customer_id, h.meter_id, h.direction, h.day, {_SUMS} FROM (SELECT "
        "r.meter_id, i.direction, d.day, d.start_utc, d.end_utc, i.timestamp, i.wh, "
        f"{_QUALITY} AS quality {{half_hours}}) "
        "AS h CROSS JOIN customer_meters c WHERE c.meter_id = h.meter_id "
        "AND h.timestamp >= c.valid_from AND (c.valid_to IS NULL OR h.timestamp < c.valid_to) "
        "AND NOT (c.valid_from <= h.start_utc AND (c.valid_to IS NULL OR c.valid_to >= h.end_utc)) "
        "GROUP BY c.customer_id, h.meter_id, h.direction, h.day",
        meters="(SELECT cut.meter_id FROM customer_meters cut WHERE cut.meter_id IN ({values}) "
               "AND ((cut.valid_from > :start AND cut.valid_from < :end) OR (cut.valid_to > :start "
               "AND cut.valid_to < :end)))"))
ESCO_DAYS = Aggregate(
    "usage_esco_daily", "esco", f"esco, direction, day, {_TOTALS}, meters",
    _per_engine(f"SELECT esco, direction, day, {', '.join(f'sum({c})' for c in TOTAL_COLUMNS)}, "
                "count(*) FROM usage_meter_daily WHERE esco IN ({values}) AND day >= :first "
                "AND day <= :last GROUP BY esco, direction, day"))
# Refreshed in this order: those keyed by meter from the intervals, then those keyed by esco
# from the meter days.
AGGREGATES = (METER_DAYS, CUSTOMER_DAYS, ESCO_DAYS)


EscoDays = dict[Any, set[date]]


def refresh(db: Database, touched: dict[UUID, set[date]]) -> int:
    """Compute again every aggregate's rows of these meters' days (and of their escos' days,
    before and after: a meter that moved leaves one and joins another); the rows written."""
    written, escos = refresh_meters(db, touched)
    return written + refresh_escos(db, escos)


def refresh_meters(db: Database, touched: dict[UUID, set[date]]) -> tuple[int, EscoDays]:
    """The aggregates keyed by meter, of these meters' days; the rows written, and the escos'
    days they count in (to `refresh_escos` after: a rebuild does it once for all its
    groups)."""
    written = 0
    escos: EscoDays = {}
    for first, last, meters in _runs(touched):
        bounds = _bounds(first, last)
        for esco in _escos(db, meters, bounds):
            escos.setdefault(esco, set()).update(days_between(first, last))
        written += sum(_refresh(db, aggregate, meters, bounds)
                       for aggregate in AGGREGATES if aggregate.key == "meter_id")
    return written, escos


def refresh_escos(db: Database, escos: EscoDays) -> int:
    """The aggregates keyed by esco, of these escos' days, from the meter days (in the
    caller's transaction). An esco's meters may lie in several shards, applied by feeders at
    once: each first takes the escos' locks (to its commit), so the next one's statements —
    each seeing what was committed before it — count the first one's meter days."""
    _lock_escos(db, escos)
    return sum(_refresh(db, aggregate, keys, _bounds(first, last))
               for first, last, keys in _runs(escos)
               for aggregate in AGGREGATES if aggregate.key == "esco")


ESCO_LOCK = 0x666C7665  # 'flve': (ESCO_LOCK, hash of the esco) while its days are refreshed


def _lock_escos(db: Database, escos: EscoDays) -> None:
    if db.engine == "postgres" and escos:  # SQLite has one writer
        # A feeder frozen mid-statement holds its escos' locks until a live one ends its
        # session (between passes): a feeder's wait ends after the claim timeout
        # (`flows.db.claims`: `LockTimeoutError`), its batch rolls back and is applied again
        # after the next rebalance.
        claims.lock_in_order(db, ESCO_LOCK, "SELECT DISTINCT hashtext(esco::text) AS key FROM "
                             "unnest(CAST(:escos AS uuid[])) AS esco", {"escos": list(escos)})


def _bounds(first: date, last: date) -> dict[str, Any]:
    return {"first": first, "last": last, "start": day_start(first), "end": day_end(last),
            "zone": LOCAL_ZONE.key}


def _refresh(db: Database, aggregate: Aggregate, keys: list[Any], bounds: dict[str, Any]
             ) -> int:
    execute_in(db, f"DELETE FROM {aggregate.table} WHERE {aggregate.key} IN ({{values}}) "
                   "AND day >= :first AND day <= :last", keys, params=bounds)
    return execute_in(db, f"INSERT INTO {aggregate.table} ({aggregate.columns}) "
                          f"{aggregate.select[db.engine]}", keys, params=bounds)


def _escos(db: Database, meters: list[UUID], bounds: dict[str, Any]) -> set[Any]:
    """The escos these meters' days count in: as held, and as the registry says now."""
    held = query_in(db, "SELECT DISTINCT esco FROM usage_meter_daily WHERE meter_id IN "
                        "({values}) AND day >= :first AND day <= :last AND esco IS NOT NULL",
                    meters, params=bounds)
    now = query_in(db, "SELECT DISTINCT esco FROM meter_registry WHERE id IN ({values}) "
                       "AND esco IS NOT NULL", meters)
    return {row["esco"] for row in held} | {row["esco"] for row in now}


def _runs(touched: dict[Any, set[date]]) -> Iterator[tuple[date, date, list[Any]]]:
    """(first, last, keys): the keys with the same run of days (a fleet's sync: every meter's
    today), runs at most `RUN_DAYS` long."""
    same_days: dict[tuple[date, date], list[Any]] = {}
    for key, days in touched.items():
        for first, last in day_runs(days, RUN_DAYS):
            same_days.setdefault((first, last), []).append(key)
    for (first, last), keys in sorted(same_days.items()):
        yield first, last, keys


def meter_day_totals(db: Database, meters: Iterable[UUID], first: date, last: date
                     ) -> dict[tuple[UUID, str, date], DayTotal]:
    """(meter, direction, day) → the meter's day as held, for the days ``first`` to ``last``."""
    rows = query_in(db, f"SELECT meter_id, direction, day, {_TOTALS} FROM usage_meter_daily "
                        "WHERE meter_id IN ({values}) AND day >= :first AND day <= :last",
                    meters, params={"first": first, "last": last})
    return {(row["meter_id"], row["direction"], row["day"]): DayTotal(
        *(int(row[column]) for column in TOTAL_COLUMNS)) for row in rows}


def held_days(db: Database, meters: Iterable[UUID]) -> dict[UUID, set[date]]:
    """Each meter's days in ``usage_meter_daily`` (what a registry change may remove)."""
    found: dict[UUID, set[date]] = {}
    for row in query_in(db, "SELECT meter_id, day FROM usage_meter_daily "
                            "WHERE meter_id IN ({values})", meters):
        found.setdefault(row["meter_id"], set()).add(row["day"])
    return found


def clear(db: Database) -> None:
    """Empty every table the views write (before they are built again from the tables)."""
    tables = ("register_interval_hh", *(aggregate.table for aggregate in AGGREGATES),
              "views_position", "views_quarantine")
    if db.engine == "postgres":  # millions of rows: TRUNCATE, not a row-by-row DELETE
        db.execute(f"TRUNCATE {', '.join(tables)}")
        return
    for table in tables:
        db.execute(f"DELETE FROM {table}")


# Reading -------------------------------------------------------------------------------------

Key = tuple[str, Any]  # ("meter_id", id), ("customer_id", id) or ("esco", id)
_TABLE_OF = {"meter_id": "usage_meter_daily", "customer_id": "usage_customer_daily",
             "esco": "usage_esco_daily"}


Spans = list[tuple[datetime | None, datetime | None, int]]  # (from, to, registers)


def register_spans(db: Database, key: Key) -> Spans:
    """(from, to, registers), for the half hours expected: a meter's registers at any time; an
    esco's meters' registers (its meters now); for each of a customer's links the linked
    meter's registers while linked."""
    column, value = key
    if column == "customer_id":
        rows = db.query(
            "SELECT c.valid_from, c.valid_to, (SELECT count(*) FROM meter_registers r "
            "WHERE r.meter_id = c.meter_id) AS n FROM customer_meters c "
            "WHERE c.customer_id = :key", {"key": value})
        return [(row["valid_from"], row["valid_to"], int(row["n"])) for row in rows]
    sql = ("SELECT count(*) AS n FROM meter_registers WHERE meter_id = :key"
           if column == "meter_id" else
           "SELECT count(*) AS n FROM meter_registers r JOIN meter_registry m "
           "ON m.id = r.meter_id WHERE m.esco = :key")
    return [(None, None, int(db.query(sql, {"key": value})[0]["n"]))]


def day_totals(db: Database, key: Key, direction: str, first: date, last: date
               ) -> dict[date, DayTotal]:
    """The days from ``first`` to ``last`` (inclusive) that have half hours, of a meter, a
    customer (their meters' rows added up) or an esco."""
    column, value = key
    rows = db.query_rows(
        f"SELECT day, {_TOTALS} FROM {_TABLE_OF[column]} WHERE {column} = :key "
        "AND direction = :direction AND day >= :first AND day <= :last",
        {"key": value, "direction": direction, "first": first, "last": last})
    found: dict[date, DayTotal] = {}
    for day, *totals in rows:
        day = date.fromisoformat(day) if isinstance(day, str) else day
        total = DayTotal(*(int(value) for value in totals))
        found[day] = found[day] + total if day in found else total
    return found


def prepare_session(db: Database) -> None:
    """Settings of the feeder's own connection. SQLite: no automatic indexes — for the
    refresh's grouped join its planner would build a covering index of every interval on each
    statement instead of seeking by the (register_id, direction, timestamp) key (4× slower)."""
    if db.engine == "sqlite":
        db.execute("PRAGMA automatic_index = OFF")
