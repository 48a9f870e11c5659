"""`meter_shadows`: each meter's current state. Writing it appends history (by trigger)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypedDict, cast
from uuid import UUID

from flows.db.connection import Database, InvalidValueError, NotFoundError

# The shadow columns a syncer may write, with their types: mypy checks every syncer's keys and
# values against it (a misspelt column fails the type check, not a sync at run time).
ShadowUpdate = TypedDict("ShadowUpdate", {
    "import_a": float | None, "import_b": float | None,  # kWh, as the registers read
    "export_a": float | None, "export_b": float | None,
    "reads_at": datetime, "reads_meter_time": datetime | None,
    "balance": Decimal, "balance_at": datetime,
    "csq": int, "csq_at": datetime,
    "voltage": Decimal, "voltage_at": datetime,
    "3p_voltage_l1": float, "3p_voltage_l2": float, "3p_voltage_l3": float,
    "clock_time_diff_seconds": int, "clock_time_diff_synced_at": datetime,
    "tariffs_active": str, "tariffs_future": str,  # JSON
    "backlight": str, "load_switch": str,
}, total=False)
SHADOW_COLUMNS = frozenset(ShadowUpdate.__annotations__)


def _check_columns(values: Mapping[str, Any]) -> None:
    unknown = set(values) - SHADOW_COLUMNS
    if unknown:
        raise InvalidValueError(f"not shadow columns: {', '.join(sorted(unknown))}")


def _param(column: str) -> str:
    return "p_" + column


def update_shadow_healthy(db: Database, meter: UUID, update: ShadowUpdate) -> None:
    """A successful sync: its values, plus health healthy and no details (history by trigger)."""
    values = cast(Mapping[str, Any], update)
    _check_columns(values)  # typed callers cannot fail this; untyped ones still can
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
