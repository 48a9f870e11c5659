"""The views against a from-scratch recomputation: random edits, late data, corrections,
deletions, DST days, and a feeder killed at random points."""

from __future__ import annotations

import itertools
import random
import signal
import subprocess
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from flows.db import Database, connect, migrate
from flows.devtools.processes import FLOWS_COMMAND
from flows.views import ViewsError, edits, update, usage
from flows.views.feeder import open_views
from tests.views.helpers import HALF_HOUR, recomputed_daily, registry, view_daily, write_values

START = datetime(2025, 3, 29, 20, tzinfo=UTC)


def steady(registers: list, start: datetime, count: int, wh: int = 100,
           base: int = 5_000) -> list[tuple]:
    return [(r, start + n * HALF_HOUR, base + n * wh) for r in registers for n in range(count)]


def test_daily_usage_matches_a_recomputation_on_both_engines(db: Database) -> None:
    registers = registry(db)
    write_values(db, steady(registers, START, 200))
    summary = update(db)
    assert summary.changes == 800
    assert view_daily(db) == recomputed_daily(db) != {}
    # Intervals between two actual reads sum exactly to the register advance.
    total = db.query("SELECT sum(wh) AS wh, count(*) AS n FROM register_interval_hh")[0]
    assert total["n"] == 4 * 199 and total["wh"] == 4 * 199 * 100
    assert update(db).changes == 0


def test_dst_days_have_46_and_50_half_hours(db: Database) -> None:
    registers = registry(db, meters=1)[:1]
    for day in (datetime(2025, 3, 29, 22, tzinfo=UTC), datetime(2025, 10, 25, 22, tzinfo=UTC)):
        write_values(db, steady(registers, day, 6 * 48, wh=10))
    update(db)
    meter = db.query("SELECT meter_id FROM meter_registers WHERE register_id = :r",
                     {"r": registers[0]})[0]["meter_id"]
    daily = {(row.start.date(), row.kwh) for row in usage(
        db, meter_id=meter, period_from=datetime(2025, 3, 30, tzinfo=UTC),
        period_to=datetime(2025, 10, 27, tzinfo=UTC), group_by="day")}
    assert (datetime(2025, 3, 30).date(), Decimal("0.46")) in daily  # 46 half hours × 10 Wh
    assert (datetime(2025, 10, 26).date(), Decimal("0.50")) in daily  # 50 half hours
    assert (datetime(2025, 3, 31).date(), Decimal("0.48")) in daily
    assert view_daily(db) == recomputed_daily(db)


def days_changed(before: dict, after: dict) -> set:
    return {key[2] for key in before.keys() | after.keys() if before.get(key) != after.get(key)}


def test_late_corrected_and_deleted_values_change_only_their_day(db: Database) -> None:
    registers = registry(db, meters=1)
    values = steady(registers, START, 5 * 48)
    late_day = START + timedelta(days=2)
    late = [v for v in values if late_day <= v[1] < late_day + timedelta(hours=3)]
    write_values(db, [v for v in values if v not in late])
    update(db)
    before = view_daily(db)
    write_values(db, late)  # the gap is filled later
    update(db)
    after = view_daily(db)
    assert days_changed(before, after) == {(late_day + timedelta(hours=1)).date()}
    assert after == recomputed_daily(db)

    corrected_at = START + timedelta(days=3, hours=5)
    edits.correct_profile_value(db, registers[0], corrected_at, 5_000 + 115 * 100 + 40)
    update(db)
    corrected = view_daily(db)
    assert days_changed(after, corrected) == {corrected_at.date()}
    assert corrected == recomputed_daily(db)

    deleted_at = START + timedelta(days=1, hours=7)
    edits.delete_profile_value(db, registers[1], deleted_at)
    update(db)
    final = view_daily(db)
    assert days_changed(corrected, final) == {deleted_at.date()}
    assert final == recomputed_daily(db)
    gone = db.query("SELECT count(*) AS n FROM register_interval_hh WHERE register_id = :r AND "
                    "(timestamp = :t OR timestamp = :before)",
                    {"r": registers[1], "t": deleted_at, "before": deleted_at - HALF_HOUR})
    assert gone[0]["n"] == 0  # both intervals touching the deleted value are gone


edit = hs.one_of(
    hs.tuples(hs.just("write"), hs.integers(0, 3), hs.integers(0, 60), hs.integers(0, 400)),
    hs.tuples(hs.just("reverse"), hs.integers(0, 3), hs.integers(0, 60), hs.integers(1, 300)),
    hs.tuples(hs.just("sentinel"), hs.integers(0, 3), hs.integers(0, 60), hs.just(0)),
    hs.tuples(hs.just("delete"), hs.integers(0, 3), hs.integers(0, 60), hs.just(0)),
    hs.tuples(hs.just("update"), hs.just(0), hs.just(0), hs.just(0)),
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits_=hs.lists(edit, min_size=1, max_size=40))
def test_random_edits_keep_views_equal_to_a_recomputation(tmp_path: Path, edits_: list) -> None:
    path = tmp_path / f"{uuid4()}.db"  # one database per example
    db = connect(f"sqlite:///{path}")
    migrate(db)
    registers = registry(db)
    level = {r: 10_000 for r in registers}
    for kind, which, slot, amount in edits_:
        register, stamp = registers[which], START + slot * HALF_HOUR
        if kind == "update":
            update(db, batch=7)
            continue
        if kind == "delete":
            db.execute("DELETE FROM register_profile_hh WHERE register_id = :r AND timestamp = :t",
                       {"r": register, "t": stamp})
            continue
        level[register] += amount if kind == "write" else -amount
        wh = 16_777_215 if kind == "sentinel" else max(0, level[register])
        edits.correct_profile_value(db, register, stamp, wh)
    update(db, batch=7)
    assert view_daily(db) == recomputed_daily(db)
    check_conservation(db)
    check_flags(db)
    db.close()


def check_conservation(db: Database) -> None:
    """Over every run of consecutive half hours, the intervals sum to the register advance."""
    values = {(str(r["register_id"]), r["timestamp"]): r["cumulative_wh"] for r in db.query(
        "SELECT register_id, timestamp, cumulative_wh FROM register_profile_hh")}
    intervals = db.query("SELECT register_id, timestamp, wh FROM register_interval_hh")
    assert len(intervals) == sum(
        1 for (register, stamp) in values
        if (register, _later(stamp)) in values)
    for row in intervals:
        first = values[(str(row["register_id"]), row["timestamp"])]
        last = values[(str(row["register_id"]), _later(row["timestamp"]))]
        assert row["wh"] == last - first


def check_flags(db: Database) -> None:
    for row in db.query("SELECT wh, flags FROM register_interval_hh"):
        wh = row["wh"]
        flags = set(filter(None, row["flags"].split(",")))
        assert ("reversal" in flags) == (wh < 0 and "sentinel" not in flags)
        assert ("spike" in flags) == (wh > 24_000 and "sentinel" not in flags)


def _later(stamp: str) -> str:
    from flows.db import sqlite_time
    from flows.db.repository import as_datetime

    return sqlite_time(as_datetime(stamp) + HALF_HOUR)


def test_one_feeder_at_a_time(tmp_path: Path) -> None:
    db = connect(f"sqlite:///{tmp_path / 'f.db'}")
    migrate(db)
    with open_views(db), pytest.raises(ViewsError, match="another process"):
        update(db)


def test_a_feeder_killed_at_random_points_applies_every_change_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    db = connect(url)
    migrate(db)
    registers = registry(db, meters=5)
    write_values(db, steady(registers, START, 2_000))  # 20,000 half hours
    rng = random.Random(8)
    positions = [0]
    while True:
        process = subprocess.Popen([*FLOWS_COMMAND, "views", "update", "--batch", "100",
                                    "--database", url], stdout=subprocess.PIPE, text=True)
        try:
            process.wait(timeout=rng.uniform(0.6, 1.2))  # a crash at a random moment
            break
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
        with open_views(db) as views:
            positions.append(views.position())
        assert positions[-1] >= positions[-2]  # committed batches stay committed
    killed_mid_update = sum(1 for before, after in itertools.pairwise(positions)
                            if before < after < 20_000)
    assert killed_mid_update >= 5, positions
    assert process.returncode == 0
    assert view_daily(db) == recomputed_daily(db)
    check_conservation(db)
