"""Typed functions over the Flows database, used by the other parts (no ORM).

Every function takes a `Database` and runs its statements in the caller's transaction when
there is one (``with db.transaction(): ...``), else each statement on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from flows.db.connection import Database, DatabaseError

TWIN_ELEMENT = {"C1.w"}
HARDWARE = {"C1.w", "B1.w", "EMA1.w", "P1.ax", "P1.cx"}
FREQUENCIES = ("hourly", "12hourly", "daily")
# Shadow columns a syncer may write (anything else is a programming error, not data).
SHADOW_COLUMNS = {
    "import_a", "import_b", "export_a", "export_b", "reads_at", "reads_meter_time", "balance",
    "balance_at", "csq", "csq_at", "voltage", "voltage_at", "3p_voltage_l1", "3p_voltage_l2",
    "3p_voltage_l3", "clock_time_diff_seconds", "clock_time_diff_synced_at", "tariffs_active",
    "tariffs_future", "backlight", "load_switch",
}
REGISTRY_COLUMNS = {"name", "hardware", "firmware_version", "prepay_enabled", "serial",
                    "daylight_savings_correction_enabled", "mode", "ip_address", "port"}


@dataclass(frozen=True)
class Meter:
    id: UUID
    serial: str
    ip_address: str | None
    port: int
    hardware: str | None
    esco_code: str | None
    mode: str


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def _now() -> datetime:
    return datetime.now(UTC)


def _ip(db: Database, column: str) -> str:
    return f"host({column})" if db.engine == "postgres" else column


# Registry -----------------------------------------------------------------------------------


def add_esco(db: Database, code: str, name: str | None = None) -> UUID:
    esco_id = uuid4()
    db.execute("INSERT INTO escos (id, code, name) VALUES (:id, :code, :name)",
               {"id": esco_id, "code": code, "name": name or code})
    return esco_id


def esco_ids(db: Database) -> dict[str, UUID]:
    return {row["code"]: _uuid(row["id"]) for row in db.query("SELECT id, code FROM escos")}


def add_meter(db: Database, serial: str, ip_address: str | None, hardware: str, esco: UUID | None,
              port: int = 8080, mode: str = "active") -> UUID:
    """A meter, its shadow (by trigger) and its registers: A and B on twin-element meters."""
    if hardware not in HARDWARE:
        raise DatabaseError(f"unknown hardware {hardware!r} (known: {', '.join(sorted(HARDWARE))})")
    meter_id = uuid4()
    db.execute("INSERT INTO meter_registry (id, serial, ip_address, port, hardware, esco, mode) "
               "VALUES (:id, :serial, :ip, :port, :hardware, :esco, :mode)",
               {"id": meter_id, "serial": serial, "ip": ip_address, "port": port,
                "hardware": hardware, "esco": esco, "mode": mode})
    for element in ("A", "B") if hardware in TWIN_ELEMENT else ("A",):
        db.execute("INSERT INTO meter_registers (register_id, meter_id, element) "
                   "VALUES (:register, :meter, :element)",
                   {"register": uuid4(), "meter": meter_id, "element": element})
    return meter_id


def meters(db: Database, esco: str | None = None, active_only: bool = False) -> list[Meter]:
    """Meters (of one esco), by serial; ``active_only``: mode active with an address."""
    rows = db.query(
        f"SELECT r.id, r.serial, {_ip(db, 'r.ip_address')} AS ip, r.port, r.hardware, "
        "e.code AS esco_code, r.mode FROM meter_registry r LEFT JOIN escos e ON e.id = r.esco "
        "WHERE (CAST(:esco AS TEXT) IS NULL OR e.code = :esco) AND (:all_modes OR (r.mode = 'active' AND "
        "r.ip_address IS NOT NULL)) ORDER BY r.serial",
        {"esco": esco, "all_modes": not active_only})
    return [Meter(_uuid(r["id"]), r["serial"], r["ip"], int(r["port"]), r["hardware"],
                  r["esco_code"], r["mode"]) for r in rows]


def update_registry_if_changed(db: Database, meter_id: UUID, **fields: Any) -> bool:
    """Write registry facts only when they differ from what is stored; whether anything did."""
    unknown = set(fields) - REGISTRY_COLUMNS
    if unknown:
        raise DatabaseError(f"not registry columns: {', '.join(sorted(unknown))}")
    changes = " OR ".join(f"{c} IS DISTINCT FROM :{c}" if db.engine == "postgres"
                          else f"{c} IS NOT :{c}" for c in fields)
    assignments = ", ".join(f"{c} = :{c}" for c in fields)
    return db.execute(f"UPDATE meter_registry SET {assignments} WHERE id = :id AND ({changes})",
                      {**fields, "id": meter_id}) > 0


# Metrics ------------------------------------------------------------------------------------


def enabled_metrics(db: Database, frequency: str) -> list[str]:
    if frequency not in FREQUENCIES:
        raise DatabaseError(f"frequency must be one of {', '.join(FREQUENCIES)}, not {frequency!r}")
    return [r["name"] for r in db.query(
        "SELECT name FROM meter_metrics WHERE enabled AND run_frequency = :f ORDER BY name",
        {"f": frequency})]


def set_metric(db: Database, name: str, enabled: bool | None = None,
               frequency: str | None = None) -> None:
    if frequency is not None and frequency not in FREQUENCIES:
        raise DatabaseError(f"frequency must be one of {', '.join(FREQUENCIES)}, not {frequency!r}")
    changed = db.execute("UPDATE meter_metrics SET enabled = COALESCE(:enabled, enabled), "
                         "run_frequency = COALESCE(:frequency, run_frequency) WHERE name = :name",
                         {"enabled": enabled, "frequency": frequency, "name": name})
    if not changed:
        raise DatabaseError(f"no metric named {name!r}")


# Shadows ------------------------------------------------------------------------------------


def _check_columns(values: Mapping[str, Any]) -> None:
    unknown = set(values) - SHADOW_COLUMNS
    if unknown:
        raise DatabaseError(f"not shadow columns: {', '.join(sorted(unknown))}")


def update_shadow_healthy(db: Database, meter_id: UUID, values: Mapping[str, Any]) -> None:
    """A successful sync: its values, plus health healthy and no details (history by trigger)."""
    _check_columns(values)
    assignments = "".join(f', "{c}" = :{_param(c)}' for c in values)
    params = {_param(c): v for c, v in values.items()}
    db.execute(f"UPDATE meter_shadows SET health = 'healthy', health_details = ''{assignments} "
               "WHERE id = :id", {**params, "id": meter_id})


def update_shadow_unhealthy(db: Database, meter_id: UUID, details: str) -> None:
    """A failed sync: unhealthy with the reason, and no signal quality."""
    db.execute("UPDATE meter_shadows SET health = 'unhealthy', health_details = :details, "
               "csq = NULL WHERE id = :id", {"details": details, "id": meter_id})


def _param(column: str) -> str:
    return "p_" + column


def record_reads(db: Database, meter_id: UUID, *, import_a: float | None,
                 import_b: float | None = None, export_a: float | None = None,
                 export_b: float | None = None, at: datetime | None = None,
                 meter_time: datetime | None = None) -> None:
    """A register read (kWh): one history row per register, at ``at`` (default now)."""
    update_shadow_healthy(db, meter_id, {
        "import_a": import_a, "import_b": import_b, "export_a": export_a, "export_b": export_b,
        "reads_at": at or _now(), "reads_meter_time": meter_time})


def shadow(db: Database, meter_id: UUID) -> dict[str, Any]:
    rows = db.query("SELECT * FROM meter_shadows WHERE id = :id", {"id": meter_id})
    if not rows:
        raise DatabaseError(f"no shadow for meter {meter_id}")
    return rows[0]


# History ------------------------------------------------------------------------------------


def append_events(db: Database, meter_id: UUID,
                  events: Iterable[tuple[datetime, int, int]]) -> int:
    """Event log entries (timestamp, type, set); ones already stored are skipped."""
    added = 0
    for timestamp, event_type, event_set in events:
        added += db.execute(
            "INSERT INTO meter_event_log (meter_id, timestamp, event_type, event_set) VALUES "
            "(:m, :t, :type, :set) ON CONFLICT DO NOTHING",
            {"m": meter_id, "t": timestamp, "type": event_type, "set": event_set})
    return added


def as_datetime(value: Any) -> datetime:
    """A timestamp as either engine returns it (SQLite: ISO text), as a UTC-aware datetime."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def register_history(db: Database, meter_id: UUID, element: str = "A",
                     direction: str = "import") -> list[tuple[datetime, float]]:
    """(timestamp, kWh) of one register's reads, oldest first."""
    if direction not in ("import", "export"):
        raise DatabaseError(f"direction is import or export, not {direction!r}")
    rows = db.query(f"SELECT h.timestamp, h.read FROM register_{direction} h JOIN meter_registers r "
                    "ON r.register_id = h.register_id WHERE r.meter_id = :m AND r.element = :e "
                    "ORDER BY h.timestamp", {"m": meter_id, "e": element})
    return [(as_datetime(r["timestamp"]), float(r["read"])) for r in rows]


def balance_history(db: Database, meter_id: UUID) -> list[Decimal]:
    return [Decimal(str(r["balance"])) for r in db.query(
        "SELECT balance FROM meter_prepay_balance WHERE meter_id = :m ORDER BY timestamp",
        {"m": meter_id})]
