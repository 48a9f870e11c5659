"""The ops console's meter lists: the active meters in one state of fleet health (unhealthy,
offline, low balance, ... — `fleet.STATES`, what fleet health counts), filtered by esco,
hardware and health, searched by serial, sorted and paged in SQL, with the total."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flows.db.connection import Database
from flows.db.fleet import MISSING_SQL, STATES, state_params

SORTS = {
    "serial": "r.serial", "esco": "e.code", "hardware": "r.hardware", "health": "s.health",
    "last_seen": "s.csq_at", "last_healthy": "s.last_healthy_at",
    "balance": "CAST(s.balance AS NUMERIC)", "clock_drift": "abs(s.clock_time_diff_seconds)",
    "missing": "mh.missing",
}
HEALTH_FILTERS = {state: STATES[state] for state in ("healthy", "unhealthy", "never_synced")}
# Since when an unhealthy meter is: its first unhealthy record after it was last healthy.
_UNHEALTHY_SINCE = (
    "CASE WHEN s.health = 'unhealthy' THEN (SELECT min(h.timestamp) FROM meter_health_history h "
    "WHERE h.meter_id = r.id AND h.health = 'unhealthy' AND (s.last_healthy_at IS NULL "
    "OR h.timestamp > s.last_healthy_at)) END")
_COLUMNS = ("r.serial, r.hardware, e.code AS esco, s.health, s.health_details, "
            f"s.last_healthy_at, {_UNHEALTHY_SINCE} AS unhealthy_since, s.csq_at AS last_seen_at, "
            "s.balance, s.balance_at, s.clock_time_diff_seconds")
_FROM = ("FROM meter_registry r LEFT JOIN escos e ON e.id = r.esco "
         "LEFT JOIN meter_shadows s ON s.id = r.id")


class ListError(ValueError):
    """A list asked for with an unknown state, sort or health filter."""


@dataclass(frozen=True)
class MeterList:
    total: int  # meters matching, over every page
    rows: list[dict[str, Any]]  # this page's


def meter_list(db: Database, state: str = "active", *, esco: str | None = None,
               hardware: str | None = None, health: str | None = None,
               search: str | None = None, sort: str = "serial", descending: bool = False,
               offset: int = 0, limit: int = 50, now: datetime) -> MeterList:
    """The active meters in ``state`` (a key of `STATES`), filtered (``esco`` code, ``hardware``,
    ``health``: a key of `HEALTH_FILTERS`), searched (``search``: part of the serial, any
    case), sorted by ``sort`` (a key of `SORTS`; empty values last either way, then by serial)
    and paged. Rows carry ``missing`` (half hours) when the state or sort is about them."""
    for name, value, known in (("state", state, STATES), ("sort", sort, SORTS),
                               ("health", health, HEALTH_FILTERS)):
        if value is not None and value not in known:
            raise ListError(f"unknown {name} {value!r}: one of {', '.join(known)}")
    params: dict[str, Any] = {
        **state_params(now), "esco": esco, "hardware": hardware,
        "search": f"%{_escaped(search.upper())}%" if search else None,
        "offset": offset, "limit": limit}
    conditions = ["r.mode = 'active'", STATES[state]]
    if esco:
        conditions.append("upper(e.code) = upper(:esco)")
    if hardware:
        conditions.append("r.hardware = :hardware")
    if health:
        conditions.append(HEALTH_FILTERS[health])
    if search:
        conditions.append("upper(r.serial) LIKE :search ESCAPE '\\'")
    missing = state == "missing_half_hours" or sort == "missing"
    source = _FROM + (f" LEFT JOIN ({MISSING_SQL[db.engine]}) mh ON mh.serial = r.serial"
                      if missing else "")
    where = " AND ".join(conditions)
    total = int(db.query(f"SELECT count(*) AS n {source} WHERE {where}", params)[0]["n"])
    order = SORTS[sort]
    direction = "DESC" if descending else "ASC"
    rows = db.query(
        f"SELECT {_COLUMNS}{', mh.missing' if missing else ''} {source} WHERE {where} "
        f"ORDER BY ({order}) IS NULL, {order} {direction}, r.serial {direction} "
        "LIMIT :limit OFFSET :offset", params)
    for row in rows:
        if "missing" in row:
            row["missing"] = int(row["missing"] or 0)
    return MeterList(total, rows)


def _escaped(text: str) -> str:
    """``text`` matched literally by LIKE (its % and _ are not wildcards)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def filter_options(db: Database) -> dict[str, list[str]]:
    """What the lists can be filtered by: the escos' codes and the hardware in the registry."""
    return {"esco": [row["code"] for row in db.query("SELECT code FROM escos ORDER BY code")],
            "hardware": [row["hardware"] for row in db.query(
                "SELECT DISTINCT hardware FROM meter_registry WHERE hardware IS NOT NULL "
                "ORDER BY hardware")]}
