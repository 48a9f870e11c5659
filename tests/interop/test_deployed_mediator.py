"""Our collector syncs a fault-free simulated fleet through the deployed mediator
(simt-emlite 1.2.12's servicer, see deployed_mediator.py): every frequency, every meter
healthy, and what is stored equals the simulator's model."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flows.collect import sync_cycle
from flows.db import Database, connect, migrate, registry, shadows
from flows.db.registry_csv import import_registry
from flows.devtools.processes import free_port
from flows.mediator import MediatorClient
from flows.meterdata import FREQUENCIES, Hardware
from flows.meters import FleetServer, SimClock, VirtualMeter, build_fleet
from flows.meters.cli import write_registry
from tests.interop.conftest import peer_command

# The collector asks for the last days up to now: the fleet's frozen time is the real time.
START = datetime.now(UTC).replace(microsecond=0)
PROFILE_DAYS = 2


@contextlib.asynccontextmanager
async def deployed_mediator(python: str, registry_csv: Path) -> AsyncIterator[str]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *peer_command(python, "deployed_mediator.py", str(registry_csv), str(port)),
        stdout=asyncio.subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        assert line.strip() == b"listening", line
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        await process.wait()


def fleet_of_every_kind() -> list[VirtualMeter]:
    meters = build_fleet(60, seed=12, start=START)
    chosen = meters[:20]
    for kind in Hardware:  # and at least one of every kind
        if all(m.hardware != kind for m in chosen):
            chosen.append(next(m for m in meters if m.hardware == kind))
    assert {m.hardware for m in chosen} == {kind.value for kind in Hardware}
    return chosen


def check_stored(db: Database, meters: list[VirtualMeter]) -> None:
    stored = {m.serial: m for m in registry.meters(db)}
    for meter in meters:
        row = shadows.shadow(db, stored[meter.serial].id)
        assert row["health"] == "healthy", (meter.serial, row["health_details"])
        imported, exported = meter.registers(START)
        assert row["import_a"] == imported / 1000 and row["export_a"] == exported / 1000
        if meter.twin_element:
            assert row["import_b"] == meter.element_b(START).import_active / 1000
        assert stored[meter.serial].hardware == meter.hardware
        if not meter.three_phase:
            assert row["balance"] == meter.balance(START)
            assert row["backlight"] == "normal_sp" and row["load_switch"] == "normal_button_always"
            profile = db.query(
                "SELECT p.timestamp, p.cumulative_wh FROM register_profile_hh p JOIN meter_registers r "
                "ON r.register_id = p.register_id WHERE r.meter_id = :m AND r.element = 'A' "
                "ORDER BY p.timestamp", {"m": stored[meter.serial].id})
            assert profile, meter.serial
            # Whole two-hour windows up to now, each value as the model holds it.
            assert START - profile[-1]["timestamp"] < timedelta(hours=2)
            for value in profile:
                assert value["cumulative_wh"] == meter.element_a(value["timestamp"]).import_active


def sync_through_deployed_mediator(deployed_python: str, tmp_path: Path,
                                   meters: list[VirtualMeter], frequencies: Sequence[str]
                                   ) -> Database:
    """The meters served, registered in a new database and synced at each frequency by our
    collector through the deployed mediator: every meter healthy every time. The database."""
    db = connect(f"sqlite:///{tmp_path / 'flows.db'}")
    migrate(db)

    async def main() -> None:
        async with FleetServer(meters, SimClock(START, speed=0), port=0, own_addresses=False) as fleet:
            registry_csv = tmp_path / "meters.csv"
            write_registry(registry_csv, fleet)
            for code in sorted({m.esco for m in meters}):
                registry.add_esco(db, code)
            import_registry(db, registry_csv)
            async with deployed_mediator(deployed_python, registry_csv) as target, \
                    MediatorClient(target) as client:
                for frequency in frequencies:
                    summary = await sync_cycle(db, client, frequency, collector="interop",
                                               profile_days=PROFILE_DAYS)
                    assert (summary.ok, summary.unhealthy) == (len(meters), 0), summary.problems

    asyncio.run(main())
    return db


def test_our_collector_through_the_deployed_mediator(deployed_python: str, tmp_path: Path) -> None:
    meters = fleet_of_every_kind()
    db = sync_through_deployed_mediator(deployed_python, tmp_path, meters, FREQUENCIES)
    check_stored(db, meters)


@pytest.mark.parametrize("behind", [timedelta(minutes=50), timedelta(hours=11)])
def test_the_daily_sync_through_the_deployed_mediator_with_meter_clocks_behind(
        deployed_python: str, tmp_path: Path, behind: timedelta) -> None:
    """Profile windows are bounded by the meter's own clock: a fleet whose clocks lag ours asks
    only for windows the meters have taken (the deployed parser refuses fewer than 4 records)."""
    meters = [m for m in fleet_of_every_kind() if not m.three_phase][:12]
    for meter in meters:
        meter.clock_offset_s = -behind.total_seconds()
    db = sync_through_deployed_mediator(deployed_python, tmp_path, meters, ["daily"])
    stored = {m.serial: m for m in registry.meters(db)}
    for meter in meters:
        row = shadows.shadow(db, stored[meter.serial].id)
        # The deployed sign: our time when synced minus the meter's (frozen at START).
        behind_s = (START - meter.clock(START)).total_seconds()
        assert behind_s - 1 <= row["clock_time_diff_seconds"] <= behind_s + (
            datetime.now(UTC) - START).total_seconds() + 1
        last = db.query("SELECT max(p.timestamp) AS last FROM register_profile_hh p "
                        "JOIN meter_registers r ON r.register_id = p.register_id "
                        "WHERE r.meter_id = :m", {"m": stored[meter.serial].id})[0]["last"]
        assert last is not None and last <= meter.clock(START)
