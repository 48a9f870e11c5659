"""Sync cycles shared by several collectors: each meter once per cycle, a dead collector's
meters taken over, scheduled slots, SIGTERM finishing the meters in flight."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flows.collect import sync_meter
from flows.collect.scheduler import next_slot, run_scheduler, slot_of
from flows.db import Database, connect, cycles, migrate, partitions, registry, shadows
from flows.devtools.processes import FLOWS_COMMAND
from flows.logs import JsonLines
from flows.mediator import MediatorClient
from flows.meters import VirtualMeter, build_fleet
from tests.collect.fleet import PATIENT, START, fleet_behind_mediator, only_metric


def slow_fleet(count: int, latency_s: float) -> list[VirtualMeter]:
    meters = build_fleet(count, seed=7, start=START)
    for meter in meters:
        meter.faults.fixed_latency_s = latency_s
    return meters


async def collector(url: str, mediator: str, name: str, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *FLOWS_COMMAND, *args, "--database", url, "--mediator", mediator, "--collector", name,
        "--json-logs", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def until_logged(process: asyncio.subprocess.Process, event: str) -> list[dict[str, object]]:
    """Read the collector's JSON log lines until one with ``event``; the lines read."""
    assert process.stderr is not None
    lines: list[dict[str, object]] = []
    while True:
        raw = await process.stderr.readline()
        assert raw, f"the collector exited before logging {event}: {lines}"
        line = json.loads(raw)
        lines.append(line)
        if line.get("event") == event:
            return lines


def done_rows(db: Database) -> list[dict[str, object]]:
    return db.query("SELECT m.serial, c.collector, c.cycle_id FROM sync_cycle_meters c "
                    "JOIN meter_registry m ON m.id = c.meter_id")


@pytest.mark.slow
def test_three_collectors_sync_each_meter_exactly_once(migrated_postgres_url: str) -> None:
    db = connect(migrated_postgres_url)
    only_metric(db, "hourly", "SyncerReads")
    meters = slow_fleet(500, latency_s=0.05)

    async def main() -> list[bytes]:
        async with fleet_behind_mediator(db, meters, PATIENT) as running:
            processes = [await collector(migrated_postgres_url, running.mediator, f"c{n}", "sync",
                                         "--frequency", "hourly", "--parallel", "20")
                         for n in range(3)]
            outputs = await asyncio.gather(*(p.communicate() for p in processes))
            assert [p.returncode for p in processes] == [0, 0, 0], outputs
            requests = running.requests_by_serial()
        wrong = {serial: frames for serial, frames in requests.items()
                 if not frames or len(frames) != len(set(frames))}
        assert not wrong, wrong
        return [out for out, _ in outputs]

    outputs = asyncio.run(main())
    rows = done_rows(db)
    assert Counter(row["serial"] for row in rows) == Counter({m.serial: 1 for m in meters})
    by_collector = Counter(row["collector"] for row in rows)
    assert set(by_collector) == {"c0", "c1", "c2"}, by_collector  # the work was shared
    assert len({row["cycle_id"] for row in rows}) == 1
    assert db.query("SELECT count(*) AS n FROM sync_cycles WHERE finished_at IS NULL")[0]["n"] == 0
    for out, name in zip(outputs, ("c0", "c1", "c2")):  # each summary counts the others' meters
        assert f"{by_collector[name]} ok, 0 unhealthy, {500 - by_collector[name]} skipped" in out.decode()


@pytest.mark.slow
def test_a_killed_collectors_meters_are_taken_over(migrated_postgres_url: str) -> None:
    db = connect(migrated_postgres_url)
    only_metric(db, "hourly", "SyncerReads")
    meters = slow_fleet(60, latency_s=0.2)

    async def main() -> dict[str, list[bytes]]:
        async with fleet_behind_mediator(db, meters, PATIENT) as running:
            doomed = await collector(migrated_postgres_url, running.mediator, "doomed", "sync",
                                     "--frequency", "hourly", "--parallel", "5")
            await until_logged(doomed, "meter_synced")  # it holds claims on meters in flight
            doomed.send_signal(signal.SIGKILL)
            await doomed.wait()
            survivor = await collector(migrated_postgres_url, running.mediator, "survivor", "sync",
                                       "--frequency", "hourly", "--parallel", "20")
            _, err = await survivor.communicate()
            assert survivor.returncode == 0, err
            return running.requests_by_serial()

    requests = asyncio.run(main())
    rows = done_rows(db)
    assert Counter(row["serial"] for row in rows) == Counter({m.serial: 1 for m in meters})
    by_collector = Counter(row["collector"] for row in rows)
    assert by_collector["doomed"] >= 1 and by_collector["survivor"] >= 1
    # Synced twice at most: the meters the killed collector had in flight.
    twice = [serial for serial, frames in requests.items() if len(frames) != len(set(frames))]
    assert len(twice) <= 5


@pytest.mark.slow
def test_scheduler_syncs_the_current_slot_and_finishes_meters_in_flight_on_sigterm(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'flows.db'}"
    db = connect(url)
    migrate(db)
    only_metric(db, "hourly", "SyncerReads")
    meters = slow_fleet(40, latency_s=0.3)

    async def main() -> dict[str, list[bytes]]:
        async with fleet_behind_mediator(db, meters, PATIENT) as running:
            process = await collector(url, running.mediator, "s1", "scheduler", "--frequency",
                                      "hourly", "--parallel", "4", "--jitter", "0")
            await until_logged(process, "meter_synced")
            process.send_signal(signal.SIGTERM)
            lines = await until_logged(process, "scheduler_stopped")
            assert await process.wait() == 0
            assert any(line.get("event") == "cycle_done" and line["left"] for line in lines)
            return running.requests_by_serial()

    requests = asyncio.run(main())
    rows = done_rows(db)
    contacted = {serial for serial, frames in requests.items() if frames}
    assert 1 <= len(rows) < len(meters)  # it stopped early ...
    assert {row["serial"] for row in rows} == contacted  # ... and no meter was cut off midway
    cycle = db.query("SELECT slot, finished_at FROM sync_cycles")
    assert len(cycle) == 1 and cycle[0]["finished_at"] is None
    assert cycle[0]["slot"] == slot_of(datetime.now(UTC), "hourly") or (
        datetime.now(UTC) - slot_of(datetime.now(UTC), "hourly") < timedelta(minutes=1))


def test_slots_are_utc_period_starts() -> None:
    moment = datetime(2025, 3, 30, 13, 47, 5, tzinfo=UTC)
    assert slot_of(moment, "hourly") == datetime(2025, 3, 30, 13, tzinfo=UTC)
    assert slot_of(moment, "12hourly") == datetime(2025, 3, 30, 12, tzinfo=UTC)
    assert slot_of(moment, "daily") == datetime(2025, 3, 30, tzinfo=UTC)
    assert next_slot(moment, "daily") == datetime(2025, 3, 31, tzinfo=UTC)
    assert slot_of(datetime(2025, 3, 30, 12, tzinfo=UTC), "12hourly") == datetime(2025, 3, 30, 12, tzinfo=UTC)


def test_collectors_join_the_open_cycle_and_a_slot_is_run_once(db: Database) -> None:
    manual = cycles.join_cycle(db, "hourly", "all")
    assert cycles.join_cycle(db, "hourly", "all") == manual
    assert cycles.join_cycle(db, "hourly", "esco:E1") != manual  # scopes are separate
    slot = datetime(2026, 11, 22, 10, tzinfo=UTC)
    assert cycles.join_cycle(db, "hourly", "all", slot) == manual  # finish the open one first
    cycles.close_cycle(db, manual)
    scheduled = cycles.join_cycle(db, "hourly", "all", slot)
    assert scheduled.slot == slot and not scheduled.finished
    cycles.close_cycle(db, scheduled)
    assert cycles.join_cycle(db, "hourly", "all", slot).finished  # a late collector: done
    later = cycles.join_cycle(db, "hourly", "all", slot + timedelta(hours=1))
    assert later.id != scheduled.id and not later.finished


def test_a_cycle_left_open_by_stopped_collectors_is_abandoned(db: Database) -> None:
    old = cycles.join_cycle(db, "hourly", "all", now=datetime.now(UTC) - timedelta(hours=2))
    fresh = cycles.join_cycle(db, "hourly", "all")
    assert fresh.id != old.id
    abandoned = db.query("SELECT abandoned FROM sync_cycles WHERE id = :id", {"id": old.id})
    assert abandoned[0]["abandoned"]


def test_claims_exclude_other_collectors_until_released_or_disconnected(
        migrated_postgres_url: str) -> None:
    first, second = connect(migrated_postgres_url), connect(migrated_postgres_url)
    meter = registry.add_meter(first, "EML1", "127.0.0.1", "C1.w", None)
    cycle = cycles.join_cycle(first, "hourly", "all")
    assert cycles.claim(first, cycle, meter)
    assert not cycles.claim(second, cycle, meter)
    cycles.release(first, cycle, meter)
    assert cycles.claim(second, cycle, meter)
    pid = second.query("SELECT pg_backend_pid() AS pid")[0]["pid"]
    second.close()  # a collector that dies lets go of its claims (once its backend has exited)
    deadline = time.monotonic() + 10
    while first.query("SELECT 1 AS on FROM pg_stat_activity WHERE pid = :pid", {"pid": pid}):
        assert time.monotonic() < deadline, "the closed session's backend did not exit"
    assert cycles.claim(first, cycle, meter)
    cycles.finish_meter(first, cycle, meter, "first", None)
    cycles.release(first, cycle, meter)
    assert not cycles.claim(connect(migrated_postgres_url), cycle, meter)  # done: nobody again


def test_json_log_lines_carry_the_extra_fields() -> None:
    record = logging.LogRecord("flows.collect", logging.WARNING, "", 0, "%s unhealthy", ("EML1",), None)
    record.event, record.serial = "meter_synced", "EML1"
    line = json.loads(JsonLines().format(record))
    assert line["message"] == "EML1 unhealthy" and line["level"] == "warning"
    assert line["event"] == "meter_synced" and line["serial"] == "EML1"
    assert line["time"].endswith("+00:00")


def test_a_meters_values_and_its_done_mark_land_together_or_not_at_all(db: Database) -> None:
    only_metric(db, "hourly", "SyncerReads")

    def lost_database(reason: str | None) -> None:
        raise RuntimeError("connection lost while recording the meter done")

    async def main() -> None:
        async with fleet_behind_mediator(db, build_fleet(1, seed=3, start=START)) as running, \
                MediatorClient(running.mediator, deadline_s=30) as client:
            meter = registry.meters(db)[0]
            with pytest.raises(RuntimeError, match="connection lost"):
                await sync_meter(db, client, meter, ["SyncerReads"], lost_database)
            assert shadows.shadow(db, meter.id)["import_a"] is None
            assert await sync_meter(db, client, meter, ["SyncerReads"]) is None
            assert shadows.shadow(db, meter.id)["import_a"] is not None

    asyncio.run(main())


def test_the_scheduler_drops_expired_history_when_told(migrated_postgres_url: str) -> None:
    db = connect(migrated_postgres_url)
    assert len(partitions.expired_history(db, keep_months=20)[1]) == 40  # 4 months × 10 tables

    async def main() -> None:
        stop = asyncio.Event()
        async with MediatorClient("127.0.0.1:1") as client:  # no cycle: only the daily upkeep
            upkeep = asyncio.create_task(run_scheduler(db, client, (), parallel=1, jitter_s=0,
                                                       stop=stop, keep_months=20))

            async def dropped() -> None:
                while partitions.expired_history(db, keep_months=20)[1]:
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(dropped(), 30)
            stop.set()
            await asyncio.wait_for(upkeep, 30)

    asyncio.run(main())
    assert partitions.partitioned_tables(db)  # the tables stay, their old months gone
