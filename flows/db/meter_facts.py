"""What the ops console's meter page shows beside the shadow: the recent history of one meter
(balance, signal quality, voltage, health, events), its tariffs and clock, newest first; each an
index range of the meter's history table, so the page costs the same whatever the fleet."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from flows.db.connection import Database

RECENT = 48  # history rows per kind on the page


@dataclass
class MeterFacts:
    balance: list[tuple[datetime, Decimal]] = field(default_factory=list)
    csq: list[tuple[datetime, int]] = field(default_factory=list)
    voltage: list[tuple[datetime, Decimal]] = field(default_factory=list)  # volts
    health: list[dict[str, Any]] = field(default_factory=list)  # timestamp, health, details
    events: list[dict[str, Any]] = field(default_factory=list)  # timestamp, event_type, event_set
    tariffs_active: Any = None  # the shadow's JSON, decoded
    tariffs_future: Any = None
    clock_synced_at: datetime | None = None


def meter_facts(db: Database, meter: UUID, recent: int = RECENT) -> MeterFacts:
    params = {"m": meter, "n": recent}

    def newest(table: str, columns: str) -> list[dict[str, Any]]:
        return db.query(f"SELECT timestamp, {columns} FROM {table} WHERE meter_id = :m "
                        "ORDER BY timestamp DESC LIMIT :n", params)

    shadow = db.query("SELECT tariffs_active, tariffs_future, clock_time_diff_synced_at "
                      "FROM meter_shadows WHERE id = :m", params)
    found = shadow[0] if shadow else {}
    return MeterFacts(
        balance=[(r["timestamp"], Decimal(str(r["balance"])))
                 for r in newest("meter_prepay_balance", "balance")],
        csq=[(r["timestamp"], int(r["csq"])) for r in newest("meter_csq", "csq")],
        # Stored in deci-volts, as the deployed collector stores them.
        voltage=[(r["timestamp"], Decimal(str(r["voltage"])) / 10)
                 for r in newest("meter_voltage", "voltage")],
        health=newest("meter_health_history", "health, details"),
        events=newest("meter_event_log", "event_type, event_set"),
        tariffs_active=_decoded(found.get("tariffs_active")),
        tariffs_future=_decoded(found.get("tariffs_future")),
        clock_synced_at=found.get("clock_time_diff_synced_at"))


def _decoded(text: Any) -> Any:
    if text is None or not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text  # shown as stored
