"""The change log under concurrent writers (collectors on several hosts): change numbers follow
commit order, so a feeder that reads "everything after my position" never skips a change that
commits later with a smaller number."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from flows.db import connect
from tests.views.helpers import HALF_HOUR, linked_meters, write_values

START = datetime(2025, 6, 1, tzinfo=UTC)
WRITERS = 6
WRITES = 40  # transactions per writer


@pytest.mark.slow
def test_change_numbers_follow_commit_order_under_concurrent_writers(
        migrated_postgres_url: str) -> None:
    setup = connect(migrated_postgres_url)
    registers = linked_meters(setup, meters=WRITERS // 2)  # two registers per meter
    setup.close()
    finished = threading.Event()
    snapshots: list[set[int]] = []
    failures: list[BaseException] = []

    def write(register: object, writer: int) -> None:
        db = connect(migrated_postgres_url)
        try:
            for n in range(WRITES):  # each value its own transaction, as the collector commits
                stamp = START + (writer * WRITES + n) * HALF_HOUR
                write_values(db, [(register, stamp, 1_000 + n)])
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            failures.append(error)
        finally:
            db.close()

    def read() -> None:
        db = connect(migrated_postgres_url)
        try:
            while not finished.is_set():
                snapshots.append({int(row["seq"]) for row in
                                  db.query("SELECT seq FROM register_value_changes")})
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            failures.append(error)
        finally:
            db.close()

    reader = threading.Thread(target=read)
    writers = [threading.Thread(target=write, args=(registers[n], n)) for n in range(WRITERS)]
    reader.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(timeout=120)
    finished.set()
    reader.join(timeout=60)
    assert not failures, failures
    check = connect(migrated_postgres_url)
    final = {int(row["seq"]) for row in check.query("SELECT seq FROM register_value_changes")}
    check.close()
    assert len(snapshots) > 10  # the reader looked while the writers wrote
    for seen in snapshots:
        if seen:
            # Everything numbered up to the highest number seen had committed by then.
            assert {seq for seq in final if seq <= max(seen)} == {seq for seq in seen}


@pytest.mark.slow
def test_a_writer_numbered_later_commits_after_an_open_one(migrated_postgres_url: str) -> None:
    # Writer A has logged a change and not committed; writer B logs one too. B must wait for
    # A's commit (else a feeder could see B's higher number while A's lower one is still to
    # come, and skip it for good).
    setup = connect(migrated_postgres_url)
    first, second = linked_meters(setup, meters=1)
    setup.close()
    a, b = connect(migrated_postgres_url), connect(migrated_postgres_url)
    b_pid = b.query("SELECT pg_backend_pid() AS pid")[0]["pid"]
    done = threading.Event()

    def write_b() -> None:
        write_values(b, [(second, START, 2_000)])
        done.set()

    writer_b = threading.Thread(target=write_b)
    watcher = connect(migrated_postgres_url)
    try:
        with a.transaction():
            a.execute("INSERT INTO register_profile_hh (register_id, timestamp, cumulative_wh, "
                      "status) VALUES (:r, :t, 1000, 0)", {"r": first, "t": START})
            writer_b.start()
            waiting = False
            for _ in range(200):  # B either blocks on A (right) or commits (wrong); 10 s at most
                if done.wait(0.05):
                    break
                waiting = bool(watcher.query(
                    "SELECT 1 FROM pg_stat_activity WHERE pid = :pid AND wait_event_type = 'Lock'",
                    {"pid": b_pid}))
                if waiting:
                    break
            assert waiting and not done.is_set()
        writer_b.join(timeout=30)
        assert done.is_set()
        seqs = {str(row["register_id"]): int(row["seq"]) for row in watcher.query(
            "SELECT register_id, seq FROM register_value_changes WHERE timestamp = :t",
            {"t": START})}
        assert seqs[str(first)] < seqs[str(second)]
    finally:
        for db in (a, b, watcher):
            db.close()
