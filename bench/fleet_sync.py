"""Benchmark: one sync cycle over a simulated fleet, our asyncio collector against a faithful
model of the seed design (a pool of 15 threads, blocking gRPC calls, one meter per thread).

    python bench/fleet_sync.py [--meters 10000] [--latency 0.2] [--parallel 1000]

`flows simulate` (every meter answers after a fixed latency) and `flows mediator` (no gap
between requests to one meter) run as separate processes on loopback; both collectors run the
same requests (SyncerReads: element A and, on twin-element meters, element B; three-phase
totals) and write the same shadows into one SQLite database. Prints wall times and the ratio
(ours: the median of `--repeat` cycles, since on a small machine its CPU-bound time varies).
An untimed cycle first warms the simulator up (it computes a meter's history on its first read).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc

from flows import eventloop
from flows.collect import sync_cycle
from flows.db import Database, connect, migrate, registry, shadows
from flows.devtools.processes import FLOWS_COMMAND, free_port, start_flows, stop_flows
from flows.emop import records
from flows.emop.messages import ObjectId
from flows.emop.records import ElementRegisters
from flows.mediator import MediatorClient
from flows.mediator.proto import mediator_pb2 as pb
from flows.mediator.proto import mediator_pb2_grpc as pb_grpc
from flows.meterdata import Hardware

SEED_THREADS = 15
FREQUENCY = "hourly"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def prepare_database(path: Path, registry_csv: Path) -> str:
    url = f"sqlite:///{path}"
    db = connect(url)
    migrate(db)
    db.close()
    import subprocess

    subprocess.run([*FLOWS_COMMAND, "meters", "import", str(registry_csv), "--create-escos",
                    "--database", url], check=True, capture_output=True)
    db = connect(url)
    for row in registry.metrics(db):
        registry.set_metric(db, row["name"], enabled=False)
    registry.set_metric(db, "SyncerReads", enabled=True, frequency=FREQUENCY)
    db.close()
    return url


def synced_since(db: Database, moment: datetime) -> int:
    rows = db.query("SELECT count(*) AS n FROM meter_shadows WHERE health = 'healthy' "
                    "AND reads_at >= :t", {"t": moment})
    return int(rows[0]["n"])


# Ours ---------------------------------------------------------------------------------------


def run_ours(url: str, mediator: str, parallel: int) -> tuple[float, int]:
    db = connect(url)
    started_at = datetime.now(UTC)

    async def main() -> float:
        async with MediatorClient(mediator, max_in_flight=parallel) as client:
            started = time.perf_counter()
            summary = await sync_cycle(db, client, FREQUENCY, parallel=parallel, collector="bench")
            elapsed = time.perf_counter() - started
            assert summary.unhealthy == 0, summary.problems
            return elapsed

    elapsed = eventloop.run(main())
    return elapsed, synced_since(db, started_at)


# The seed design ----------------------------------------------------------------------------


class SeedModel:
    """MeterSyncAllJob: the active meters, then ThreadPoolExecutor(max_workers=15), each job a
    MeterSyncJob: the enabled metrics for the frequency, then each syncer in turn (blocking
    gRPC reads through the mediator, then an UPDATE of meter_shadows; failures: unhealthy)."""

    def __init__(self, url: str, mediator: str) -> None:
        self.url = url
        self.channel = grpc.insecure_channel(mediator)
        self.stub = pb_grpc.EmliteMediatorServiceStub(self.channel)
        self.local = threading.local()

    def db(self) -> Database:
        if not hasattr(self.local, "db"):
            self.local.db = connect(self.url)  # a client per thread, as supabase-py in threads
        return self.local.db  # type: ignore[no-any-return]

    def read(self, serial: str, object_id: int) -> bytes:
        reply = self.stub.readElement(pb.ReadElementRequest(serial=serial, objectId=object_id),
                                      timeout=75)
        return bytes(reply.response)

    def syncer_reads(self, meter: registry.Meter) -> dict[str, Any]:
        now = datetime.now(UTC)
        if meter.hardware in ("P1.ax", "P1.cx"):
            scale = 10000 if meter.hardware == "P1.cx" else 1
            imported = records.decode_u4(self.read(meter.serial,
                                                   ObjectId.THREE_PHASE_TOTAL_ACTIVE_IMPORT))
            exported = records.decode_u4(self.read(meter.serial,
                                                   ObjectId.THREE_PHASE_TOTAL_ACTIVE_EXPORT))
            return {"import_a": imported / scale / 1000, "export_a": exported / scale / 1000,
                    "reads_at": now}
        a = ElementRegisters.decode(self.read(meter.serial, ObjectId.ELEMENT_A))
        values = {"import_a": a.import_active / 1000, "export_a": a.export_active / 1000,
                  "reads_at": now}
        if meter.kind is Hardware.C1_W:
            b = ElementRegisters.decode(self.read(meter.serial, ObjectId.ELEMENT_B))
            values |= {"import_b": b.import_active / 1000, "export_b": b.export_active / 1000}
        return values

    def run_job(self, meter: registry.Meter) -> None:
        db = self.db()
        for name in registry.enabled_metrics(db, FREQUENCY):
            if name != "SyncerReads":
                continue
            try:
                values = self.syncer_reads(meter)
            except grpc.RpcError as error:
                shadows.update_shadow_unhealthy(db, meter.id, str(error))
                return
            shadows.update_shadow_healthy(db, meter.id, values)

    def run(self) -> tuple[float, int]:
        db = connect(self.url)
        started_at = datetime.now(UTC)
        started = time.perf_counter()
        meters = registry.meters(db, active_only=True)
        with concurrent.futures.ThreadPoolExecutor(max_workers=SEED_THREADS) as executor:
            for future in [executor.submit(self.run_job, meter) for meter in meters]:
                future.result()
        elapsed = time.perf_counter() - started
        self.channel.close()
        return elapsed, synced_since(db, started_at)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.2, help="meter latency, seconds")
    parser.add_argument("--parallel", type=int, default=1000, help="our collector's meters in flight")
    parser.add_argument("--repeat", type=int, default=3,
                        help="timed cycles of ours (the median is compared; the seed's run is "
                             "bound by waiting, not CPU, and runs once)")
    parser.add_argument("--skip-seed", action="store_true", help="only our collector")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        registry_csv = Path(tmp) / "meters.csv"
        fleet = start_flows(["simulate", "--meters", str(args.meters), "--port", "0",
                             "--shared-host", "--latency", str(args.latency),
                             "--registry", str(registry_csv)], "meters ready")
        port = free_port()
        mediator = start_flows(["mediator", "--meters", str(registry_csv), "--listen",
                                f"127.0.0.1:{port}", "--min-gap", "0"], "mediator listening")
        try:
            url = prepare_database(Path(tmp) / "flows.db", registry_csv)
            target = f"127.0.0.1:{port}"
            db = connect(url)
            requests = sum(1 if m.kind is not Hardware.C1_W else 2
                           for m in registry.meters(db, active_only=True))
            print(f"fleet sync: {args.meters} simulated meters, {args.latency * 1000:g} ms per "
                  f"request, SyncerReads ({requests} requests), SQLite")
            # The simulator computes each meter's consumption history on its first read: one
            # untimed cycle first, so neither timed run pays for the simulation's warm-up.
            run_ours(url, target, args.parallel)
            processes = [os.getpid(), mediator.pid, fleet.pid]
            before = [cpu_seconds(pid) for pid in processes]
            runs = [run_ours(url, target, args.parallel) for _ in range(args.repeat)]
            cpu = [(cpu_seconds(pid) - start) / args.repeat for pid, start in zip(processes, before)]
            ours = statistics.median(seconds for seconds, _ in runs)
            ours_synced = min(synced for _, synced in runs)
            rows = [(f"flows collector (asyncio, {args.parallel} in flight)", ours, ours_synced)]
            if not args.skip_seed:
                seed, seed_synced = SeedModel(url, target).run()
                rows.append((f"seed design ({SEED_THREADS} threads, blocking)", seed, seed_synced))
            print(f"{'':45}{'wall time (s)':>14}{'meters synced':>15}")
            for name, seconds, synced in rows:
                print(f"{name:45}{seconds:>14.1f}{synced:>15,}")
            if not args.skip_seed:
                print(f"{'ratio':45}{rows[1][1] / ours:>13.1f}x")
            if args.repeat > 1:
                print(f"our {args.repeat} cycles: " + ", ".join(f"{seconds:.1f}" for seconds, _ in runs)
                      + " s (the median above)")
            print("CPU seconds per cycle of ours: collector {:.1f}, mediator {:.1f}, simulated "
                  "fleet {:.1f}".format(*cpu))
        finally:
            stop_flows(mediator)
            stop_flows(fleet)


if __name__ == "__main__":
    main()
