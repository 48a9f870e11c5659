"""The deployed collector's syncers (simt-emlite 1.2.12, with a recording fake for their
database: deployed_syncers.py) and Flows' collector, on the same simulated meters through our
mediator, store equal values in every column both schemas share.

The deployed collector's own faults stay (README, "Stored as the deployed collector stores
them"): it misdetects a three-phase meter's hardware (`SINGLE_PHASE_UNKNOWN`) and so reads a
P1.cx meter's registers 10× too large (its own client reads them as Flows does); and its clock
drift compares times of day only (a meter 12 days and 3 hours behind is 3 hours behind to it),
so the fleet's frozen time is today's. The clock drift is measured by each at its own moment:
equal to within the time between the two runs.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from flows.collect import sync_cycle
from flows.db import Database, connect, migrate, registry, shadows
from flows.db.registry_csv import import_registry
from flows.mediator import MediatorClient
from flows.meterdata import FREQUENCIES
from flows.meters import VirtualMeter
from flows.meters.cli import write_registry
from tests.interop.conftest import behind_our_mediator, run_peer
from tests.interop.test_deployed_client import one_of_each_kind

# The fleet's frozen time is now: see the module's doc.
START = datetime.now(UTC).replace(microsecond=0)

KNOWN_FAULTS = {("P1.cx", "import_a"), ("P1.cx", "hardware"), ("P1.ax", "hardware")}
DRIFT_SLACK_S = 120
JSON_COLUMNS = {"tariffs_active", "tariffs_future"}


def deployed_value(value: Any) -> Any:
    """A value as deployed_syncers.py reports it, unwrapped (floats and Decimals are tagged)."""
    if isinstance(value, dict) and set(value) == {"float"}:
        return Decimal(value["float"])
    if isinstance(value, dict) and set(value) == {"decimal"}:
        return Decimal(value["decimal"])
    return value


def equal(column: str, deployed: Any, stored: Any) -> bool:
    deployed = deployed_value(deployed)
    if column in JSON_COLUMNS:
        return bool(json.loads(stored) == deployed)
    if isinstance(deployed, bool):
        return stored is not None and bool(stored) == deployed
    if isinstance(deployed, (int, Decimal)) or column == "balance":
        return stored is not None and Decimal(str(stored)) == Decimal(str(deployed))
    return bool(stored == deployed)


async def collect_both(db: Database, meters: list[VirtualMeter], deployed_python: str,
                       tmp_path: Path, frequencies: tuple[str, ...] = tuple(FREQUENCIES),
                       peer: tuple[str, ...] = ("deployed_syncers.py",)) -> dict[str, Any]:
    """Flows' collector syncs every meter at each of ``frequencies``; then the ``peer``
    script (with the mediator, the serial and the rest of ``peer`` as its arguments, the
    hardware by default) reads each meter. Its answers, by serial."""
    async with behind_our_mediator(meters, START) as (fleet, mediator):
        registry_csv = tmp_path / "meters.csv"
        write_registry(registry_csv, fleet)
        for code in sorted({m.esco for m in meters}):
            registry.add_esco(db, code)
        import_registry(db, registry_csv)
        async with MediatorClient(mediator) as client:
            for frequency in frequencies:
                summary = await sync_cycle(db, client, frequency, collector="interop",
                                           profile_days=1)
                assert (summary.ok, summary.unhealthy) == (len(meters), 0), summary.problems
        script, *extra = peer
        return {meter.serial: await run_peer(deployed_python, script, mediator, meter.serial,
                                             *(extra or [meter.hardware]))
                for meter in meters}


def test_the_deployed_syncers_and_ours_store_equal_values_in_shared_columns(
        deployed_python: str, tmp_path: Path) -> None:
    meters = one_of_each_kind(START)
    db = connect(f"sqlite:///{tmp_path / 'flows.db'}")
    migrate(db)
    answers = asyncio.run(collect_both(db, meters, deployed_python, tmp_path))
    compared: set[str] = set()
    for meter in meters:
        stored_registry = registry.registry_row(db, meter.serial)
        assert stored_registry is not None
        stored_shadow = shadows.shadow(db, stored_registry["id"])
        for syncer, answer in answers[meter.serial].items():
            assert "error" not in answer or syncer == "SyncerFirmwareVersion", (syncer, answer)
            for table, stored in (("shadow", stored_shadow), ("registry", stored_registry)):
                for column, value in answer.get(table, {}).items():
                    if (meter.hardware, column) in KNOWN_FAULTS:
                        continue
                    if column == "clock_time_diff_seconds":
                        assert abs(stored[column] - value) <= DRIFT_SLACK_S
                    elif column == "clock_time_diff_synced_at":
                        assert abs(stored[column] - datetime.fromisoformat(value)).total_seconds() \
                            <= DRIFT_SLACK_S
                    else:
                        assert equal(column, value, stored[column]), (
                            meter.hardware, syncer, column, value, stored[column])
                    compared.add(column)
        # The deployed collector's faults, as stated: Flows stores the meter's own value.
        if meter.hardware == "P1.cx":
            deployed_import = deployed_value(answers[meter.serial]["SyncerReads"]["shadow"]["import_a"])
            assert deployed_import == 10 * Decimal(str(stored_shadow["import_a"]))
    # Every shared column the deployed syncers write was compared on some meter.
    assert {"backlight", "load_switch", "balance", "csq", "voltage", "3p_voltage_l1", "import_a",
            "import_b", "export_a", "export_b", "tariffs_active", "tariffs_future",
            "clock_time_diff_seconds", "prepay_enabled",
            "daylight_savings_correction_enabled"} <= compared


def test_the_deployed_three_phase_reader_and_ours_agree_in_kwh(deployed_python: str,
                                                                tmp_path: Path) -> None:
    """P1.ax (Wh) and P1.cx (tenths of a Wh): the deployed reader's CSV and the profile
    values Flows' collector stores are the same kWh for every half hour both hold."""
    meters = [m for m in one_of_each_kind(START) if m.three_phase]
    assert sorted(m.hardware for m in meters) == ["P1.ax", "P1.cx"]
    db = connect(f"sqlite:///{tmp_path / 'flows.db'}")
    migrate(db)
    since = START.replace(minute=0, second=0) - timedelta(hours=6)
    by_serial = asyncio.run(collect_both(
        db, meters, deployed_python, tmp_path, ("daily",),
        ("deployed_three_phase.py", since.isoformat(), (since + timedelta(hours=2)).isoformat())))
    answers = {meter.hardware: by_serial[meter.serial] for meter in meters}
    for meter in meters:
        deployed = {datetime.fromisoformat(at): Decimal(kwh)
                    for at, kwh in answers[meter.hardware].items()}
        assert len(deployed) == 4, answers
        ours = {row["timestamp"]: Decimal(int(row["cumulative_wh"])) / 1000 for row in db.query(
            "SELECT p.timestamp, p.cumulative_wh FROM register_profile_hh p JOIN meter_registers r "
            "ON r.register_id = p.register_id JOIN meter_registry m ON m.id = r.meter_id "
            "WHERE m.serial = :serial", {"serial": meter.serial})}
        assert deployed == {at: ours[at] for at in deployed}, meter.hardware
        # and both are the meter's own register (kWh), whatever its kind
        assert all(kwh == Decimal(meter.registers(at)[0]) / 1000 for at, kwh in deployed.items())
