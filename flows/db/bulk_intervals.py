"""Set-based SQL over whole registers, for the views' rebuild: the actual intervals of the
profile log in one statement (a window function pairs consecutive values) and the daily
totals of the intervals.

The rules are those of `flows.views.halfhours` (the rebuild is tested equal to the
incremental views on both engines); the constants come from there, not from input.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID

from flows.db.connection import Database, query_in
from flows.db.consecutive import ON_GRID_SQL

_HALF_HOUR_LATER = {
    "sqlite": "strftime('%Y-%m-%dT%H:%M:%fZ', timestamp, '+30 minutes')",
    "postgres": "timestamp + interval '30 minutes'",
}
_KWH = {"sqlite": "printf('%.3f', wh / 1000.0)", "postgres": "round(wh / 1000.0, 3)"}
# The local day of an interval: PostgreSQL knows time zones; SQLite looks up local_days.
_LOCAL_DAY = {
    "sqlite": "(SELECT d.day FROM local_days d WHERE d.start_utc <= i.timestamp "
              "ORDER BY d.start_utc DESC LIMIT 1)",
    "postgres": "(i.timestamp AT TIME ZONE 'Europe/London')::date",
}


def _pairs(db: Database) -> str:
    """Consecutive on-grid profile values of the registers in the IN list."""
    return ("SELECT register_id, timestamp, cumulative_wh AS first_wh, "
            "lead(timestamp) OVER w AS next_at, lead(cumulative_wh) OVER w AS last_wh "
            "FROM register_profile_hh WHERE register_id IN ({values}) "
            f"AND {ON_GRID_SQL[db.engine]} WINDOW w AS (PARTITION BY register_id ORDER BY timestamp)")


def insert_actual_intervals(db: Database, registers: Sequence[UUID], sentinel_wh: int,
                            register_max_wh: int, rollover_margin_wh: int, spike_wh: int
                            ) -> None:
    """Every actual interval of these registers (two on-grid profile values half an hour
    apart), with the flags of `flows.views.halfhours.advance`, in one statement (give at most
    a few hundred registers: they are parameters)."""
    wrap = (f"last_wh < first_wh AND first_wh > {register_max_wh - rollover_margin_wh} "
            f"AND last_wh < {rollover_margin_wh}")
    sentinel = f"(first_wh = {sentinel_wh} OR last_wh = {sentinel_wh})"
    sql = (
        "INSERT INTO register_interval_hh (register_id, direction, timestamp, kwh, wh, flags, "
        f"derived) SELECT register_id, 'import', timestamp, {_KWH[db.engine]}, wh, flags, "
        "FALSE FROM (SELECT register_id, timestamp, "
        f"CASE WHEN NOT {sentinel} AND {wrap} THEN {register_max_wh + 1} + last_wh - first_wh "
        "ELSE last_wh - first_wh END AS wh, "
        f"CASE WHEN {sentinel} THEN 'sentinel' WHEN {wrap} THEN 'rollover' "
        f"WHEN last_wh < first_wh THEN 'reversal' WHEN last_wh - first_wh > {spike_wh} "
        f"THEN 'spike' ELSE '' END AS flags FROM ({_pairs(db)}) AS pairs "
        f"WHERE next_at = {_HALF_HOUR_LATER[db.engine]}) AS actual")
    params = {f"p{n}": register for n, register in enumerate(registers)}
    db.execute(sql.format(values=", ".join(":" + name for name in params)), params)


def day_totals(db: Database, registers: Sequence[UUID], unusable_flags: frozenset[str]
               ) -> list[dict[str, Any]]:
    """Per register, direction and local day: register_id, direction, day, wh (usable),
    actual, estimated, invalid (half hours) and invalid_wh; implausible half hours are those
    whose flags name one of ``unusable_flags``."""
    invalid = " OR ".join(f"i.flags LIKE '%{flag}%'" for flag in sorted(unusable_flags))
    return query_in(db, (
        "SELECT register_id, direction, day, "
        "sum(CASE WHEN invalid = 1 THEN 0 ELSE wh END) AS wh, "
        "sum(CASE WHEN invalid = 0 AND NOT derived THEN 1 ELSE 0 END) AS actual, "
        "sum(CASE WHEN invalid = 0 AND derived THEN 1 ELSE 0 END) AS estimated, "
        "sum(invalid) AS invalid, sum(CASE WHEN invalid = 1 THEN wh ELSE 0 END) AS invalid_wh "
        f"FROM (SELECT i.register_id, i.direction, {_LOCAL_DAY[db.engine]} AS day, i.wh, "
        f"i.derived, CASE WHEN {invalid} THEN 1 ELSE 0 END AS invalid "
        "FROM register_interval_hh i WHERE i.register_id IN ({values})) AS half_hours "
        "GROUP BY register_id, direction, day"), registers)


def local_day_lengths(db: Database, first: date, last: date) -> dict[date, int]:
    """How many half hours each local day from ``first`` to ``last`` has (46, 48 or 50)."""
    return {row["day"]: int(row["half_hours"]) for row in db.query(
        "SELECT day, half_hours FROM local_days WHERE day >= :first AND day <= :last",
        {"first": first, "last": last})}
