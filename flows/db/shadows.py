"""`meter_shadows`: each meter's current state. Writing it appends history (by trigger)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from flows.db.connection import Database, InvalidValueError, NotFoundError

# Shadow columns a syncer may write (anything else is a programming error, not data).
SHADOW_COLUMNS = {
    "import_a", "import_b", "export_a", "export_b", "reads_at", "reads_meter_time", "balance",
    "balance_at", "csq", "csq_at", "voltage", "voltage_at", "3p_voltage_l1", "3p_voltage_l2",
    "3p_voltage_l3", "clock_time_diff_seconds", "clock_time_diff_synced_at", "tariffs_active",
    "tariffs_future", "backlight", "load_switch",
}


def _check_columns(values: Mapping[str, Any]) -> None:
    unknown = set(values) - SHADOW_COLUMNS
    if unknown:
        raise InvalidValueError(f"not shadow columns: {', '.join(sorted(unknown))}")


def _param(column: str) -> str:
    return "p_" + column


def update_shadow_healthy(db: Database, meter: UUID, values: Mapping[str, Any]) -> None:
    """A successful sync: its values, plus health healthy and no details (history by trigger)."""
    _check_columns(values)
    assignments = "".join(f', "{c}" = :{_param(c)}' for c in values)
    params = {_param(c): v for c, v in values.items()}
    db.execute(f"UPDATE meter_shadows SET health = 'healthy', health_details = ''{assignments} "
               "WHERE id = :id", {**params, "id": meter})


def update_shadow_unhealthy(db: Database, meter: UUID, details: str) -> None:
    """A failed sync: unhealthy with the reason, and no signal quality."""
    db.execute("UPDATE meter_shadows SET health = 'unhealthy', health_details = :details, "
               "csq = NULL WHERE id = :id", {"details": details, "id": meter})


def record_reads(db: Database, meter: UUID, *, import_a: float | None,
                 import_b: float | None = None, export_a: float | None = None,
                 export_b: float | None = None, at: datetime | None = None,
                 meter_time: datetime | None = None) -> None:
    """A register read (kWh): one history row per register, at ``at`` (default now)."""
    update_shadow_healthy(db, meter, {
        "import_a": import_a, "import_b": import_b, "export_a": export_a, "export_b": export_b,
        "reads_at": at or datetime.now(UTC), "reads_meter_time": meter_time})


def shadow(db: Database, meter: UUID) -> dict[str, Any]:
    rows = db.query("SELECT * FROM meter_shadows WHERE id = :id", {"id": meter})
    if not rows:
        raise NotFoundError(f"no shadow for meter {meter}")
    return rows[0]
