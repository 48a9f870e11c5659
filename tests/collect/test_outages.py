"""Infrastructure faults are not meter faults: collectors ride out a PostgreSQL restart, a
mediator outage, a locked SQLite file and a frozen peer collector — every meter synced exactly
once in its cycle, none recorded unhealthy because of our own outage, nothing hangs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from flows.collect import CycleSummary, sync_cycle
from flows.db import Database, UnavailableError, claims, connect, cycles, migrate, registry
from flows.devtools.postgres import TemporaryCluster
from flows.devtools.processes import FLOWS_COMMAND
from flows.mediator import MediatorClient
from flows.mediator.directory import DatabaseDirectory, RegistryUnavailable
from flows.mediator.links import MeterLinks
from flows.mediator.server import Metrics, start_server
from flows.meters import FleetServer, SimClock, VirtualMeter, build_fleet
from tests.collect.fleet import PATIENT, START, fleet_behind_mediator, only_metric

METERS = 40


@pytest.fixture
def cluster() -> Iterator[TemporaryCluster]:
    """A PostgreSQL cluster of the test's own: it gets restarted."""
    own = TemporaryCluster()
    try:
        yield own
    finally:
        own.stop()


def _fleet(count: int = METERS) -> list[VirtualMeter]:
    return [m for m in build_fleet(count, seed=3, start=START) if not m.three_phase]


class Mediator:
    """A real gRPC mediator in front of the fleet that can be stopped and started again on
    the same port (an outage as a restart would make one)."""

    def __init__(self, fleet: FleetServer, port: int = 0) -> None:
        self.addresses = {e.meter.serial: (e.host, e.port) for e in fleet.endpoints}
        self.port = port
        self.server: object = None

    async def _resolve(self, serial: str) -> tuple[str, int] | None:
        return self.addresses.get(serial)

    async def start(self) -> None:
        server, self.port = await start_server(f"127.0.0.1:{self.port}",
                                               MeterLinks(self._resolve, PATIENT), Metrics.create())
        self.server = server

    async def stop(self) -> None:
        await self.server.stop(None)  # type: ignore[attr-defined]

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def running_fleet(db: Database, meters: list[VirtualMeter]) -> AsyncIterator[Mediator]:
    async with FleetServer(meters, SimClock(START, speed=0), port=0, own_addresses=False) as fleet:
        with db.transaction():
            for endpoint in fleet.endpoints:
                registry.add_meter(db, endpoint.meter.serial, endpoint.host,
                                   endpoint.meter.hardware, None, port=endpoint.port)
        mediator = Mediator(fleet)
        await mediator.start()
        try:
            yield mediator
        finally:
            await mediator.stop()


def _assert_each_meter_once_and_healthy(db: Database, cycle_id: int, count: int) -> None:
    done = db.query("SELECT meter_id, healthy FROM sync_cycle_meters WHERE cycle_id = :c",
                    {"c": cycle_id})
    assert len(done) == count and all(row["healthy"] for row in done)
    reads = db.query("SELECT register_id, count(*) AS n FROM register_import GROUP BY register_id")
    assert len(reads) >= count and {int(row["n"]) for row in reads} == {1}
    unhealthy = db.query("SELECT count(*) AS n FROM meter_health_history WHERE health = 'unhealthy'")
    assert unhealthy[0]["n"] == 0


@pytest.mark.slow
def test_a_postgres_restart_mid_cycle_delays_meters_but_loses_none(cluster: TemporaryCluster) -> None:
    db = connect(cluster.url)
    migrate(db)
    only_metric(db, "daily", "SyncerReads")
    meters = _fleet()

    async def main() -> int:
        async with running_fleet(db, meters) as mediator, MediatorClient(mediator.target) as client:
            loop = asyncio.get_running_loop()
            restarted: list[asyncio.Future[None]] = []

            def progress(done: int, total: int) -> None:
                if done >= 5 and not restarted:  # in the middle of the cycle
                    restarted.append(loop.run_in_executor(None, cluster.restart, 1.0))

            summary = await sync_cycle(db, client, "daily", parallel=4, progress=progress)
            await asyncio.gather(*restarted)
            assert restarted, "the cycle ended before the restart"
            assert summary.ok == len(meters) and summary.unhealthy == 0, summary
            assert summary.left == 0 and summary.skipped == 0 and summary.retries > 0
            return summary.cycle_id

    cycle_id = asyncio.run(main())
    _assert_each_meter_once_and_healthy(db, cycle_id, len(meters))


@pytest.mark.slow
def test_a_mediator_outage_leaves_health_alone_and_meters_pending(tmp_path: Path) -> None:
    db = connect(f"sqlite:///{tmp_path / 'flows.db'}")
    migrate(db)
    only_metric(db, "daily", "SyncerReads")
    meters = _fleet()

    async def main() -> int:
        async with running_fleet(db, meters) as mediator, MediatorClient(
                mediator.target, deadline_s=10) as client:
            outage: list[asyncio.Task[None]] = []

            async def down_and_up() -> None:
                await mediator.stop()
                await asyncio.sleep(1.5)  # the outage itself: the mediator is away this long
                await mediator.start()

            def progress(done: int, total: int) -> None:
                if done >= 5 and not outage:
                    outage.append(asyncio.get_running_loop().create_task(down_and_up()))

            summary = await sync_cycle(db, client, "daily", parallel=4, progress=progress)
            await asyncio.gather(*outage)
            assert outage and summary.retries > 0
            assert summary.ok == len(meters) and summary.unhealthy == 0, summary.problems
            return summary.cycle_id

    cycle_id = asyncio.run(main())
    _assert_each_meter_once_and_healthy(db, cycle_id, len(meters))


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["locked", "read-only"])
def test_a_locked_or_read_only_sqlite_file_is_waited_out(tmp_path: Path, fault: str) -> None:
    path = tmp_path / "flows.db"
    db = connect(f"sqlite:///{path}")
    migrate(db)
    db.raw.execute("PRAGMA busy_timeout=100")  # give up on a lock quickly: the outage path
    only_metric(db, "daily", "SyncerReads")
    meters = _fleet()
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    released = threading.Event()

    def hold_the_lock() -> None:
        if fault == "read-only":
            return
        other.execute("BEGIN EXCLUSIVE")
        released.wait(1.5)
        other.execute("COMMIT")

    async def main() -> int:
        async with running_fleet(db, meters) as mediator, MediatorClient(mediator.target) as client:
            holder: list[threading.Thread] = []

            def progress(done: int, total: int) -> None:
                if done >= 5 and not holder:
                    if fault == "read-only":  # its writes fail until it reconnects
                        db.raw.execute("PRAGMA query_only=ON")
                    holder.append(threading.Thread(target=hold_the_lock))
                    holder[0].start()

            summary = await sync_cycle(db, client, "daily", parallel=4, progress=progress)
            holder[0].join()
            assert summary.ok == len(meters) and summary.unhealthy == 0, summary.problems
            assert summary.skipped == 0 and summary.left == 0 and summary.retries > 0
            assert "skipped" in summary.line() and "-" not in summary.line().split("skipped")[0]
            return summary.cycle_id

    cycle_id = asyncio.run(main())
    _assert_each_meter_once_and_healthy(db, cycle_id, len(meters))


@pytest.mark.slow
def test_the_mediator_registry_reconnects_after_a_postgres_restart(cluster: TemporaryCluster) -> None:
    db = connect(cluster.url)
    migrate(db)
    registry.add_meter(db, "EML1", "127.0.0.1", "C1.w", None, port=8001)
    directory = DatabaseDirectory(db, reload_s=0.0)

    async def main() -> None:
        assert await directory("EML1") == ("127.0.0.1", 8001)
        cluster.restart()
        assert await directory("EML1") == ("127.0.0.1", 8001)  # reconnected, read again
        assert directory.info("EML1") is not None
        # While PostgreSQL is down: known meters are answered from the last read; others are
        # an outage of ours (UNAVAILABLE), never "unknown meter".
        cluster.shut_down()
        assert await directory("EML1") == ("127.0.0.1", 8001)
        with pytest.raises(RegistryUnavailable) as raised:
            await directory("EML2")
        assert raised.value.status == "UNAVAILABLE"

    asyncio.run(main())


@pytest.mark.slow
def test_a_frozen_collector_loses_its_claims_and_its_meters_are_taken_over(
        cluster: TemporaryCluster, tmp_path: Path) -> None:
    db = connect(cluster.url)
    migrate(db)
    only_metric(db, "daily", "SyncerReads")
    meters = _fleet()

    log = tmp_path / "frozen.log"  # a file: a pipe nobody reads could block the collector

    async def main() -> None:
        async with running_fleet(db, meters) as mediator, MediatorClient(mediator.target) as client:
            frozen = subprocess.Popen(
                [*FLOWS_COMMAND, "sync", "--frequency", "daily", "--database", cluster.url,
                 "--mediator", mediator.target, "--parallel", "3", "--collector", "frozen",
                 "--json-logs"], env={**os.environ, "FLOWS_CLAIM_TIMEOUT": "3"},
                stdout=subprocess.DEVNULL, stderr=log.open("w"), text=True)
            try:
                deadline = time.monotonic() + 60
                while not await asyncio.to_thread(db.query, "SELECT 1 AS done FROM "
                                                  "sync_cycle_meters LIMIT 1"):
                    assert time.monotonic() < deadline and frozen.poll() is None
                frozen.send_signal(signal.SIGSTOP)  # alive, connected, holding its claims
                started = time.monotonic()
                summary = await sync_cycle(db, client, "daily", parallel=8, collector="other")
                took_over = time.monotonic() - started
                frozen.send_signal(signal.SIGCONT)
                # Waited for in a thread: the mediator it still talks to runs on this loop.
                assert await asyncio.to_thread(frozen.wait, 60) == 0, log.read_text()
            finally:
                with contextlib.suppress(ProcessLookupError):
                    frozen.send_signal(signal.SIGCONT)
                    frozen.kill()
            assert took_over < 3 + 15, took_over  # the claim timeout, then the meters themselves
            assert summary.unhealthy == 0 and summary.left == 0
            done = db.query("SELECT collector, healthy FROM sync_cycle_meters WHERE cycle_id = :c",
                            {"c": summary.cycle_id})
            assert len(done) == len(meters) and all(row["healthy"] for row in done)
            assert {row["collector"] for row in done} == {"frozen", "other"}
            reads = db.query("SELECT count(*) AS n FROM register_import GROUP BY register_id")
            assert {int(row["n"]) for row in reads} == {1}  # nobody wrote a meter twice

    asyncio.run(main())


@pytest.mark.slow
def test_sigterm_ends_a_collector_waiting_for_a_database_that_is_gone(
        cluster: TemporaryCluster, tmp_path: Path) -> None:
    db = connect(cluster.url)
    migrate(db)
    only_metric(db, "hourly", "SyncerCsq")
    registry.add_meter(db, "EML1", "127.0.0.1", "C1.w", None, port=1)
    db.close()
    collector = subprocess.Popen(
        [*FLOWS_COMMAND, "scheduler", "--database", cluster.url, "--mediator", "127.0.0.1:1",
         "--jitter", "0", "--json-logs"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True)
    def wait_for_outage_of(dependency: str) -> None:
        assert collector.stderr is not None
        for line in collector.stderr:
            event = json.loads(line)
            if event.get("event") == "outage" and event.get("dependency") == dependency:
                return
        raise AssertionError(f"the collector ended before an outage of the {dependency}")

    try:
        wait_for_outage_of("mediator")  # nothing listens there: meters stay pending
        cluster.shut_down()
        wait_for_outage_of("database")
        collector.send_signal(signal.SIGTERM)
        started = time.monotonic()
        collector.wait(timeout=30)
        assert time.monotonic() - started < 12  # the stated grace (10 s) and a little
    finally:
        collector.kill()


def test_unavailable_is_what_a_stopped_database_raises(cluster: TemporaryCluster) -> None:
    db = connect(cluster.url)
    cluster.restart()
    with pytest.raises(UnavailableError, match="unavailable"):
        db.query("SELECT 1 AS one")
    db.reconnect()
    assert db.query("SELECT 1 AS one") == [{"one": 1}]


@pytest.mark.slow
def test_sigterm_ends_a_collector_whose_mediator_is_frozen_within_the_grace(
        tmp_path: Path) -> None:
    """A peer that accepts connections but never answers (a frozen mediator): meters in flight
    would wait for the 75 s deadline; SIGTERM ends the collector after its 10 s grace."""
    url = f"sqlite:///{tmp_path / 'flows.db'}"
    db = connect(url, create=True)
    migrate(db)
    only_metric(db, "hourly", "SyncerCsq")
    for n in range(3):
        registry.add_meter(db, f"EML{n}", f"127.0.0.{n + 1}", "C1.w", None)
    db.close()
    frozen_peer = socket.create_server(("127.0.0.1", 0))  # listens, never accepts or answers
    log = tmp_path / "collector.log"
    collector = subprocess.Popen(
        [*FLOWS_COMMAND, "sync", "--frequency", "hourly", "--database", url, "--mediator",
         f"127.0.0.1:{frozen_peer.getsockname()[1]}", "--json-logs"],
        stdout=subprocess.DEVNULL, stderr=log.open("w"))
    try:
        deadline = time.monotonic() + 30
        while "cycle_joined" not in log.read_text():  # waiting for an outcome, with a deadline
            assert time.monotonic() < deadline and collector.poll() is None, log.read_text()
            time.sleep(0.05)
        collector.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert collector.wait(timeout=30) == 1
        assert time.monotonic() - started < 10 + 3
        assert "stopped_hard" in log.read_text()
    finally:
        collector.kill()
        frozen_peer.close()


class CycleBehindFrozenPeer:
    """An hourly sync cycle of ``meters`` in a thread of its own, started (`go`) once the test
    has frozen a session of its own in the way (`frozen_mid_statement`)."""

    def __init__(self, db: Database, meters: list[VirtualMeter], **options: Any) -> None:
        self.registered, self._go = threading.Event(), threading.Event()
        self.summaries: list[CycleSummary] = []
        self.thread = threading.Thread(target=asyncio.run,
                                       args=(self._collect(db, meters, options),))

    async def _collect(self, db: Database, meters: list[VirtualMeter],
                       options: dict[str, Any]) -> None:
        async with fleet_behind_mediator(db, meters, PATIENT) as running, MediatorClient(
                running.mediator, deadline_s=30) as client:
            self.registered.set()
            self._go.wait(30)
            self.summaries.append(await sync_cycle(db, client, "hourly", parallel=len(meters),
                                                   **options))

    def start(self) -> None:
        """The fleet and its mediator up, the meters registered; the cycle waits for `go`."""
        self.thread.start()
        assert self.registered.wait(30)

    def go(self, blocked_by: str) -> CycleSummary:
        self._go.set()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), f"the collector still waits for {blocked_by}"
        (summary,) = self.summaries
        return summary


@contextlib.contextmanager
def frozen_mid_statement(session: psycopg.Connection[Any]) -> Iterator[None]:
    """``session`` in the middle of a COPY, waiting for its client (as a process frozen there
    leaves it: no idle timeout applies) while the block runs; ended by then."""
    with pytest.raises(psycopg.OperationalError), session.cursor() as cursor, \
            cursor.copy("COPY flows.register_value_changes (seq) FROM STDIN"):
        yield


def test_a_writer_frozen_holding_the_numbering_lock_does_not_stop_collection(
        migrated_postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A session frozen mid-statement (here mid-COPY) in a transaction that logged a change
    holds the change log's numbering lock: every other writer waits for it. A collector gives
    its wait up after the claim timeout, ends that session, and its meters are written."""
    monkeypatch.setattr(claims, "CLAIM_TIMEOUT_S", 1)
    db = connect(migrated_postgres_url)
    only_metric(db, "hourly", "SyncerReads")
    meters = _fleet(6)
    cycle = CycleBehindFrozenPeer(db, meters)
    with psycopg.connect(migrated_postgres_url) as frozen:
        cycle.start()
        frozen.execute("SELECT flows.next_change()")  # the numbering lock, to its commit
        with frozen_mid_statement(frozen):
            summary = cycle.go("the numbering lock")
    assert summary.ok == len(meters) and summary.retries >= 1
    assert db.query("SELECT count(*) AS n FROM register_import")[0]["n"] >= len(meters)


def test_a_collector_frozen_mid_statement_holding_a_meters_claim_is_ended_by_a_peer(
        migrated_postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A collector frozen mid-statement keeps its session — and its claims on meters — active:
    no idle timeout ends it. A live collector with nothing else left ends it once the claim
    timeout has passed and syncs its meter (before, it waited for that meter for ever)."""
    monkeypatch.setattr(claims, "CLAIM_TIMEOUT_S", 1)
    db = connect(migrated_postgres_url)
    only_metric(db, "hourly", "SyncerReads")
    meters = _fleet(4)
    cycle_run = CycleBehindFrozenPeer(db, meters, wait_for_others_s=0.2)
    with psycopg.connect(migrated_postgres_url, autocommit=True) as frozen:
        cycle_run.start()
        cycle = cycles.join_cycle(db, "hourly", "all")
        held = registry.meter_id(db, meters[0].serial)
        frozen.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (f"{cycle.id}:{held}",))
        with frozen_mid_statement(frozen):
            summary = cycle_run.go("the frozen peer's meter")
    assert summary.cycle_id == cycle.id and summary.ok == len(meters)
