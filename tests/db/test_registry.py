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
from flows.db import Database, DatabaseError, NotFoundError, registry, shadows
from flows.db.registry_csv import RegistryImportError, import_registry
from flows.meterdata import check_mpan
from flows.meters import FleetServer, SimClock, build_fleet
from flows.meters.cli import write_registry

HEADER = ["serial", "ip_address", "port", "hardware", "esco", "emop_address", "faults"]
# MPANs with valid check digits (the first is the Octopus documentation's example).
IMPORT_MPAN, EXPORT_MPAN, OTHER_MPAN = "2000024512368", "1900000000013", "1012345678903"


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
    # Every simulated meter is on an import meter point; meters with solar panels export too.
    for meter in meters:
        assert stored[meter.serial].import_mpan == check_mpan(stored[meter.serial].import_mpan or "")
        assert (stored[meter.serial].export_mpan is not None) == (meter.solar_kw > 0)
    assert len({m.import_mpan for m in stored.values()}) == 25


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


@pytest.mark.parametrize(("text", "problem"), [
    ("2000024512369", "fails its check digit (the last digit would be 8)"),
    ("200002451236", "is not an MPAN: 13 digits"),
    ("20000245123６8", "is not an MPAN"),  # a full-width digit is not ASCII
    ("S 01 801 100", "is not an MPAN"),
])
def test_an_mpan_is_thirteen_digits_that_check(text: str, problem: str) -> None:
    with pytest.raises(ValueError) as error:
        check_mpan(text)
    assert problem in str(error.value)
    assert check_mpan(" 20 0002 4512 368 ") == IMPORT_MPAN  # as a bill prints it


def test_mpans_import_from_the_csv_checked_row_by_row(db: Database, tmp_path: Path) -> None:
    registry.add_esco(db, "MOR")
    header = [*HEADER, "import_mpan", "export_mpan"]
    bad = tmp_path / "bad.csv"
    with bad.open("w", newline="") as handle:
        csv.writer(handle).writerows([header,
            ["EML1", "127.10.0.1", "8080", "B1.w", "MOR", "", "", IMPORT_MPAN, IMPORT_MPAN],
            ["EML2", "127.10.0.2", "8080", "B1.w", "MOR", "", "", "2000024512369", ""],
            ["EML3", "127.10.0.3", "8080", "B1.w", "MOR", "", "", OTHER_MPAN, ""],
            ["EML4", "127.10.0.4", "8080", "B1.w", "MOR", "", "", OTHER_MPAN, ""]])
    with pytest.raises(RegistryImportError) as error:
        import_registry(db, bad)
    for expected in ("row 2: MPAN 2000024512368 cannot be both the import and the export",
                     "row 3: MPAN 2000024512369 fails its check digit",
                     "row 5: MPAN 1012345678903 also on row 4"):
        assert expected in str(error.value)
    assert registry.meters(db) == []
    good = tmp_path / "good.csv"
    with good.open("w", newline="") as handle:
        csv.writer(handle).writerows([header,
            ["EML1", "127.10.0.1", "8080", "B1.w", "MOR", "", "", IMPORT_MPAN, EXPORT_MPAN],
            ["EML2", "127.10.0.2", "8080", "B1.w", "MOR", "", "", "", ""]])
    assert import_registry(db, good) == 2
    assert [(m.import_mpan, m.export_mpan) for m in registry.meters(db)] == [
        (IMPORT_MPAN, EXPORT_MPAN), (None, None)]
    assert registry.meter_on_mpan(db, EXPORT_MPAN, "EML1")[1] == "export"
    with pytest.raises(NotFoundError, match="meter EML2 is not on MPAN"):
        registry.meter_on_mpan(db, IMPORT_MPAN, "EML2")


def test_mpans_set_from_the_cli_and_guarded_by_the_database(db: Database) -> None:
    esco = registry.add_esco(db, "MOR")
    registry.add_meter(db, "EML1", "127.10.0.1", "B1.w", esco, import_mpan=IMPORT_MPAN)
    runner, url = CliRunner(), db.url
    swapped = runner.invoke(main, ["meters", "set-mpan", "EML1", "--import", EXPORT_MPAN,
                                   "--export", IMPORT_MPAN, "--database", url])
    assert swapped.exit_code == 0, swapped.output  # one change: never both the same between
    assert f"import MPAN {EXPORT_MPAN}, export MPAN {IMPORT_MPAN}" in swapped.output
    mistyped = runner.invoke(main, ["meters", "set-mpan", "EML1", "--export", "1900000000014",
                                    "--database", url])
    assert mistyped.exit_code != 0 and "fails its check digit" in mistyped.output
    removed = runner.invoke(main, ["meters", "set-mpan", "EML1", "--export", "none",
                                   "--database", url])
    assert removed.exit_code == 0 and "export MPAN -" in removed.output
    assert runner.invoke(main, ["meters", "set-mpan", "EML1", "--database", url]).exit_code == 2
    listed = runner.invoke(main, ["meters", "list", "--database", url])
    assert f"\t{EXPORT_MPAN}\t-" in listed.output
    # A bad MPAN written behind Flows' back is refused by the database itself.
    for column, value in (("import_mpan", "20000245123"), ("export_mpan", EXPORT_MPAN)):
        with pytest.raises(DatabaseError):
            db.execute(f"UPDATE meter_registry SET {column} = :v WHERE serial = 'EML1'",
                       {"v": value})
    assert registry.meters(db)[0].import_mpan == EXPORT_MPAN
