"""The fleet-health read model: what the API, the dashboard and the demo's report show about
meters (registry, shadow and health), from the tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from flows.db.connection import Database
from flows.db.registry import registers
from flows.meterdata import LOCAL_ZONE

OFFLINE_AFTER = timedelta(hours=3)
LOW_BALANCE = Decimal("15.00")
CLOCK_DRIFT_S = 60

_METER_SQL = (
    "SELECT r.id, r.serial, r.name, r.hardware, r.firmware_version, r.mode, r.prepay_enabled, "
    "e.code AS esco, s.health, s.health_details, s.last_healthy_at, s.import_a, s.import_b, "
    "s.export_a, s.export_b, s.reads_at, s.balance, s.balance_at, s.csq, s.csq_at, s.voltage, "
    "s.clock_time_diff_seconds, s.updated_at FROM meter_registry r "
    "LEFT JOIN escos e ON e.id = r.esco LEFT JOIN meter_shadows s ON s.id = r.id")
# What fleet health reads of each active meter, when it was last seen (its last signal-quality
# read: every successful sync reads it, a failed one leaves its time) and whether the views hold
# a day of it.
_HEALTH_SQL = ("SELECT r.serial, r.hardware, s.health, s.health_details, s.last_healthy_at, "
               "s.balance, s.balance_at, s.clock_time_diff_seconds, s.csq_at AS last_seen_at, "
               "EXISTS (SELECT 1 FROM usage_meter_daily u WHERE u.meter_id = r.id) AS has_usage "
               "FROM meter_registry r LEFT JOIN meter_shadows s ON s.id = r.id "
               "WHERE r.mode = 'active' ORDER BY r.serial")


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key == "id":
            value = str(value)
        elif key in ("prepay_enabled",) and value is not None:
            value = bool(value)
        elif key == "voltage" and value is not None:  # stored in deci-volts, as deployed
            value = value / 10
        out[key] = value
    return out


def meters(db: Database, *, esco: str | None, health: str | None, after: str | None,
           limit: int) -> list[dict[str, Any]]:
    """Meters by serial, after the serial ``after`` (keyset pagination)."""
    conditions, params = [], {"after": after, "limit": limit, "esco": esco, "health": health}
    if esco is not None:
        conditions.append("e.code = :esco")
    if health is not None:
        conditions.append("s.health = :health")
    if after is not None:
        conditions.append("r.serial > :after")
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    rows = db.query(f"{_METER_SQL}{where} ORDER BY r.serial LIMIT :limit", params)
    return [_clean(row) for row in rows]


def meter(db: Database, serial: str) -> dict[str, Any] | None:
    rows = db.query(f"{_METER_SQL} WHERE r.serial = :serial", {"serial": serial})
    if not rows:
        return None
    found = _clean(rows[0])
    found["registers"] = [
        {"register_id": str(r["register_id"]), "element": r["element"], "status": r["status"]}
        for r in registers(db, rows[0]["id"])]
    return found


def health(db: Database, now: datetime | None = None) -> dict[str, Any]:
    """Counts, the unhealthy meters with details and when last seen, offline, low balance,
    clock drift, missing half hours (`missing_half_hours`) and healthy meters with no usage at
    all: from what the collector and the views maintain (the shadows, the registry and the
    meter days), never from the intervals or the history, so it costs about the same whatever
    the history holds."""
    now = now or datetime.now(UTC)
    rows = db.query(_HEALTH_SQL)
    unhealthy = [{"serial": r["serial"], "details": r["health_details"],
                  "last_healthy_at": r["last_healthy_at"], "last_seen_at": r["last_seen_at"]}
                 for r in rows if r["health"] == "unhealthy"]
    offline = [{"serial": r["serial"], "last_seen_at": r["last_seen_at"]} for r in rows
               if r["last_seen_at"] is None or now - r["last_seen_at"] > OFFLINE_AFTER]
    low_balance = [{"serial": r["serial"], "balance": r["balance"], "balance_at": r["balance_at"]}
                   for r in rows if r["balance"] is not None and r["balance"] < LOW_BALANCE]
    drift = [{"serial": r["serial"], "clock_time_diff_seconds": r["clock_time_diff_seconds"]}
             for r in rows if r["clock_time_diff_seconds"] is not None
             and abs(r["clock_time_diff_seconds"]) >= CLOCK_DRIFT_S]
    # Healthy meters whose reads never made a single day: no data is not "nothing missing".
    no_usage = [{"serial": r["serial"], "hardware": r["hardware"]} for r in rows
                if r["health"] == "healthy" and not r["has_usage"]]
    return {
        "counts": {
            "active": len(rows),
            "healthy": sum(1 for r in rows if r["health"] == "healthy"),
            "unhealthy": len(unhealthy),
            "never_synced": sum(1 for r in rows if r["health"] is None),
            "offline": len(offline),
            "low_balance": len(low_balance),
            "clock_drift": len(drift),
            "no_usage": len(no_usage),
        },
        # The fleet's last healthy sync by any collector (what a freshness alert watches).
        "last_healthy_sync_at": max((r["last_healthy_at"] for r in rows
                                     if r["last_healthy_at"] is not None), default=None),
        "unhealthy": unhealthy,
        "offline": offline,
        "low_balance": low_balance,
        "clock_drift": drift,
        "missing_half_hours": missing_half_hours(db, now),
        "no_usage": no_usage,
    }


MISSING_DAYS = 7

# Per meter, the whole local days of the last `MISSING_DAYS` (today is running: not counted)
# strictly between the first and the last day of its data in that window (the edge days may
# be cut by where its data begins or ends; after its last day, it is offline), each expected
# to hold the day's half hours for every enabled register, less what its import days in
# usage_meter_daily hold (actual, estimated or invalid). The engines want different statements
# for it (both tested by the same cases, tests/db/test_monitoring.py): SQLite sums each
# meter's days by its key; PostgreSQL joins the window's days by hash (per-meter subqueries
# cost it ~60 µs a meter; 10,000 meters: 582 ms against 338 ms).
_SPANS = ("(SELECT meter_id, min(day) AS first_day, max(day) AS last_day FROM usage_meter_daily "
          "WHERE day >= :first AND day <= :today AND direction = 'import' GROUP BY meter_id)")
_REGISTERS = ("(SELECT meter_id, count(*) AS n FROM meter_registers WHERE status = 'enabled' "
              "GROUP BY meter_id)")
MISSING_SQL = {
    "sqlite": (
        "SELECT serial, missing FROM (SELECT m.serial, g.n * (SELECT coalesce(sum(d.half_hours), "
        "0) FROM local_days d WHERE d.day > s.first_day AND d.day < s.last_day) - "
        "(SELECT coalesce(sum(u.actual + u.estimated + u.invalid), 0) FROM usage_meter_daily u "
        "WHERE u.meter_id = s.meter_id AND u.direction = 'import' AND u.day > s.first_day "
        f"AND u.day < s.last_day) AS missing FROM {_SPANS} AS s JOIN {_REGISTERS} AS g "
        "ON g.meter_id = s.meter_id JOIN meter_registry m ON m.id = s.meter_id) AS per_meter "
        "WHERE missing > 0 ORDER BY serial"),
    "postgres": (
        "WITH held AS (SELECT meter_id, day, actual + estimated + invalid AS n "
        "FROM usage_meter_daily WHERE direction = 'import' AND day >= :first AND day <= :today), "
        "spans AS (SELECT meter_id, min(day) AS first_day, max(day) AS last_day FROM held "
        "GROUP BY meter_id) "
        "SELECT m.serial, sum(g.n * d.half_hours - coalesce(h.n, 0)) AS missing FROM spans s "
        "JOIN local_days d ON d.day > s.first_day AND d.day < s.last_day "
        f"JOIN {_REGISTERS} AS g ON g.meter_id = s.meter_id "
        "JOIN meter_registry m ON m.id = s.meter_id "
        "LEFT JOIN held h ON h.meter_id = s.meter_id AND h.day = d.day GROUP BY m.serial "
        "HAVING sum(g.n * d.half_hours - coalesce(h.n, 0)) > 0 ORDER BY m.serial"),
}


def missing_half_hours(db: Database, now: datetime) -> list[dict[str, Any]]:
    """The meters with half hours missing from the last `MISSING_DAYS` whole local days inside
    their data, from the meter days the views maintain."""
    today = now.astimezone(LOCAL_ZONE).date()
    return [{"serial": row["serial"], "missing": int(row["missing"])} for row in db.query(
        MISSING_SQL[db.engine],
        {"first": today - timedelta(days=MISSING_DAYS + 1), "today": today})]
