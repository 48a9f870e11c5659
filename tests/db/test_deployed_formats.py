"""Migration 0019: the columns both schemas share take the deployed collector's formats —
voltage in deci-volts (shadow and history), backlight by the deployed names for the meter's
kind — and a zero read of an element a meter lacks is not a read problem (any other is)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from flows.db import Database, connect, migrate, registry, shadows
from flows.db.migrate import DatabaseError, _statements

AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
FORMATS_MIGRATION = 19


@pytest.fixture(params=["sqlite", "postgres"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = (f"sqlite:///{tmp_path / 'flows.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    with connect(url) as db:
        yield db


def test_stored_voltages_and_backlights_take_the_deployed_formats(fresh: Database) -> None:
    db = fresh
    migrate(db, upto=FORMATS_MIGRATION - 1)
    names = {"EML1": ("C1.w", "normal"), "EML2": ("P1.cx", "normal"),
             "EML3": ("B1.w", "always_on"), "EML4": ("P1.ax", "off_after_15s_3p"),
             "EML5": ("B1.w", "code_77")}
    for n, (serial, (hardware, backlight)) in enumerate(names.items()):
        meter = registry.add_meter(db, serial, "127.0.0.1", hardware, None, port=9000 + n)
        shadows.update_shadow_healthy(db, meter, {"backlight": backlight})
    single = registry.meter_id(db, "EML1")
    shadows.update_shadow_healthy(db, single, {"voltage": Decimal("239.6"), "voltage_at": AT})

    migrate(db)

    backlights = {row["serial"]: row["backlight"] for row in db.query(
        "SELECT r.serial, s.backlight FROM meter_registry r JOIN meter_shadows s ON s.id = r.id")}
    assert backlights == {"EML1": "normal_sp", "EML2": "always_off_3p", "EML3": "always_on_sp",
                          "EML4": "n15_seconds_turn_off_3p", "EML5": "code_77"}
    assert shadows.shadow(db, single)["voltage"] == Decimal("2396.0")
    assert [Decimal(str(row["voltage"])) for row in db.query(
        "SELECT voltage FROM meter_voltage")] == [Decimal("2396.0")]


def test_a_zero_read_of_an_element_the_meter_lacks_is_no_problem(fresh: Database) -> None:
    db = fresh
    migrate(db)
    meter = registry.add_meter(db, "EML1", "127.0.0.1", "B1.w", None)  # element A only
    shadows.record_reads(db, meter, import_a=10.5, import_b=0.0, export_a=1.0, export_b=0.0,
                         at=AT)
    assert db.query("SELECT count(*) AS n FROM read_problems")[0]["n"] == 0
    assert db.query("SELECT count(*) AS n FROM register_import")[0]["n"] == 1
    shadows.record_reads(db, meter, import_a=10.6, import_b=3.0, export_a=1.0, export_b=0.0,
                         at=AT.replace(hour=13))
    problems = db.query("SELECT element, direction, read FROM read_problems")
    assert [(row["element"], row["direction"], float(row["read"])) for row in problems] == [
        ("B", "import", 3.0)]


def test_a_migration_cut_short_is_refused_not_half_applied() -> None:
    with pytest.raises(DatabaseError, match="ends inside a statement"):
        _statements("CREATE TABLE t (a INTEGER);\nCREATE TRIGGER x AFTER INSERT ON t BEGIN\n"
                    "  DELETE FROM t;\n")
