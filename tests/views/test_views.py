"""The views against a from-scratch recomputation: random edits, late data, corrections,
deletions, DST days, and a feeder killed at random points."""

from __future__ import annotations

import getpass
import itertools
import random
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from flows.cli import main as cli
from flows.db import Database, connect, corrections, migrate
from flows.devtools.postgres import TemporaryCluster
from flows.devtools.processes import FLOWS_COMMAND
from flows.views import ViewsError, follow, update, usage
from flows.views.feeder import feeder_connection
from flows.views.store.position import views_position
from tests.views.helpers import (
    HALF_HOUR,
    LONDON,
    linked_meters,
    recomputed_daily,
    recomputed_intervals,
    sql_daily,
    stored_intervals,
    view_daily,
    write_reads,
    write_values,
)

START = datetime(2025, 3, 29, 20, tzinfo=UTC)


def steady(registers: list, start: datetime, count: int, wh: int = 100,
           base: int = 5_000) -> list[tuple]:
    return [(r, start + n * HALF_HOUR, base + n * wh) for r in registers for n in range(count)]


def test_daily_usage_matches_a_recomputation_on_both_engines(db: Database) -> None:
    registers = linked_meters(db)
    write_values(db, steady(registers, START, 200))
    summary = update(db)
    assert summary.changes == 800 + 6  # and 2 meters × (2 registers + 1 link) registry changes
    assert view_daily(db) == recomputed_daily(db) != {}
    # Intervals between two actual reads sum exactly to the register advance.
    total = db.query("SELECT sum(wh) AS wh, count(*) AS n FROM register_interval_hh")[0]
    assert total["n"] == 4 * 199 and total["wh"] == 4 * 199 * 100
    assert update(db).changes == 0


def test_dst_days_have_46_and_50_half_hours(db: Database) -> None:
    registers = linked_meters(db, meters=1)[:1]
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
    registers = linked_meters(db, meters=1)
    values = steady(registers, START, 5 * 48)
    values[:] = [(r, t, wh + (t.hour * 37) % 50) for r, t, wh in values]  # uneven half hours
    # Held back: 22:00 to 01:00 UTC, across a local midnight (23:00 to 02:00 BST).
    gap_from, gap_to = START + timedelta(days=2, hours=2), START + timedelta(days=2, hours=5)
    late = [v for v in values if gap_from < v[1] < gap_to]
    write_values(db, [v for v in values if v not in late])
    update(db)
    before, intervals_before = view_daily(db), stored_intervals(db)
    assert intervals_before[(str(registers[0]), gap_from)][1:] == (frozenset({"gap"}), True)
    write_values(db, late)  # the gap is filled later
    update(db)
    after, intervals_after = view_daily(db), stored_intervals(db)
    gap_days = {gap_from.astimezone(LONDON).date(), gap_to.astimezone(LONDON).date()}
    assert days_changed(before, after) == gap_days
    changed = {key for key in intervals_before.keys() | intervals_after.keys()
               if intervals_before.get(key) != intervals_after.get(key)}
    assert {start for _, start in changed} == {
        gap_from + n * HALF_HOUR for n in range(6)}  # the gap's half hours, now actual
    assert after == recomputed_daily(db)

    corrected_at = START + timedelta(days=3, hours=5)
    corrections.correct_profile_value(db, registers[0], corrected_at, 5_000 + 115 * 100 + 40)
    update(db)
    corrected = view_daily(db)
    assert days_changed(after, corrected) == {corrected_at.date()}
    assert corrected == recomputed_daily(db)

    deleted_at = START + timedelta(days=1, hours=7)
    intervals_before = stored_intervals(db)
    corrections.delete_profile_value(db, registers[1], deleted_at)
    update(db)
    final = view_daily(db)
    # The two intervals touching the deleted value become one gap, apportioned: the day's total
    # stays the same, only those two intervals change (now derived, flagged "gap").
    assert days_changed(corrected, final) == set()
    assert final == recomputed_daily(db)
    intervals_after = stored_intervals(db)
    changed = {key for key in intervals_before.keys() | intervals_after.keys()
               if intervals_before.get(key) != intervals_after.get(key)}
    touching = {(str(registers[1]), deleted_at - HALF_HOUR), (str(registers[1]), deleted_at)}
    assert changed == touching
    assert {intervals_after[key][1:] for key in touching} == {(frozenset({"gap"}), True)}
    assert sum(intervals_after[key][0] for key in touching) == sum(
        intervals_before[key][0] for key in touching)  # the same advance, apportioned


def test_register_reads_fill_half_hours_without_profile_values(db: Database) -> None:
    register = linked_meters(db, meters=1)[0]
    # Reads at irregular times over two days; profile values for three hours of the second.
    reads = [(START + timedelta(hours=h, minutes=h % 12 * 5, seconds=h % 12), 1_000 + 173 * h * h)
             for h in range(0, 50, 3)]  # every 12 hours a read is on the half hour
    write_reads(db, [(register, stamp, wh) for stamp, wh in reads])
    profile_from = START + timedelta(hours=30)
    write_values(db, [(register, profile_from + n * HALF_HOUR, 500_000 + 60 * n) for n in range(7)])
    update(db)
    stored = stored_intervals(db)
    assert stored == recomputed_intervals(db)
    actual = {start for (_, start), (_, _, derived) in stored.items() if not derived}
    assert actual == {profile_from + n * HALF_HOUR for n in range(6)}
    # Between the first and last read, every half hour has an interval; where the profile log
    # is silent they are derived from the reads and sum exactly to the advance.
    derived = {start: wh for (_, start), (wh, _, d) in stored.items() if d}
    first, last = reads[0], reads[-1]
    half_hours = {start for (_, start) in stored}
    slot = first[0].replace(minute=first[0].minute // 30 * 30, second=0)
    while slot < last[0]:
        assert slot in half_hours
        slot += HALF_HOUR
    # The read API agrees: derived half hours are marked, and they count in days.
    meter = UUID(str(db.query("SELECT meter_id FROM meter_registers WHERE register_id = :r",
                              {"r": register})[0]["meter_id"]))
    window = {"period_from": START - timedelta(days=1), "period_to": START + timedelta(days=3)}
    by_day = {row.start.date(): row.kwh for row in usage(db, meter_id=meter, **window)}
    assert by_day == {day: Decimal(wh) / 1000 for (_, _, day), wh in recomputed_daily(db).items()}
    by_half_hour = usage(db, meter_id=meter, group_by="hh", **window)
    assert {row.start for row in by_half_hour if "derived" in row.flags} == set(derived)
    on_grid = [r for r in reads if r[0].minute in (0, 30) and r[0].second == 0]
    assert [t for t, _ in on_grid][:2] == [START, START + timedelta(hours=12)]
    between = [wh for start, wh in derived.items() if on_grid[0][0] <= start < on_grid[1][0]]
    assert len(between) == 24 and sum(between) == on_grid[1][1] - on_grid[0][1]
    assert view_daily(db) == recomputed_daily(db)
    # A read corrected later: only the half hours of its two spans are re-derived.
    before = stored_intervals(db)
    moved = reads[3]
    db.execute("UPDATE register_import SET read = :kwh WHERE register_id = :r AND timestamp = :t",
               {"kwh": (moved[1] + 999) / 1000, "r": register, "t": moved[0]})
    update(db)
    after = stored_intervals(db)
    changed = {start for key in before.keys() | after.keys() if before.get(key) != after.get(key)
               for start in [key[1]]}
    assert changed and reads[2][0] - HALF_HOUR < min(changed) and max(changed) < reads[4][0]
    assert after == recomputed_intervals(db)
    assert view_daily(db) == recomputed_daily(db)


WRAP = 2**32  # registers are u4 Wh
edit = hs.one_of(
    hs.tuples(hs.just("write"), hs.integers(0, 1), hs.integers(0, 24), hs.integers(0, 400)),
    hs.tuples(hs.just("reverse"), hs.integers(0, 1), hs.integers(0, 24), hs.integers(1, 300)),
    hs.tuples(hs.just("reset"), hs.integers(0, 1), hs.integers(0, 24), hs.integers(0, 50)),
    hs.tuples(hs.just("near_max"), hs.integers(0, 1), hs.integers(0, 24), hs.integers(0, 300)),
    hs.tuples(hs.just("sentinel"), hs.integers(0, 1), hs.integers(0, 24), hs.just(0)),
    hs.tuples(hs.just("skewed"), hs.integers(0, 1), hs.integers(0, 24), hs.integers(1, 29)),
    hs.tuples(hs.just("read"), hs.integers(0, 1), hs.integers(0, 24), hs.integers(0, 1799)),
    hs.tuples(hs.just("delete"), hs.integers(0, 1), hs.integers(0, 24), hs.just(0)),
    hs.tuples(hs.just("update"), hs.just(0), hs.just(0), hs.just(0)),
)


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits_=hs.lists(edit, min_size=10, max_size=40))
def test_random_edits_keep_views_equal_to_a_recomputation(tmp_path: Path, edits_: list) -> None:
    """Profile values written, reversed, reset, wrapped past the register's maximum, set to the
    sentinel, written off the half hour, deleted; register reads at any second; updates in
    between. The stored intervals and daily usage equal a from-scratch recomputation, and
    energy is conserved."""
    path = tmp_path / f"{uuid4()}.db"  # one database per example
    db = connect(f"sqlite:///{path}")
    migrate(db)
    registers = linked_meters(db)
    level = {r: 10_000 for r in registers}
    for kind, which, slot, amount in edits_:
        register, stamp = registers[which], START + slot * HALF_HOUR
        if kind == "update":
            update(db, batch=7)
        elif kind == "delete":
            db.execute("DELETE FROM register_profile_hh WHERE register_id = :r AND timestamp = :t",
                       {"r": register, "t": stamp})
        elif kind == "read":
            level[register] = (level[register] + amount) % WRAP
            db.execute("INSERT INTO register_import (register_id, timestamp, read) VALUES "
                       "(:r, :t, :kwh) ON CONFLICT DO NOTHING", {
                           "r": register, "t": stamp + timedelta(seconds=amount),
                           "kwh": level[register] / 1000})
        else:
            level[register] = next_level(kind, level[register], amount)
            at = stamp + timedelta(minutes=amount) if kind == "skewed" else stamp
            corrections.correct_profile_value(db, register, at, level[register])
    update(db, batch=7)
    assert stored_intervals(db) == recomputed_intervals(db)
    assert view_daily(db) == recomputed_daily(db)
    check_conservation(db)
    db.close()


def next_level(kind: str, level: int, amount: int) -> int:
    if kind == "reverse":
        return max(0, level - amount)
    if kind == "reset":
        return amount
    if kind == "near_max":
        return WRAP - 1 - amount
    if kind == "sentinel":
        return 16_777_215
    return (level + amount) % WRAP  # write, skewed


def check_conservation(db: Database) -> None:
    """From a register's first to its last on-grid profile value, every half hour has an interval
    and the intervals sum to the advance (modulo the register's wrap)."""
    stored = stored_intervals(db)
    values: dict[str, dict[datetime, int]] = {}
    for row in db.query("SELECT register_id, timestamp, cumulative_wh FROM register_profile_hh"):
        stamp = row["timestamp"]
        if stamp.minute % 30 == 0 and stamp.second == 0 and stamp.microsecond == 0:
            values.setdefault(str(row["register_id"]), {})[stamp] = int(row["cumulative_wh"])
    for register, by_time in values.items():
        first, last = min(by_time), max(by_time)
        slots = [first + n * HALF_HOUR for n in range((last - first) // HALF_HOUR)]
        assert all((register, slot) in stored for slot in slots)
        total = sum(stored[(register, slot)][0] for slot in slots)
        assert total % WRAP == (by_time[last] - by_time[first]) % WRAP


def test_one_feeder_at_a_time(tmp_path: Path) -> None:
    db = connect(f"sqlite:///{tmp_path / 'f.db'}")
    migrate(db)
    with feeder_connection(db), pytest.raises(ViewsError, match="another process"):
        update(db)


def test_follow_wakes_on_notify_on_postgres(migrated_postgres_url: str) -> None:
    """With a 60 s poll, views catching up within the test means the NOTIFY woke them."""
    db = connect(migrated_postgres_url)
    registers = linked_meters(db, meters=1)
    stop = threading.Event()
    follower = threading.Thread(target=follow, args=(connect(migrated_postgres_url), 60.0, stop.is_set))
    follower.start()
    try:
        for round_ in range(3):
            write_values(db, steady(registers[:1], START + round_ * 4 * HALF_HOUR, 4))
            deadline = time.monotonic() + 20
            expected = recomputed_intervals(db)
            while stored_intervals(db) != expected:  # waiting for an outcome, with a deadline
                assert time.monotonic() < deadline, "follow did not wake up on NOTIFY"
                time.sleep(0.05)
    finally:
        stop.set()
        follower.join()


@pytest.mark.slow
def test_follow_rides_out_a_postgres_restart() -> None:
    """`flows views follow` as a process: PostgreSQL restarts under it; it logs the outage,
    reconnects, catches up (views equal to a recomputation) and stops on SIGTERM."""
    cluster = TemporaryCluster()
    follower = None
    try:
        db = connect(cluster.url)
        migrate(db)
        registers = linked_meters(db, meters=1)
        follower = subprocess.Popen([*FLOWS_COMMAND, "views", "follow", "--poll", "0.2",
                                     "--database", cluster.url], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True)

        def caught_up() -> None:
            deadline = time.monotonic() + 60
            expected = recomputed_intervals(db)
            while stored_intervals(db) != expected:  # waiting for an outcome, with a deadline
                assert follower.poll() is None, follower.stderr.read() if follower.stderr else ""
                assert time.monotonic() < deadline, "the views did not catch up"
                time.sleep(0.05)

        write_values(db, steady(registers[:1], START, 8))
        caught_up()
        cluster.restart(down_s=1.0)
        db.reconnect()
        write_values(db, steady(registers[:1], START + 8 * HALF_HOUR, 8))
        caught_up()
        assert view_daily(db) == recomputed_daily(db)
        follower.send_signal(signal.SIGTERM)
        assert follower.wait(timeout=15) == 0
        assert follower.stderr is not None
        logged = follower.stderr.read()
        assert "database unavailable" in logged and "available again" in logged
    finally:
        if follower is not None and follower.poll() is None:
            follower.kill()
        cluster.stop()


def test_long_zero_runs_are_listed(db: Database) -> None:
    register = linked_meters(db, meters=1)[0]
    # 10 half hours of use, 50 without (a long run), 5 with, 20 without (too short to list).
    steps = [7] * 10 + [0] * 50 + [9] * 5 + [0] * 20
    levels = [5_000 + sum(steps[:n]) for n in range(len(steps) + 1)]
    write_values(db, [(register, START + n * HALF_HOUR, wh) for n, wh in enumerate(levels)])
    update(db)
    runs = db.query("SELECT register_id, first_at, last_at, half_hours FROM register_zero_runs")
    assert [(str(r["register_id"]), r["first_at"], r["last_at"],
             r["half_hours"]) for r in runs] == [
        (str(register), START + 10 * HALF_HOUR, START + 59 * HALF_HOUR, 50)]


def test_reads_cli_corrects_and_deletes_profile_values_and_register_reads(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    db = connect(url)
    migrate(db)
    register = linked_meters(db, meters=1)[0]
    write_reads(db, [(register, START + timedelta(hours=h, minutes=13), 1_000 + 400 * h)
                     for h in range(0, 12, 2)])
    write_values(db, steady([register], START + timedelta(hours=12), 6))
    runner = CliRunner()

    def flows_cli(*args: str) -> str:
        result = runner.invoke(cli, [*args, "--database", url])
        assert result.exit_code == 0, result.output
        return result.output

    flows_cli("views", "update")
    fixed_at = START + timedelta(hours=4, minutes=13)
    flows_cli("reads", "correct", "--register-read", "--meter", "EML0000", "--timestamp",
              fixed_at.strftime("%Y-%m-%dT%H:%M:%S"), "--wh", "2700", "--reason", "photo")
    flows_cli("reads", "delete", "--meter", "EML0000", "--timestamp",
              (START + timedelta(hours=13)).strftime("%Y-%m-%dT%H:%M"), "--reason", "duplicate")
    assert "applied" in flows_cli("views", "update")
    # Audited with the operating-system user's name, newest first.
    history = flows_cli("reads", "history", "--meter", "EML0000").splitlines()
    user = f"cli:{getpass.getuser()}"
    assert len(history) == 2 and all(user in line for line in history)
    assert "profile" in history[0] and "deleted" in history[0]
    assert "reads" in history[1] and "2600 → 2700 Wh" in history[1] and "(photo)" in history[1]
    assert db.query("SELECT read FROM register_import WHERE timestamp = :t",
                    {"t": fixed_at})[0]["read"] == 2.7
    assert stored_intervals(db) == recomputed_intervals(db)
    assert view_daily(db) == recomputed_daily(db)
    missing = runner.invoke(cli, ["reads", "delete", "--register-read", "--meter", "EML0000",
                                  "--timestamp", "2020-01-01", "--reason", "x", "--database", url])
    assert missing.exit_code != 0 and "no register read" in missing.output
    # Corrections live in the tables: a rebuild of the views keeps them.
    before = view_daily(db)
    flows_cli("views", "rebuild")
    assert view_daily(db) == before == recomputed_daily(db)


KILL_TEST_REGISTERS, KILL_TEST_HALF_HOURS, KILLS = 10, 10_000, 100
MIN_KILLS, KILLING_S = 30, 50.0


@pytest.mark.slow
def test_a_feeder_killed_at_random_points_applies_every_change_once(tmp_path: Path) -> None:
    """100,000 half hours (with gaps and register reads); `flows views update` SIGKILLed at up to 100
    random moments, resumed each time; then the views equal a from-scratch recomputation."""
    url = f"sqlite:///{tmp_path / 'k.db'}"
    db = connect(url)
    migrate(db)
    registers = linked_meters(db, meters=KILL_TEST_REGISTERS // 2)
    values = steady(registers, START, KILL_TEST_HALF_HOURS)
    write_values(db, [v for n, v in enumerate(values) if n % 97])  # some gaps
    write_reads(db, [(registers[0], START + timedelta(hours=h, minutes=7), 5_000 + 200 * h)
                     for h in range(0, KILL_TEST_HALF_HOURS // 2, 5)])
    rng = random.Random(8)
    positions, kills = [0], 0
    # Kills land after the interpreter has started (as long as a start takes on this machine
    # now), at a random moment of the work.
    started = time.monotonic()
    subprocess.run([*FLOWS_COMMAND, "views", "--help"], capture_output=True, check=True)
    startup_s = time.monotonic() - started
    # Killing takes ~a start-up per kill: on a loaded machine (the suite's other worker busy)
    # fewer kills fit the test's time, never fewer than MIN_KILLS.
    killing_until = time.monotonic() + KILLING_S
    while True:
        killing = kills < KILLS and (kills < MIN_KILLS or time.monotonic() < killing_until)
        # Small batches while killing (more commit points to die between), then one run to the end.
        batch = str(rng.choice([5, 20, 100])) if killing else "5000"
        process = subprocess.Popen([*FLOWS_COMMAND, "views", "update", "--batch", batch,
                                    "--database", url], stdout=subprocess.PIPE, text=True)
        try:
            process.wait(timeout=startup_s + rng.uniform(0.0, 0.4) if killing else None)
            if not killing:
                break
            # Caught up before 100 kills (a fast machine): late corrections give it more to do.
            for _ in range(2_000):
                register, stamp, wh = rng.choice(values)
                corrections.correct_profile_value(db, register, stamp, wh + rng.randrange(0, 50))
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
        positions.append(views_position(db))
        assert positions[-1] >= positions[-2]  # committed batches stay committed
    assert kills >= MIN_KILLS
    moved_between_kills = sum(1 for before, after in itertools.pairwise(positions) if before < after)
    assert moved_between_kills >= 10, positions
    assert process.returncode == 0
    assert stored_intervals(db) == recomputed_intervals(db)
    assert view_daily(db) == recomputed_daily(db) == sql_daily(db)
    check_conservation(db)
