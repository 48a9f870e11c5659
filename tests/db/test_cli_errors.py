"""Command-line mistakes are errors that say what is wrong, and leave nothing behind: a mistyped
database URL, a database that does not exist, a duplicate, an empty database served, an unknown
meter, a busy port; a registry CSV saved by Excel (with a BOM) imports."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli import main as cli
from flows.db import connect, migrate, registry


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


@pytest.fixture
def migrated(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'flows.db'}"
    assert run("db", "migrate", "--database", url)[0] == 0
    return url


def test_an_unknown_url_scheme_is_an_error_and_creates_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, output = run("meters", "list", "--database", "foo://bar")
    assert code == 1 and "unknown database URL scheme 'foo://'" in output
    assert list(tmp_path.iterdir()) == []


def test_a_database_that_does_not_exist_is_an_error_until_migrated(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'typo' / 'flows.db'}"
    code, output = run("meters", "list", "--database", url)
    assert code == 1 and "no database at" in output and "flows db migrate" in output
    assert not (tmp_path / "typo").exists()
    assert run("db", "migrate", "--database", url)[0] == 0
    assert run("meters", "list", "--database", url)[0] == 0


def test_a_duplicate_names_the_value(migrated: str) -> None:
    assert run("escos", "add", "MOR", "--database", migrated)[0] == 0
    code, output = run("escos", "add", "MOR", "--database", migrated)
    assert code == 1 and "esco 'MOR' exists already" in output and "UNIQUE" not in output


def test_a_registry_csv_with_a_bom_imports(migrated: str, tmp_path: Path) -> None:
    csv = tmp_path / "meters.csv"
    csv.write_text("serial,ip_address,hardware,esco\r\nEML1,127.0.0.1,C1.w,MOR\r\n",
                   encoding="utf-8-sig")  # as Excel saves "CSV UTF-8"
    code, output = run("meters", "import", str(csv), "--create-escos", "--database", migrated)
    assert code == 0, output
    with connect(migrated) as db:
        assert [m.serial for m in registry.meters(db)] == ["EML1"]


def test_serve_refuses_an_empty_database_and_a_busy_port(migrated: str) -> None:
    code, output = run("serve", "--database", migrated, "--api-keys", "k" * 12 + "=read")
    assert code == 1 and "has no meters" in output and "--allow-empty" in output
    with connect(migrated) as db:
        registry.add_meter(db, "EML1", "127.0.0.1", "C1.w", None)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        code, output = run("serve", "--database", migrated, "--port", port,
                           "--api-keys", "k" * 12 + "=read")
    assert code == 1 and f"cannot listen on 127.0.0.1:{port}" in output
    assert "Traceback" not in output and len(output.strip().splitlines()) == 1


def test_sync_of_an_unknown_meter_fails(migrated: str) -> None:
    with connect(migrated) as db:
        migrate(db)
    code, output = run("sync", "--frequency", "daily", "--meter", "NOPE", "--database", migrated,
                       "--mediator", "127.0.0.1:1", "--text-logs")
    assert code == 1 and "meter 'NOPE' was not synced" in output
