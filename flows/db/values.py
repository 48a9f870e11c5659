"""Register values by source (profile log, import reads, export reads) and consecutive values
of registers, what the views compute half hours from: each register's
values of a range with the last usable one before it and the first usable one after it (the
neighbours a changed value forms its pairs with), for many registers in one query.

Neighbours are looked for near the range first (a bounded range lets PostgreSQL plan only the
monthly partitions it touches; an unbounded one plans them all, milliseconds per query), and
further only when there are values further out (`value_ends`). Values before where the history
kept begins are seen by none of them (`KEPT_SQL`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from uuid import UUID

from flows.db.connection import Database, query_in, query_in_rows
from flows.meterdata import HALF_HOUR

# Profile values at :00 or :30 (others are off-grid: the meter's clock was off).
ON_GRID_SQL = {
    "sqlite": "strftime('%M:%f', timestamp) IN ('00:00.000', '30:00.000')",
    "postgres": "(extract(minute FROM timestamp AT TIME ZONE 'UTC') IN (0, 30) "
                "AND extract(second FROM timestamp AT TIME ZONE 'UTC') = 0)",
}
# Values from where the history kept begins: retention records it when it drops months
# (`flows.db.partitions.history_kept_from`; SQLite keeps all history, its table stays empty).
# A value written later for a month already dropped is outside history until the next
# retention deletes it: no query here sees it, so usage computed again and usage built anew
# agree, whether or not it is there.
KEPT_SQL = {
    "sqlite": "timestamp >= coalesce((SELECT kept_from FROM history_kept_from), '')",
    "postgres": "timestamp >= coalesce((SELECT kept_from FROM history_kept_from), '-infinity')",
}
SOURCES = {  # source → (table, value in Wh)
    "profile": ("register_profile_hh", "cumulative_wh"),
    "reads": ("register_import", "round(read * 1000)"),
    "export": ("register_export", "round(read * 1000)"),
}


# Where neighbours are looked for first (see `values_around_many`): the profile log has a value
# every half hour, register reads come once or twice a day.
NEIGHBOUR_SEARCH = {"profile": timedelta(hours=3), "reads": timedelta(days=2),
                    "export": timedelta(days=2)}
Ends = tuple[datetime, datetime]  # a register's first and last value in a table


def value_ends(db: Database, source: str, registers: Iterable[UUID]) -> dict[UUID, Ends]:
    """Each register's first and last value timestamp in the source's table (registers
    without values are left out): index probes, not a scan."""
    table, _ = SOURCES[source]
    kept = KEPT_SQL[db.engine]
    rows = query_in(db, f"SELECT r.register_id, (SELECT min(timestamp) FROM {table} v "
                        f"WHERE v.register_id = r.register_id AND {kept}) AS first_at, "
                        f"(SELECT max(timestamp) FROM {table} v WHERE v.register_id = "
                        f"r.register_id AND {kept}) AS last_at "
                        "FROM meter_registers r WHERE r.register_id IN ({values})", registers)
    return {row["register_id"]: (row["first_at"], row["last_at"]) for row in rows
            if row["first_at"] is not None}


EndsLookup = Callable[[], Ends | None]  # the register's `value_ends` in the source, on demand


def values_around_many(db: Database, source: str, registers: Sequence[UUID], first: datetime,
                       last: datetime, ends: Callable[[UUID], EndsLookup]
                       ) -> dict[UUID, list[tuple[datetime, int, bool]]]:
    """Each register's (timestamp, Wh, usable) values from the last usable one before
    ``first`` to the first usable one after ``last``, in time order. Usable: every register
    read; profile values on the half-hour grid. One query for all the registers (a fleet's
    sync touches the same half hours of every register).

    The neighbours are looked for within the source's `NEIGHBOUR_SEARCH` first; only when one
    is missing there are the register's first and last values (``ends(register)()``, None:
    it has none) asked for, and then the neighbour anywhere if there are values further out.
    A bounded range lets PostgreSQL plan only the partitions it touches (an unbounded one
    plans them all, milliseconds per query)."""
    near = NEIGHBOUR_SEARCH[source]
    lowest, highest = first - near, last + near
    table, value = SOURCES[source]
    # The register as text: rows are split where it changes, and text compares in C (a UUID's
    # == and hash are Python code, a million calls a batch).
    rows = query_in_rows(db, f"SELECT CAST(register_id AS TEXT), timestamp, {value} FROM {table} "
                             "WHERE register_id IN ({values}) AND timestamp >= :lo "
                             f"AND timestamp <= :hi AND {KEPT_SQL[db.engine]} "
                             "ORDER BY register_id, timestamp",
                         registers, {"lo": lowest, "hi": highest}, times=(1,))
    found: dict[UUID, list[tuple[datetime, int, bool]]] = {register: [] for register in registers}
    by_text = {str(register): register for register in registers}
    for text, group in itertools.groupby(rows, key=itemgetter(0)):
        if source == "profile":
            found[by_text[text]] = [(stamp, int(wh), on_grid(stamp)) for _, stamp, wh in group]
        else:
            found[by_text[text]] = [(stamp, int(wh), True) for _, stamp, wh in group]
    return {register: _around(db, source, register, values, first, last, ends(register))
            for register, values in found.items()}


def _around(db: Database, source: str, register: UUID, values: list[tuple[datetime, int, bool]],
            first: datetime, last: datetime, ends: EndsLookup) -> list[tuple[datetime, int, bool]]:
    """``values`` (those within the source's `NEIGHBOUR_SEARCH` of the range) from the last
    usable one before ``first`` to the first usable one after ``last``, searching further if
    need be."""
    near = NEIGHBOUR_SEARCH[source]
    lowest, highest = first - near, last + near
    lower, upper = _neighbours(values, first, last)
    if lower is None or upper is None:
        further_lower, further_upper = _further(ends(), lowest, highest, lower is None,
                                                upper is None)
        if further_lower or further_upper:  # none near: is there one further away?
            lower_at, upper_at = _bounds(db, source, register, first, last, None,
                                         lower=further_lower, upper=further_upper)
            if lower_at is not None or upper_at is not None:
                values = _values_between(db, source, register, min(lower_at or lowest, lowest),
                                         max(upper_at or highest, highest))
                lower, upper = _neighbours(values, first, last)
    start = lower if lower is not None else next(
        (n for n, value in enumerate(values) if value[0] >= first), len(values))
    end = upper + 1 if upper is not None else len(values)
    return values[start:end]


def _further(ends: Ends | None, lowest: datetime, highest: datetime, lower_missing: bool,
             upper_missing: bool) -> tuple[bool, bool]:
    """Whether values lie beyond what was searched, on the sides where a neighbour is missing."""
    if ends is None:
        return False, False
    return lower_missing and ends[0] < lowest, upper_missing and ends[1] > highest


def _neighbours(values: list[tuple[datetime, int, bool]], first: datetime, last: datetime
                ) -> tuple[int | None, int | None]:
    """Where the last usable value before ``first`` and the first after ``last`` are."""
    lower = next((n for n in range(len(values) - 1, -1, -1)
                  if values[n][2] and values[n][0] < first), None)
    upper = next((n for n, (stamp, _, ok) in enumerate(values) if ok and stamp > last), None)
    return lower, upper


def _values_between(db: Database, source: str, register: UUID, first: datetime, last: datetime
                    ) -> list[tuple[datetime, int, bool]]:
    table, value = SOURCES[source]
    rows = db.query_rows(f"SELECT timestamp, {value} AS wh FROM {table} WHERE register_id = :r "
                         f"AND timestamp >= :lo AND timestamp <= :hi AND {KEPT_SQL[db.engine]} "
                         "ORDER BY timestamp",
                         {"r": register, "lo": first, "hi": last}, times=(0,))
    if source == "profile":
        return [(stamp, int(wh), on_grid(stamp)) for stamp, wh in rows]
    return [(stamp, int(wh), True) for stamp, wh in rows]


def on_grid(stamp: datetime) -> bool:
    """On the half-hour grid, whatever time zone the value comes in."""
    return (stamp - _EPOCH) % HALF_HOUR == _ZERO


def neighbours(db: Database, source: str, register: UUID, at: datetime
               ) -> tuple[tuple[datetime, int] | None, tuple[datetime, int] | None]:
    """The register's last usable value of the source before ``at`` and its first after, as
    (timestamp, Wh) (None: there is none)."""
    lower_at, upper_at = _bounds(db, source, register, at, at, None)
    table, value = SOURCES[source]
    found = {row["timestamp"]: int(row["wh"]) for row in db.query(
        f"SELECT timestamp, {value} AS wh FROM {table} WHERE register_id = :r "
        "AND timestamp IN (:lower, :upper)", {"r": register, "lower": lower_at or at,
                                               "upper": upper_at or at})}
    return ((lower_at, found[lower_at]) if lower_at is not None and lower_at in found else None,
            (upper_at, found[upper_at]) if upper_at is not None and upper_at in found else None)


_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_ZERO = timedelta()


def usable_bounds_many(db: Database, source: str, registers: Sequence[UUID], first: datetime,
                       last: datetime, ends: Callable[[UUID], EndsLookup]
                       ) -> dict[UUID, tuple[datetime | None, datetime | None]]:
    """Each register's last usable value before ``first`` and first usable one after ``last``
    (None: there is none), looked for as in `values_around_many`; one query for all of them."""
    table, _ = SOURCES[source]
    usable = _usable(db, source)
    margin = NEIGHBOUR_SEARCH[source]
    rows = query_in(db, "SELECT register_id, max(CASE WHEN timestamp < :lo THEN timestamp END) "
                        "AS lower_at, min(CASE WHEN timestamp > :hi THEN timestamp END) AS upper_at "
                        f"FROM {table} WHERE register_id IN ({{values}}) AND timestamp >= :far_lo "
                        "AND timestamp <= :far_hi AND (timestamp < :lo OR timestamp > :hi) "
                        f"AND {usable} GROUP BY register_id", registers,
                    params={"lo": first, "hi": last, "far_lo": first - margin,
                            "far_hi": last + margin})
    near = {row["register_id"]: (row["lower_at"], row["upper_at"]) for row in rows}
    bounds: dict[UUID, tuple[datetime | None, datetime | None]] = {}
    for register in registers:
        lower_at, upper_at = near.get(register, (None, None))
        if lower_at is None or upper_at is None:
            further_lower, further_upper = _further(ends(register)(), first - margin,
                                                    last + margin, lower_at is None,
                                                    upper_at is None)
            if further_lower or further_upper:
                further = _bounds(db, source, register, first, last, None, lower=further_lower,
                                  upper=further_upper)
                lower_at, upper_at = lower_at or further[0], upper_at or further[1]
        bounds[register] = (lower_at, upper_at)
    return bounds


def _usable(db: Database, source: str) -> str:
    """SQL for a usable value of the source: within the history kept; every register read,
    on-grid profile values."""
    kept = KEPT_SQL[db.engine]
    return f"{kept} AND {ON_GRID_SQL[db.engine]}" if source == "profile" else kept


def _bounds(db: Database, source: str, register: UUID, first: datetime, last: datetime,
            within: timedelta | None, lower: bool = True, upper: bool = True
            ) -> tuple[datetime | None, datetime | None]:
    table, _ = SOURCES[source]
    usable = _usable(db, source)
    near_lower = near_upper = ""
    if within is not None:
        near_lower, near_upper = " AND timestamp >= :far_lo", " AND timestamp <= :far_hi"
    lower_sql = (f"(SELECT max(timestamp) FROM {table} WHERE register_id = :r "
                 f"AND timestamp < :lo{near_lower} AND {usable})" if lower else "NULL")
    upper_sql = (f"(SELECT min(timestamp) FROM {table} WHERE register_id = :r "
                 f"AND timestamp > :hi{near_upper} AND {usable})" if upper else "NULL")
    row = db.query(
        f"SELECT {lower_sql} AS lower_at, {upper_sql} AS upper_at",
        {"r": register, "lo": first, "hi": last, "far_lo": first - (within or timedelta()),
         "far_hi": last + (within or timedelta())})[0]
    return row["lower_at"], row["upper_at"]
