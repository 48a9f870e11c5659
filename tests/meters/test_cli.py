"""`flows simulate` in a real process: registry CSV, meters reachable at the listed
addresses, clean stop on SIGTERM, clear errors on bad options."""

from __future__ import annotations

import asyncio
import csv
import subprocess
from pathlib import Path

import pytest

from flows.devtools.processes import FLOWS_COMMAND, start_flows, stop_flows
from flows.emop import MeterConnection, ObjectId, object_value, read_request, records

ROOT = Path(__file__).resolve().parents[2]


def test_simulate_serves_the_fleet_it_lists(tmp_path: Path) -> None:
    registry = tmp_path / "meters.csv"
    process = start_flows(
        ["simulate", "--meters", "5", "--seed", "3", "--port", "0", "--shared-host",
         "--faults", "corrupt_crc=0.0", "--registry", str(registry)], "5 meters ready")
    try:
        rows = list(csv.DictReader(registry.open()))
        assert [row["serial"][:3] for row in rows] == ["EML"] * 5
        assert set(rows[0]) == {"serial", "ip_address", "port", "hardware", "esco",
                                "emop_address", "faults", "import_mpan", "export_mpan"}

        async def serials() -> list[str]:
            found = []
            for row in rows:
                async with MeterConnection(row["ip_address"], int(row["port"])) as meter:
                    request = read_request(ObjectId.SERIAL)
                    found.append(records.decode_serial(object_value(await meter.exchange(request),
                                                                    request)))
            return found

        assert asyncio.run(serials()) == [row["serial"] for row in rows]
    finally:
        returncode = stop_flows(process)
    assert returncode == 0


@pytest.mark.slow
def test_bad_options_are_named() -> None:
    for args, message in ((["--faults", "gremlins=0.5"], "unknown fault 'gremlins'"),
                          (["--faults", "nak=2"], "between 0 and 1"),
                          (["--shared-host"], "--port 0")):
        completed = subprocess.run([*FLOWS_COMMAND, "simulate", *args], cwd=ROOT, capture_output=True,
                                   text=True, timeout=60)
        assert completed.returncode == 2 and message in completed.stderr
