"""The deployed management API reads InfoService from our mediator, in both of its modes:
meter lists (one esco, or all when none is named), meter info and clock drift."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from flows.db import connect, migrate, registry, shadows
from flows.db.registry_csv import import_registry
from flows.devtools.processes import free_port, start_flows, stop_flows
from tests.interop.conftest import peer_command

REGISTRY = ("serial,ip_address,port,hardware,esco\n"
            "EML1,127.0.0.1,9001,C1.w,MOR\nEML2,127.0.0.1,9002,P1.cx,HMCE\nEML3,127.0.0.1,9003,B1.w,MOR\n")


def management(python: str, port: int, serial: str, esco: str) -> dict[str, Any]:
    out = subprocess.run(peer_command(python, "deployed_management.py", f"127.0.0.1:{port}", serial, esco),
                         capture_output=True, text=True, timeout=60, check=True).stdout
    result: dict[str, Any] = json.loads(out)
    return result


@pytest.mark.parametrize("mode", ["database", "csv"])
def test_info_service_as_the_deployed_client_reads_it(deployed_python: str, tmp_path: Path,
                                                       mode: str) -> None:
    registry_csv = tmp_path / "meters.csv"
    registry_csv.write_text(REGISTRY)
    source = ["--meters", str(registry_csv)]
    if mode == "database":
        url = f"sqlite:///{tmp_path / 'flows.db'}"
        with connect(url) as db:
            migrate(db)
            for code in ("MOR", "HMCE"):
                registry.add_esco(db, code)
            import_registry(db, registry_csv)
            shadows.update_shadow_healthy(db, registry.meter_id(db, "EML1"),
                                          {"clock_time_diff_seconds": -42})
        source = ["--database", url]
    port = free_port()
    mediator = start_flows(["mediator", *source, "--listen", f"127.0.0.1:{port}"], "mediator listening")
    try:
        got = management(deployed_python, port, "EML1", "mor")  # matched whatever its case
    finally:
        stop_flows(mediator)
    assert [m["serial"] for m in got["meter_list_esco"]] == ["EML1", "EML3"]
    assert [m["serial"] for m in got["meter_list_all"]] == ["EML1", "EML2", "EML3"]
    # The deployed mediator's layout: the registry row and the shadow row, each whole.
    info = got["meter_info"]
    assert info["registry"]["serial"] == "EML1" and info["registry"]["hardware"] == "C1.w"
    assert (info["shadow"]["clock_time_diff_seconds"] == -42) if mode == "database" else (
        info["shadow"] == {})
    drift = got["meter_clock_drift"]
    assert drift["serial"] == "EML1"
    assert drift["clock_time_diff_seconds"] == (-42 if mode == "database" else None)
