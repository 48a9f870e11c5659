"""`Database.query` returns the same types on both engines, and errors say what kind they are."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

import pytest

from flows.db import (
    ConflictError,
    Database,
    DatabaseError,
    InvalidValueError,
    NotFoundError,
    UnavailableError,
    connect,
    corrections,
    customers,
    history,
    registry,
    shadows,
)

AT = datetime(2026, 11, 25, 0, 30, 0, 123000, tzinfo=UTC)


def test_rows_come_back_typed(db: Database) -> None:
    esco = registry.add_esco(db, "MOR")
    meter = registry.add_meter(db, "EML0001", "127.0.0.1", "C1.w", esco)
    shadows.update_shadow_healthy(db, meter, {"balance": Decimal("12.34"), "balance_at": AT,
                                              "voltage": Decimal("231.1")})
    row = db.query("SELECT id, serial, balance, balance_at, voltage FROM meter_shadows s "
                   "JOIN meter_registry r USING (id)")[0]
    assert row == {"id": meter, "serial": "EML0001", "balance": Decimal("12.34"),
                   "balance_at": AT, "voltage": Decimal("231.1")}
    assert isinstance(row["id"], UUID) and row["balance_at"].tzinfo is not None
    # Aggregates too, and what the typed repository functions return.
    latest = db.query("SELECT max(balance_at) AS latest FROM meter_prepay_balance b "
                      "JOIN meter_shadows s ON s.id = b.meter_id")[0]["latest"]
    assert latest is None or isinstance(latest, datetime)
    assert history.balance_history(db, meter) == [Decimal("12.34")]
    assert registry.meters(db)[0].id == meter
    assert set(registry.enabled_registers(db, meter)) == {"A", "B"}
    assert all(isinstance(register, UUID) for register in registry.enabled_registers(db, meter).values())


def test_local_days_come_back_as_dates(db: Database) -> None:
    day = db.query("SELECT day FROM local_days WHERE day = :d", {"d": date(2026, 3, 29)})
    assert day == [{"day": date(2026, 3, 29)}]


def test_errors_say_their_kind(db: Database) -> None:
    esco = registry.add_esco(db, "MOR")
    registry.add_meter(db, "EML0001", "127.0.0.1", "C1.w", esco)
    with pytest.raises(ConflictError, match="serial 'EML0001' exists already"):
        registry.add_meter(db, "EML0001", "127.0.0.2", "C1.w", esco)
    with pytest.raises(NotFoundError, match="no meter with serial 'NOPE'"):
        registry.meter_id(db, "NOPE")
    with pytest.raises(InvalidValueError, match="unknown hardware"):
        registry.add_meter(db, "EML0002", "127.0.0.3", "X9", esco)
    customers.add_customer(db, "C1")
    with pytest.raises(ConflictError, match="exists already"):
        customers.add_customer(db, "C1")
    register = registry.register_id(db, "EML0001")
    with pytest.raises(InvalidValueError, match="outside a register's range"):
        corrections.correct_profile_value(db, register, AT, -1)
    with pytest.raises(NotFoundError, match="no profile value"):
        corrections.delete_profile_value(db, register, AT)
    assert all(issubclass(kind, DatabaseError) for kind in
               (ConflictError, NotFoundError, InvalidValueError, UnavailableError))


def test_an_unreachable_server_is_unavailable() -> None:
    with pytest.raises(UnavailableError, match="cannot connect"):
        connect("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")


def test_text_that_only_looks_like_an_id_or_a_day_stays_text(db: Database) -> None:
    """Customer ids, serials and names are text on both engines, whatever their shape."""
    customer = "0b4a8c6e-2f1d-4e7a-9c3b-5d6e7f8a9b0c"
    customers.add_customer(db, customer, name="2026-11-25")
    registry.add_meter(db, "2026-11-25", "127.0.0.1", "C1.w", None)
    customers.link_meter(db, customer, "2026-11-25", AT)
    (link,) = customers.links(db)
    assert link["customer_id"] == customer and isinstance(link["meter_id"], UUID)
    assert db.query("SELECT name FROM customers")[0]["name"] == "2026-11-25"
    assert registry.meters(db)[0].serial == "2026-11-25"
