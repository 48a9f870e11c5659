"""`flows views rebuild`: the views built from the tables, set-based where possible, equal
half hour for half hour and day for day to the incremental views and to an independent
recomputation, on both engines; an interrupted rebuild is never taken for a finished one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flows.db import Database, change_log, corrections, customers, registry
from flows.views import rebuild as rebuild_module
from flows.views import update
from tests.views.helpers import (
    HALF_HOUR,
    linked_meters,
    recomputed_days,
    recomputed_views,
    stored_views,
    view_days,
    write_reads,
    write_values,
)

# Saturday 29 March 2025, 21:30 UTC: the next day (30 March) is the spring DST day.
START = datetime(2025, 3, 29, 21, 30, tzinfo=UTC)
WRAP = 2**32


def _every_kind_of_value(db: Database) -> None:
    """Three twin-element meters over four days with gaps, a clock skew, a spike, a sentinel,
    a rollover, a reversal, import reads where the profile log is silent, export reads and a
    customer who moves out in the middle of a day."""
    registers = linked_meters(db, meters=3)
    a, b, c = registers[0], registers[2], registers[4]
    values = []
    for register in registers:
        base = WRAP - 3_000 if register == c else 10_000  # register C wraps after an hour
        for n in range(4 * 48):
            if register == a and 60 <= n < 66:  # a gap on A
                continue
            if register == registers[1] and n >= 150:  # the profile log of A's twin stops
                continue
            values.append((register, START + n * HALF_HOUR, (base + n * 100) % WRAP))
    write_values(db, values)
    write_values(db, [(b, START + timedelta(hours=50, minutes=7), 0)])  # clock skew
    corrections.correct_profile_value(db, b, START + timedelta(hours=60), 900_000)  # spike
    corrections.correct_profile_value(db, b, START + timedelta(hours=70), 16_777_215)  # sentinel
    corrections.correct_profile_value(db, registers[3], START + timedelta(hours=20), 1_000)  # reversal
    # Import reads of A's twin every 5 hours (they fill what its profile log does not cover).
    write_reads(db, [(registers[1], START + timedelta(hours=5 * n, minutes=13), 20_000 + 900 * n)
                     for n in range(20)])
    write_reads(db, [(a, START + timedelta(hours=12 * n), 1_000 + 700 * n) for n in range(8)],
                table="register_export")
    move_out = START + timedelta(hours=40, minutes=10)
    customers.unlink_meter(db, "EML0000", move_out)
    customers.add_customer(db, "NEW")
    customers.link_meter(db, "NEW", "EML0000", move_out + 3 * HALF_HOUR)


def _intervals(db: Database) -> set[tuple[Any, ...]]:
    return {(str(row["register_id"]), row["direction"], row["timestamp"], int(row["wh"]),
             row["flags"], bool(row["derived"])) for row in db.query(
        "SELECT register_id, direction, timestamp, wh, flags, derived FROM register_interval_hh")}


def test_rebuild_equals_the_incremental_views_on_both_engines(db: Database) -> None:
    _every_kind_of_value(db)
    update(db, batch=50)
    incremental = _intervals(db), view_days(db)
    assert incremental[1] == recomputed_days(db)

    summary = update(db, rebuild=True)

    assert summary.rebuilt is not None and summary.rebuilt.registers == 6
    assert summary.rebuilt.half_hours == len(incremental[0])
    assert (_intervals(db), view_days(db)) == incremental
    assert summary.position == change_log.last_change(db)
    # The rebuilt views go on incrementally.
    corrections.correct_profile_value(db, linked_meters_register(db), START + timedelta(hours=30),
                                      40_000)
    update(db)
    assert view_days(db) == recomputed_days(db)


def linked_meters_register(db: Database) -> Any:
    return db.query("SELECT register_id FROM meter_registers ORDER BY register_id LIMIT 1")[0][
        "register_id"]


class Killed(BaseException):
    """The process dying midway (not an error the rebuild handles: a BaseException)."""


def test_an_interrupted_rebuild_is_built_again_by_the_next_update(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    _every_kind_of_value(db)
    update(db)
    expected = _intervals(db), view_days(db)
    monkeypatch.setattr(rebuild_module, "METERS_PER_GROUP", 1)
    monkeypatch.setattr(rebuild_module, "METERS_PER_GROUP_POSTGRES", 1)
    real_rebuild_group = rebuild_module._rebuild_group
    groups = 0

    def parts_then_fail(*args: Any) -> Any:
        nonlocal groups
        groups += 1
        if groups == 2:
            raise Killed
        return real_rebuild_group(*args)

    monkeypatch.setattr(rebuild_module, "_rebuild_group", parts_then_fail)
    with pytest.raises(Killed):
        update(db, rebuild=True)
    assert view_days(db) != expected[1]  # half built
    monkeypatch.setattr(rebuild_module, "_rebuild_group", real_rebuild_group)

    summary = update(db)

    assert summary.rebuilt is not None
    assert (_intervals(db), view_days(db)) == expected


def test_groups_built_at_once_equal_one_at_a_time_with_escos_across_groups_and_a_bad_row(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Groups of one meter, two built at once on PostgreSQL (each on its own connection; SQLite
    builds them one at a time): two escos whose meters fall in different groups add up once,
    and a bad row quarantines its meter without stopping the other groups."""
    _every_kind_of_value(db)
    escos = [registry.add_esco(db, code) for code in ("NORTH", "SOUTH")]
    for serial, esco in (("EML0000", escos[0]), ("EML0001", escos[1]), ("EML0002", escos[0])):
        registry.set_meter_esco(db, serial, esco)
    update(db)
    meters = {registry.meter_id(db, f"EML000{n}") for n in range(3)}
    expected = recomputed_views(db, meters, set(escos))
    assert stored_views(db, meters, set(escos)) == expected
    monkeypatch.setattr(rebuild_module, "METERS_PER_GROUP", 1)
    monkeypatch.setattr(rebuild_module, "METERS_PER_GROUP_POSTGRES", 1)

    summary = update(db, rebuild=True)

    assert summary.rebuilt is not None
    assert summary.rebuilt.jobs == (2 if db.engine == "postgres" else 1)
    assert stored_views(db, meters, set(escos)) == expected
    # A row no rule can read in one meter's history: that meter alone is quarantined.
    bad = registry.register_id(db, "EML0002", "A")
    with db.transaction():
        stamp = "'0202-01-08T00:00:00.000Z'" if db.engine == "sqlite" else "'0202-01-08T00:00:00Z'"
        db.execute("INSERT INTO register_profile_hh (register_id, timestamp, cumulative_wh, "
                   f"status) VALUES (:r, {stamp}, 1, 0)", {"r": bad})
    summary = update(db, rebuild=True)
    assert summary.quarantined == 1
    good = meters - {registry.meter_id(db, "EML0002")}
    assert (stored_views(db, good, set())
            == recomputed_views(db, good, set()) != recomputed_views(db, set(), set()))
