"""POST /admin/tariffs/schedules: `flows simulate`, `flows mediator` and `flows serve
--mediator` as real processes; a future tariff written in the server's background to an
esco's meters, followed to the end at its status route; bad bodies refused before anything is
written; without a mediator, 409."""

from __future__ import annotations

import csv
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from flows.db import connect, migrate, registry
from flows.db.registry_csv import import_registry
from flows.devtools.processes import (
    FLOWS_COMMAND,
    free_port,
    start_flows,
    start_flows_line,
    stop_flows,
)
from tests.api.conftest import ADMIN_KEY, READ_KEY, Served

ADMIN = {"X-API-Key": ADMIN_KEY}
BODY = {"from": "2027-06-01T00:00:00Z", "standing_charge": "0.61234", "unit_rate": "0.27891",
        "debt_recovery_rate": "0.25"}
FINISH_S = 60  # the background writes of a handful of meters


def simulated_fleet(tmp_path: Path, meters: int) -> tuple[subprocess.Popen[str], str,
                                                          list[dict[str, str]]]:
    """`flows simulate` with ``meters`` meters, registered in a new SQLite database: the
    process, the database's URL and the registry's rows."""
    registry_csv = tmp_path / "meters.csv"
    fleet = start_flows(["simulate", "--meters", str(meters), "--seed", "8", "--port", "0",
                         "--shared-host", "--registry", str(registry_csv)], "meters ready")
    url = f"sqlite:///{tmp_path / 'flows.db'}"
    with connect(url) as db:
        migrate(db)
        rows = list(csv.DictReader(registry_csv.open()))
        for code in {row["esco"] for row in rows}:
            registry.add_esco(db, code)
        import_registry(db, registry_csv)
    return fleet, url, rows



@pytest.mark.slow
def test_a_tariff_is_scheduled_through_the_api_and_followed_to_the_end(tmp_path: Path) -> None:
    fleet, url, rows = simulated_fleet(tmp_path, 6)
    esco = rows[0]["esco"]
    prepay = sorted(row["serial"] for row in rows if row["esco"] == esco
                    and not row["hardware"].startswith("P1"))
    chosen = sorted(row["serial"] for row in rows if row["esco"] == esco)
    port = free_port()
    mediator = start_flows(["mediator", "--database", url, "--listen", f"127.0.0.1:{port}",
                            "--min-gap", "0.01"], "mediator listening")
    server, line = start_flows_line(["serve", "--port", "0", "--database", url, "--mediator",
                                     f"127.0.0.1:{port}", "--api-keys",
                                     f"{ADMIN_KEY}=admin,{READ_KEY}=read"], "http://")
    try:
        found = re.search(r"http://[\d.]+:\d+", line)
        assert found, line
        base = found.group(0)
        started = httpx.post(base + "/admin/tariffs/schedules", headers=ADMIN,
                             json={**BODY, "meters": {"esco": esco.lower()}})
        assert started.status_code == 202, started.text
        assert started.json()["meters"] == len(chosen)
        status = _finished(base + started.json()["status"])
        assert status["verified"] == len(prepay) and sorted(
            serial for serial, last in status["meters"].items()
            if last["outcome"] == "verified") == prepay
        # Three-phase meters have no prepayment tariff: failed with the meter's refusal.
        assert all("NAK" in last["reason"] for last in status["meters"].values()
                   if last["outcome"] == "failed")
        assert all(last["actor"].startswith("api:admin") for last in status["meters"].values())
        # A reader may not; an unknown meter or a bad amount is refused, nothing written.
        assert httpx.post(base + "/admin/tariffs/schedules", headers={"X-API-Key": READ_KEY},
                          json={**BODY, "meters": {"esco": esco}}).status_code == 403
        for body, named in (({**BODY, "meters": {"serials": ["EML404"]}}, "unknown meters"),
                            ({**BODY, "unit_rate": "0.123456", "meters": {"esco": esco}},
                             "5 decimal places"),
                            ({**BODY, "from": "2027-06-01T00:00:00", "meters": {"esco": esco}},
                             "timezone")):
            refused = httpx.post(base + "/admin/tariffs/schedules", headers=ADMIN, json=body)
            assert refused.status_code == 422 and named in refused.text, refused.text
        with connect(url) as db:
            assert db.query("SELECT count(*) AS n FROM tariff_schedules")[0]["n"] == 1
    finally:
        stop_flows(server)
        stop_flows(mediator)
        stop_flows(fleet)


def _finished(status_url: str) -> dict[str, Any]:
    """The schedule's status once its background writes have ended (bounded)."""
    deadline = time.monotonic() + FINISH_S
    while time.monotonic() < deadline:
        status: dict[str, Any] = httpx.get(status_url, headers=ADMIN).json()
        if not status["running"]:
            return status
        time.sleep(0.2)  # polling a background job's status, as a client would
    raise AssertionError(f"the schedule did not finish within {FINISH_S} s")


def test_without_a_mediator_the_schedule_route_says_so(served: Served) -> None:
    answer = httpx.post(served.url + "/admin/tariffs/schedules", headers=ADMIN,
                        json={**BODY, "meters": {"serials": ["EML0000"]}})
    assert answer.status_code == 409 and "no mediator" in answer.text


@pytest.mark.slow
def test_the_command_schedules_and_a_rerun_skips_the_verified(tmp_path: Path) -> None:
    """`flows tariffs schedule` as a process against `flows simulate` and `flows mediator`:
    the three-phase meters fail with the meter's NAK (exit code 1, each named); the same
    command again writes only those."""
    fleet, url, rows = simulated_fleet(tmp_path, 20)
    three_phase = sorted(row["serial"] for row in rows if row["hardware"].startswith("P1"))
    assert three_phase and len(three_phase) < len(rows)
    listed = tmp_path / "meters.txt"
    listed.write_text("".join(f"{row['serial']}\n" for row in rows))
    port = free_port()
    mediator = start_flows(["mediator", "--database", url, "--listen", f"127.0.0.1:{port}",
                            "--min-gap", "0.01"], "mediator listening")
    command = [*FLOWS_COMMAND, "tariffs", "schedule", "--database", url, "--mediator",
               f"127.0.0.1:{port}", "--from", "2027-06-01T00:00:00+0000", "--standing-charge",
               "0.61234", "--unit-rate", "0.27891", "--file", str(listed)]
    try:
        first = subprocess.run(command, capture_output=True, text=True, timeout=120)
        second = subprocess.run(command, capture_output=True, text=True, timeout=120)
    finally:
        stop_flows(mediator)
        stop_flows(fleet)
    verified = len(rows) - len(three_phase)
    assert first.returncode == 1 and "run the same command again" in first.stderr, first.stderr
    assert f"{verified} written and verified, {len(three_phase)} failed, 0 verified before" \
        in first.stdout
    assert all(f"{serial}: " in first.stdout and "NAK 5" in first.stdout for serial in three_phase)
    assert f"0 written and verified, {len(three_phase)} failed, {verified} verified before" \
        in second.stdout
