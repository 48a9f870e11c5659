"""Set-based SQL over whole registers, for the views' rebuild: the actual intervals of the
profile log in one statement (a window function pairs consecutive values, `actual_interval_sql`
gives their Wh and flags), and the local days' lengths."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from uuid import UUID

from flows.db import Database
from flows.db.values import KEPT_SQL, ON_GRID_SQL
from flows.views.rules import actual_interval_sql

_HALF_HOUR_LATER = {
    "sqlite": "strftime('%Y-%m-%dT%H:%M:%fZ', timestamp, '+30 minutes')",
    "postgres": "timestamp + interval '30 minutes'",
}
_KWH = {"sqlite": "printf('%.3f', wh / 1000.0)", "postgres": "round(wh / 1000.0, 3)"}


def insert_actual_intervals(db: Database, registers: Sequence[UUID]) -> int:
    """Every actual interval of these registers (two on-grid profile values half an hour
    apart) in one statement (give at most a few hundred registers: they are parameters); how
    many."""
    wh, flags = actual_interval_sql("first_wh", "last_wh")
    pairs = ("SELECT register_id, timestamp, cumulative_wh AS first_wh, "
             "lead(timestamp) OVER w AS next_at, lead(cumulative_wh) OVER w AS last_wh "
             "FROM register_profile_hh WHERE register_id IN ({values}) "
             f"AND {ON_GRID_SQL[db.engine]} AND {KEPT_SQL[db.engine]} "
             "WINDOW w AS (PARTITION BY register_id ORDER BY timestamp)")
    sql = ("INSERT INTO register_interval_hh (register_id, direction, timestamp, kwh, wh, flags, "
           f"derived) SELECT register_id, 'import', timestamp, {_KWH[db.engine]}, wh, flags, "
           f"FALSE FROM (SELECT register_id, timestamp, {wh} AS wh, {flags} AS flags "
           f"FROM ({pairs}) AS pairs WHERE next_at = {_HALF_HOUR_LATER[db.engine]}) AS actual")
    params = {f"p{n}": register for n, register in enumerate(registers)}
    return db.execute(sql.format(values=", ".join(":" + name for name in params)), params)


def local_day_lengths(db: Database, first: date, last: date) -> dict[date, int]:
    """How many half hours each local day from ``first`` to ``last`` has (46, 48 or 50)."""
    return {row["day"]: int(row["half_hours"]) for row in db.query(
        "SELECT day, half_hours FROM local_days WHERE day >= :first AND day <= :last",
        {"first": first, "last": last})}
