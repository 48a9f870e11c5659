"""The fleet-health read model: what the API, the dashboard and the demo's report show about
meters (registry, shadow and health), from the tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from flows.db.connection import Database
from flows.db.registry import registers

OFFLINE_AFTER = timedelta(hours=3)
LOW_BALANCE = Decimal("15.00")
CLOCK_DRIFT_S = 60

_METER_SQL = (
    "SELECT r.id, r.serial, r.name, r.hardware, r.firmware_version, r.mode, r.prepay_enabled, "
    "e.code AS esco, s.health, s.health_details, s.last_healthy_at, s.import_a, s.import_b, "
    "s.export_a, s.export_b, s.reads_at, s.balance, s.balance_at, s.csq, s.csq_at, s.voltage, "
    "s.clock_time_diff_seconds, s.updated_at FROM meter_registry r "
    "LEFT JOIN escos e ON e.id = r.esco LEFT JOIN meter_shadows s ON s.id = r.id")


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
    clock drift, missing half hours (whole days of the last 7 inside each register's data) and
    healthy meters with no usage at all."""
    now = now or datetime.now(UTC)
    rows = [_clean(row) for row in db.query(f"{_METER_SQL} WHERE r.mode = 'active' ORDER BY r.serial")]
    last_seen = {str(r["meter_id"]): r["last_csq_at"]
                 for r in db.query("SELECT meter_id, last_csq_at FROM meters_last_seen")}
    unhealthy = [{"serial": r["serial"], "details": r["health_details"],
                  "last_healthy_at": r["last_healthy_at"], "last_seen_at": last_seen.get(r["id"])}
                 for r in rows if r["health"] == "unhealthy"]
    def is_offline(meter_id: str) -> bool:
        seen = last_seen.get(meter_id)
        return seen is None or now - seen > OFFLINE_AFTER

    offline = [{"serial": r["serial"], "last_seen_at": last_seen.get(r["id"])} for r in rows
               if is_offline(r["id"])]
    low_balance = [{"serial": r["serial"], "balance": r["balance"], "balance_at": r["balance_at"]}
                   for r in rows if r["balance"] is not None and r["balance"] < LOW_BALANCE]
    drift = [{"serial": r["serial"], "clock_time_diff_seconds": r["clock_time_diff_seconds"]}
             for r in rows if r["clock_time_diff_seconds"] is not None
             and abs(r["clock_time_diff_seconds"]) >= CLOCK_DRIFT_S]
    since = (now - timedelta(days=7)).date().isoformat()
    missing = db.query(
        "SELECT r.serial, sum(m.missing) AS missing FROM register_interval_hh_missing m "
        "JOIN meter_registers g ON g.register_id = m.register_id "
        "JOIN meter_registry r ON r.id = g.meter_id "
        "WHERE m.day >= :since AND m.missing > 0 GROUP BY r.serial ORDER BY r.serial",
        {"since": since})
    with_usage = {r["serial"] for r in db.query(
        "SELECT DISTINCT r.serial FROM meter_registry r JOIN meter_registers g ON g.meter_id = r.id "
        "WHERE EXISTS (SELECT 1 FROM register_interval_hh i WHERE i.register_id = g.register_id)")}
    # Healthy meters whose reads never made a single interval: no data is not "nothing missing".
    no_usage = [{"serial": r["serial"], "hardware": r["hardware"]} for r in rows
                if r["health"] == "healthy" and r["serial"] not in with_usage]
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
        "unhealthy": unhealthy,
        "offline": offline,
        "low_balance": low_balance,
        "clock_drift": drift,
        "missing_half_hours": [{"serial": r["serial"], "missing": int(r["missing"])} for r in missing],
        "no_usage": no_usage,
    }
