"""Registry import from the simulator's CSV: all or nothing, every problem named by row; and
the `flows db/escos/meters/metrics` commands."""

from __future__ import annotations

import asyncio
import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli import main
from flows.db import Database, registry, shadows
from flows.db.registry_csv import RegistryImportError, import_registry
from flows.meters import FleetServer, SimClock, build_fleet
from flows.meters.cli import write_registry

HEADER = ["serial", "ip_address", "port", "hardware", "esco", "emop_address", "faults"]


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def test_the_simulators_registry_imports(db: Database, tmp_path: Path) -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    meters = build_fleet(25, seed=4, start=start)
    path = tmp_path / "meters.csv"

    async def serve_and_write() -> None:
        async with FleetServer(meters, SimClock(start, speed=0), port=0, own_addresses=False) as fleet:
            write_registry(path, fleet)

    asyncio.run(serve_and_write())
    for code in {m.esco for m in meters}:
        registry.add_esco(db, code)
    assert import_registry(db, path) == 25
    stored = {m.serial: m for m in registry.meters(db)}
    assert set(stored) == {m.serial for m in meters}
    twin = next(m for m in meters if m.hardware == "C1.w")
    registers = db.query("SELECT element FROM meter_registers WHERE meter_id = :m ORDER BY element",
                         {"m": stored[twin.serial].id})
    assert [r["element"] for r in registers] == ["A", "B"]
    assert all(shadows.shadow(db, m.id) is not None for m in stored.values())


def test_bad_rows_reject_the_whole_file(db: Database, tmp_path: Path) -> None:
    registry.add_esco(db, "MOR")
    path = write_csv(tmp_path / "bad.csv", [
        ["EML1", "127.10.0.1", "8080", "C1.w", "MOR", "", ""],
        ["EML2", "not-an-ip", "8080", "B1.w", "MOR", "", ""],
        ["EML1", "127.10.0.3", "8080", "B1.w", "MOR", "", ""],
        ["EML4", "127.10.0.4", "8080", "B1.w", "NOPE", "", ""],
        ["EML5", "127.10.0.5", "99999", "X9", "MOR", "", ""],
        ["", "127.10.0.6", "8080", "B1.w", "MOR", "", ""],
        ["EML7", "127.10.0.7", "8080", "B1.w", "MOR", "", "", "extra"],
    ])
    with pytest.raises(RegistryImportError) as error:
        import_registry(db, path)
    message = str(error.value)
    for expected in ("row 3: bad ip_address 'not-an-ip'", "row 4: duplicate serial EML1 (also row 2)",
                     "row 5: unknown esco 'NOPE'", "row 6: bad port '99999'",
                     "row 6: unknown hardware 'X9'", "row 7: missing serial",
                     "row 8: more cells than the header", "nothing imported"):
        assert expected in message
    assert registry.meters(db) == []  # the good rows were not stored either


def test_already_registered_serials_are_refused(db: Database, tmp_path: Path) -> None:
    esco = registry.add_esco(db, "MOR")
    registry.add_meter(db, "EML1", "127.10.0.1", "B1.w", esco)
    path = write_csv(tmp_path / "again.csv", [["EML1", "127.10.0.9", "8080", "B1.w", "MOR", "", ""]])
    with pytest.raises(RegistryImportError, match="serial EML1 is already registered"):
        import_registry(db, path)


def test_commands(db: Database, tmp_path: Path) -> None:
    runner = CliRunner()
    url = db.url
    ok = runner.invoke(main, ["db", "migrate", "--database", url])
    assert ok.exit_code == 0 and "up to date" in ok.output
    path = write_csv(tmp_path / "fleet.csv", [["EML1", "127.10.0.1", "8080", "C1.w", "WLCE", "", ""]])
    refused = runner.invoke(main, ["meters", "import", str(path), "--database", url])
    assert refused.exit_code == 1 and "unknown esco 'WLCE'" in refused.output
    imported = runner.invoke(main, ["meters", "import", str(path), "--create-escos", "--database", url])
    assert imported.exit_code == 0 and "imported 1 meters" in imported.output
    added = runner.invoke(main, ["meters", "add", "--serial", "EML2", "--ip", "127.10.0.2",
                                 "--hardware", "B1.w", "--esco", "WLCE", "--database", url])
    assert added.exit_code == 0, added.output
    listed = runner.invoke(main, ["meters", "list", "--database", url])
    assert [line.split("\t")[0] for line in listed.output.splitlines()] == ["EML1", "EML2"]
    duplicate = runner.invoke(main, ["meters", "add", "--serial", "EML2", "--ip", "127.10.0.3",
                                     "--hardware", "B1.w", "--esco", "WLCE", "--database", url])
    assert duplicate.exit_code == 1 and "not added" in duplicate.output
    assert runner.invoke(main, ["metrics", "--database", url, "disable", "SyncerCsq"]).exit_code == 0
    shown = runner.invoke(main, ["metrics", "--database", url])
    assert any(line.startswith("SyncerCsq") and line.endswith("disabled")
               for line in shown.output.splitlines())
    unknown = runner.invoke(main, ["metrics", "--database", url, "enable", "SyncerNope"])
    assert unknown.exit_code == 1 and "no metric named 'SyncerNope'" in unknown.output
