"""Migrations and triggers, identical on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from flows.db import Database, DatabaseError, history, migrate, registry, shadows

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def new_meter(db: Database, serial: str = "EML0000000001", hardware: str = "C1.w") -> object:
    esco = registry.esco_ids(db).get("MOR") or registry.add_esco(db, "MOR", "Morrison")
    address = f"127.10.0.{len(registry.meters(db)) + 1}"
    return registry.add_meter(db, serial, address, hardware, esco)


def test_migrate_twice_changes_nothing(db: Database) -> None:
    assert migrate(db) == []
    assert len(registry.enabled_metrics(db, "hourly")) == 4
    assert "SyncerReads" in registry.enabled_metrics(db, "daily")


def test_inserting_a_meter_creates_its_shadow_and_registers(db: Database) -> None:
    twin = new_meter(db, "EML1", "C1.w")
    single = new_meter(db, "EML2", "B1.w")
    assert shadows.shadow(db, twin)["health"] is None  # type: ignore[arg-type]
    elements = {row["meter_id"]: row["element"] for row in db.query(
        "SELECT meter_id, element FROM meter_registers WHERE meter_id = :m", {"m": single})}
    assert list(elements.values()) == ["A"]
    assert len(db.query("SELECT * FROM meter_registers WHERE meter_id = :m", {"m": twin})) == 2


def test_each_read_appends_exactly_one_row_per_register(db: Database) -> None:
    meter = new_meter(db)
    shadows.record_reads(db, meter, import_a=10.5, import_b=2.0, export_a=1.0, export_b=0.0, at=T0)  # type: ignore[arg-type]
    shadows.record_reads(db, meter, import_a=10.5, import_b=2.0, export_a=1.0, export_b=0.0,  # type: ignore[arg-type]
                      at=T0 + timedelta(hours=1))  # unchanged values: still a read
    assert [r for _, r in history.register_history(db, meter, "A")] == [10.5, 10.5]  # type: ignore[arg-type]
    assert [r for _, r in history.register_history(db, meter, "B")] == [2.0, 2.0]  # type: ignore[arg-type]
    assert [r for _, r in history.register_history(db, meter, "A", "export")] == [1.0, 1.0]  # type: ignore[arg-type]
    assert [t for t, _ in history.register_history(db, meter, "A")] == [T0, T0 + timedelta(hours=1)]  # type: ignore[arg-type]


def test_unrelated_updates_append_no_history(db: Database) -> None:
    meter = new_meter(db)
    shadows.record_reads(db, meter, import_a=10.5, at=T0)  # type: ignore[arg-type]
    shadows.update_shadow_healthy(db, meter, {"csq": 17, "csq_at": T0})  # type: ignore[arg-type]
    shadows.update_shadow_healthy(db, meter, {"import_a": 10.5})  # named but unchanged  # type: ignore[arg-type]
    assert len(history.register_history(db, meter, "A")) == 1  # type: ignore[arg-type]


def test_duplicate_reads_and_null_registers_are_ignored(db: Database) -> None:
    meter = new_meter(db)
    shadows.record_reads(db, meter, import_a=1.0, export_a=None, at=T0)  # type: ignore[arg-type]
    # A second write for the same read time (a replayed or corrected read): no duplicate rows,
    # no error — for import and export alike.
    shadows.record_reads(db, meter, import_a=1.5, export_a=3.0, at=T0)  # type: ignore[arg-type]
    shadows.record_reads(db, meter, import_a=1.5, export_a=3.5, at=T0)  # type: ignore[arg-type]
    assert history.register_history(db, meter, "A") == [(T0, 1.0)]  # type: ignore[arg-type]
    assert history.register_history(db, meter, "A", "export") == [(T0, 3.0)]  # type: ignore[arg-type]
    assert history.register_history(db, meter, "B") == []  # NULL import_b: no row  # type: ignore[arg-type]


def test_a_read_without_register_is_reported(db: Database) -> None:
    meter = new_meter(db, hardware="B1.w")  # element A only
    shadows.record_reads(db, meter, import_a=5.0, import_b=7.0, at=T0)  # type: ignore[arg-type]
    problems = db.query("SELECT element, direction, read, problem FROM read_problems")
    assert problems == [{"element": "B", "direction": "import", "read": 7.0,
                         "problem": "no enabled register for this element"}]


def test_unhealthy_write_stores_details_and_nulls_csq(db: Database) -> None:
    meter = new_meter(db)
    shadows.update_shadow_healthy(db, meter, {"csq": 20, "csq_at": T0})  # type: ignore[arg-type]
    healthy_at = shadows.shadow(db, meter)["last_healthy_at"]  # type: ignore[arg-type]
    assert healthy_at is not None
    shadows.update_shadow_unhealthy(db, meter, "DEADLINE_EXCEEDED: meter did not answer")  # type: ignore[arg-type]
    row = shadows.shadow(db, meter)  # type: ignore[arg-type]
    assert row["health"] == "unhealthy" and row["csq"] is None
    assert row["health_details"] == "DEADLINE_EXCEEDED: meter did not answer"
    assert row["last_healthy_at"] == healthy_at
    health = db.query("SELECT health, details FROM meter_health_history WHERE meter_id = :m "
                      "ORDER BY timestamp", {"m": meter})
    assert [h["health"] for h in health] == ["healthy", "unhealthy"]
    assert [r["csq"] for r in db.query("SELECT csq FROM meter_csq")] == [20]


def test_balance_history_is_exact(db: Database) -> None:
    meter = new_meter(db)
    for hours, amount in ((0, "12.34567"), (1, "12.30001")):
        shadows.update_shadow_healthy(db, meter, {"balance": Decimal(amount),  # type: ignore[arg-type]
                                               "balance_at": T0 + timedelta(hours=hours)})
    assert history.balance_history(db, meter) == [Decimal("12.34567"), Decimal("12.30001")]  # type: ignore[arg-type]


def test_registry_written_only_when_changed(db: Database) -> None:
    meter = new_meter(db)
    assert registry.update_registry_if_changed(db, meter, firmware_version="3_03_2")  # type: ignore[arg-type]
    assert not registry.update_registry_if_changed(db, meter, firmware_version="3_03_2")  # type: ignore[arg-type]


def test_events_are_stored_once(db: Database) -> None:
    meter = new_meter(db)
    events = [(T0, 1, 0), (T0 + timedelta(minutes=5), 2, 1)]
    assert history.append_events(db, meter, events) == 2  # type: ignore[arg-type]
    assert history.append_events(db, meter, events) == 0  # type: ignore[arg-type]


def test_metrics_can_be_switched(db: Database) -> None:
    registry.set_metric(db, "SyncerCsq", enabled=False)
    assert "SyncerCsq" not in registry.enabled_metrics(db, "hourly")
    registry.set_metric(db, "SyncerCsq", enabled=True, frequency="12hourly")
    assert registry.enabled_metrics(db, "12hourly") == ["SyncerCsq"]
    with pytest.raises(DatabaseError, match="no metric named 'SyncerNope'"):
        registry.set_metric(db, "SyncerNope", enabled=True)
    with pytest.raises(DatabaseError, match="frequency must be one of"):
        registry.enabled_metrics(db, "weekly")


def test_active_meters_of_an_esco(db: Database) -> None:
    new_meter(db, "EML1")
    passive = new_meter(db, "EML2")
    db.execute("UPDATE meter_registry SET mode = 'passive', ip_address = NULL WHERE id = :m",
               {"m": passive})
    assert [m.serial for m in registry.meters(db, esco="MOR", active_only=True)] == ["EML1"]
    assert [m.serial for m in registry.meters(db)] == ["EML1", "EML2"]
