"""Monitoring views on both engines; missing half-hours expect 46/48/50 per Europe/London day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from flows.db import Database, fleet, registry, shadows
from flows.db.migrate import local_days
from flows.views import update


def a_meter(db: Database, serial: str = "EML1", address: str = "127.10.0.1") -> UUID:
    escos = registry.esco_ids(db)
    esco = escos.get("MOR") or registry.add_esco(db, "MOR")
    return registry.add_meter(db, serial, address, "B1.w", esco)


def register_of(db: Database, meter: UUID) -> Any:
    return db.query("SELECT register_id FROM meter_registers WHERE meter_id = :m",
                    {"m": meter})[0]["register_id"]


@pytest.mark.parametrize(("day", "expected"), [(date(2025, 3, 30), 46), (date(2025, 10, 26), 50),
                                               (date(2025, 6, 1), 48)])
def test_missing_half_hours_per_local_day(db: Database, day: date, expected: int) -> None:
    (_, start, end, half_hours), = local_days(day, day)
    assert half_hours == expected
    register = register_of(db, a_meter(db))
    skipped = {3, 7}
    for n in range(expected):
        if n not in skipped:
            db.execute("INSERT INTO register_interval_hh (register_id, timestamp, kwh) "
                       "VALUES (:r, :t, :k)", {"r": register, "t": start + n * timedelta(minutes=30),
                                               "k": Decimal("0.25")})
    rows = db.query("SELECT day, expected, present, missing FROM register_interval_hh_missing "
                    "WHERE register_id = :r", {"r": register})
    assert [(str(r["day"]), r["expected"], r["present"], r["missing"]) for r in rows] == [
        (day.isoformat(), expected, expected - 2, 2)]
    assert end - start == expected * timedelta(minutes=30)


def test_low_balance_and_clock_drift(db: Database) -> None:
    low, fine = a_meter(db, "EML1", "127.10.0.1"), a_meter(db, "EML2", "127.10.0.2")
    now = datetime.now(UTC)
    shadows.update_shadow_healthy(db, low, {"balance": Decimal("14.99"), "balance_at": now,
                                         "clock_time_diff_seconds": -75})
    shadows.update_shadow_healthy(db, fine, {"balance": Decimal("15.00"), "balance_at": now,
                                          "clock_time_diff_seconds": 59})
    assert [r["serial"] for r in db.query("SELECT serial FROM meters_low_balance")] == ["EML1"]
    assert [r["serial"] for r in db.query("SELECT serial FROM meters_clock_drift")] == ["EML1"]


def test_offline_views(db: Database) -> None:
    now = datetime.now(UTC)
    seen = {"EML1": now - timedelta(minutes=10), "EML2": now - timedelta(hours=5),
            "EML3": now - timedelta(days=2)}
    for number, (serial, at) in enumerate(seen.items(), start=1):
        meter = a_meter(db, serial, f"127.10.0.{number}")
        shadows.update_shadow_healthy(db, meter, {"csq": 15, "csq_at": at})
    a_meter(db, "EML4", "127.10.0.4")  # never seen
    offline = sorted(r["serial"] for r in db.query("SELECT serial FROM meters_offline_all"))
    recent = [r["serial"] for r in db.query("SELECT serial FROM meters_offline_recently")]
    assert offline == ["EML2", "EML3", "EML4"] and recent == ["EML2"]


def test_missing_counts_only_whole_days_inside_the_data(db: Database) -> None:
    """Values from 10:00 on 1 June to 10:00 on 4 June: 1 and 4 June are cut by the data's
    ends and not counted; 2 and 3 June are, with the holes they have."""
    register = register_of(db, a_meter(db))
    first = datetime(2025, 6, 1, 9, tzinfo=UTC)  # 10:00 in London (BST)
    holes = {first + timedelta(days=1, hours=3), first + timedelta(days=2, hours=5, minutes=30)}
    stamp = first
    while stamp < first + timedelta(days=3):
        if stamp not in holes:
            db.execute("INSERT INTO register_interval_hh (register_id, timestamp, kwh) "
                       "VALUES (:r, :t, :k)", {"r": register, "t": stamp, "k": Decimal("0.25")})
        stamp += timedelta(minutes=30)
    rows = db.query("SELECT day, missing FROM register_interval_hh_missing WHERE register_id = :r "
                    "ORDER BY day", {"r": register})
    assert [(r["day"], r["missing"]) for r in rows] == [(date(2025, 6, 2), 1), (date(2025, 6, 3), 1)]


def test_fleet_health_lists_healthy_meters_without_usage(db: Database) -> None:
    with_usage, without = a_meter(db, "EML1", "127.10.0.1"), a_meter(db, "EML2", "127.10.0.2")
    a_meter(db, "EML3", "127.10.0.3")  # never synced: not healthy, not listed
    for meter in (with_usage, without):
        shadows.update_shadow_healthy(db, meter, {"csq": 20, "csq_at": datetime.now(UTC)})
    start = datetime(2025, 6, 1, tzinfo=UTC)
    profile(db, register_of(db, with_usage), start, start + timedelta(hours=3))
    update(db)
    health = fleet.health(db)
    assert health["no_usage"] == [{"serial": "EML2", "hardware": "B1.w"}]
    assert health["counts"]["no_usage"] == 1


def profile(db: Database, register: Any, start: datetime, end: datetime) -> None:
    """Steady half-hourly profile values of ``register`` from ``start`` to ``end``."""
    with db.transaction():
        stamp, wh = start, 1_000
        while stamp <= end:
            db.execute("INSERT INTO register_profile_hh (register_id, timestamp, cumulative_wh, "
                       "status) VALUES (:r, :t, :wh, 0)", {"r": register, "t": stamp, "wh": wh})
            stamp, wh = stamp + timedelta(minutes=30), wh + 100


def test_missing_half_hours_come_from_the_meter_days_the_views_keep(db: Database) -> None:
    """A twin-element meter whose element B reports from 3 June only: the whole days inside
    its data in the last seven (2 June; not 1 June, cut by where the data begins, nor today)
    miss B's 48 half hours; a meter with every half hour misses none. Read from the meter
    days: emptying the intervals changes nothing."""
    now = datetime(2025, 6, 6, 12, tzinfo=UTC)
    twin = registry.add_meter(db, "EML1", "127.10.0.1", "C1.w", None)
    whole = registry.add_meter(db, "EML2", "127.10.0.2", "B1.w", None)
    a, b = (registry.register_id(db, "EML1", element) for element in ("A", "B"))
    first = datetime(2025, 6, 1, 9, tzinfo=UTC)  # 10:00 in London
    profile(db, a, first, now)
    profile(db, b, datetime(2025, 6, 2, 23, tzinfo=UTC), now)  # from midnight, 3 June
    profile(db, register_of(db, whole), first, now)
    for meter in (twin, whole):
        shadows.update_shadow_healthy(db, meter, {"csq": 20, "csq_at": now})
    update(db)

    assert fleet.health(db, now)["missing_half_hours"] == [{"serial": "EML1", "missing": 48}]
    db.execute("DELETE FROM register_interval_hh")
    assert fleet.missing_half_hours(db, now) == [{"serial": "EML1", "missing": 48}]
