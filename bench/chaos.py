"""Chaos benchmark: collectors, the mediator and the views' followers on PostgreSQL while a
driver breaks things at random, then an account of what was lost, doubled or wrongly blamed.

    python bench/chaos.py [--meters 300] [--minutes 5] [--followers 3] [--seed 1]

A simulated fleet (no meter faults: every meter should end healthy), `flows mediator
--database`, ``--followers`` `flows views follow` processes sharing the views' shards, and
rounds of sync cycles, each run by two `flows sync` collectors sharing it. Meanwhile, every few
seconds, one fault: PostgreSQL restarted, the mediator killed (SIGKILL) and started again, a
collector frozen (SIGSTOP) for a while, a follower killed and started again, a follower frozen
for a while. At the end: readings taken against expected (meters x
cycles), duplicates (a meter recorded twice in a cycle, or a reading without its record),
meters wrongly marked unhealthy (any: the fleet has no faults), the views against a rebuild
from the tables, and how long each kind of fault took to recover from (fault over → the next
meter recorded).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flows.db import Database, connect, customers, migrate, registry
from flows.devtools.postgres import TemporaryCluster
from flows.devtools.processes import FLOWS_COMMAND, free_port, start_flows, start_flows_line

CLAIM_TIMEOUT_S = 10
FAULTS = ("postgres", "mediator", "freeze", "follower", "freeze-follower")


def flows(*args: str, env: dict[str, str] | None = None, **popen: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([*FLOWS_COMMAND, *args], text=True, env=env, **popen)


class System:
    """The processes under test, each restartable."""

    def __init__(self, directory: Path, meters: int, followers: int) -> None:
        self.cluster = TemporaryCluster()
        self.url = self.cluster.url
        registry_csv = directory / "meters.csv"
        self.fleet = start_flows(["simulate", "--meters", str(meters), "--seed", "7", "--port",
                                  "0", "--shared-host", "--registry", str(registry_csv)],
                                 "meters ready")
        db = connect(self.url)
        migrate(db)
        subprocess.run([*FLOWS_COMMAND, "meters", "import", str(registry_csv), "--create-escos",
                        "--database", self.url], check=True, capture_output=True)
        with db.transaction():
            for n, meter in enumerate(registry.meters(db)):
                customers.add_customer(db, f"C{n}")
                customers.link_meter(db, f"C{n}", meter.serial, datetime(2020, 1, 1, tzinfo=UTC))
        for row in db.query("SELECT name FROM meter_metrics"):  # a quick, telling cycle
            wanted = row["name"] in ("SyncerReads", "SyncerCsq", "SyncerPrepayBalance")
            registry.set_metric(db, row["name"], enabled=wanted, frequency="hourly")
        db.close()
        self.mediator_port = free_port()
        self.mediator: subprocess.Popen[str] | None = None
        self.followers: list[subprocess.Popen[str] | None] = [None] * followers
        self.collectors: list[subprocess.Popen[str]] = []
        self.start_mediator()
        for n in range(followers):
            self.start_follower(n)

    def start_mediator(self) -> None:
        self.mediator = start_flows_line(
            ["mediator", "--listen", f"127.0.0.1:{self.mediator_port}", "--database", self.url,
             "--min-gap", "0"], "mediator listening")[0]

    def start_follower(self, n: int) -> None:
        env = {**os.environ, "FLOWS_CLAIM_TIMEOUT": str(CLAIM_TIMEOUT_S)}
        self.followers[n] = flows("views", "follow", "--poll", "1", "--database", self.url,
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start_collectors(self) -> None:
        env = {**os.environ, "FLOWS_CLAIM_TIMEOUT": str(CLAIM_TIMEOUT_S)}
        self.collectors = [
            flows("sync", "--frequency", "hourly", "--database", self.url, "--mediator",
                  f"127.0.0.1:{self.mediator_port}", "--parallel", "50", "--collector",
                  f"collector-{n}", "--json-logs", env=env, stdout=subprocess.DEVNULL,
                  stderr=subprocess.DEVNULL)
            for n in (1, 2)]

    def stop(self) -> None:
        for process in (*self.collectors, *self.followers, self.mediator, self.fleet):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
                process.wait()
        self.cluster.stop()


class Driver:
    """Injects one fault at a time, every few seconds, until stopped; notes when each ended."""

    def __init__(self, system: System, rng: random.Random) -> None:
        self.system, self.rng = system, rng
        self.stopping = threading.Event()
        self.ended: list[tuple[str, datetime]] = []  # (fault, when it was over)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _pause(self, low: float, high: float) -> None:
        self.stopping.wait(self.rng.uniform(low, high))

    def _run(self) -> None:
        faults: dict[str, Callable[[], None]] = {
            "postgres": self._restart_postgres, "mediator": self._restart_mediator,
            "freeze": self._freeze_collector, "follower": self._restart_follower,
            "freeze-follower": self._freeze_follower}
        while not self.stopping.is_set():
            self._pause(3, 10)
            if self.stopping.is_set():
                return
            kind = self.rng.choice(FAULTS)
            faults[kind]()
            self.ended.append((kind, datetime.now(UTC)))

    def _restart_postgres(self) -> None:
        self.system.cluster.restart(down_s=self.rng.uniform(1, 5))

    def _restart_mediator(self) -> None:
        mediator = self.system.mediator
        assert mediator is not None
        mediator.kill()
        mediator.wait()
        self._pause(1, 5)
        self.system.start_mediator()

    def _freeze_collector(self) -> None:
        running = [c for c in self.system.collectors if c.poll() is None]
        if not running:
            return
        frozen = self.rng.choice(running)
        frozen.send_signal(signal.SIGSTOP)
        self._pause(5, 3 * CLAIM_TIMEOUT_S)
        frozen.send_signal(signal.SIGCONT)

    def _restart_follower(self) -> None:
        n = self.rng.randrange(len(self.system.followers))
        follower = self.system.followers[n]
        assert follower is not None
        follower.kill()
        follower.wait()
        self._pause(1, 3)
        self.system.start_follower(n)

    def _freeze_follower(self) -> None:
        follower = self.rng.choice(self.system.followers)
        assert follower is not None
        follower.send_signal(signal.SIGSTOP)  # its shards go to the others once its claims expire
        self._pause(5, 3 * CLAIM_TIMEOUT_S)
        follower.send_signal(signal.SIGCONT)


def recovery_times(db: Database, ended: list[tuple[str, datetime]]) -> dict[str, list[float]]:
    """Per fault kind: seconds from the fault being over to the next meter recorded."""
    times: dict[str, list[float]] = defaultdict(list)
    for kind, when in ended:
        if kind in ("follower", "freeze-follower"):  # the views: not recorded per meter
            continue
        row = db.query("SELECT min(finished_at) AS t FROM sync_cycle_meters WHERE finished_at > :w",
                       {"w": when})[0]
        if row["t"] is not None:
            times[kind].append((row["t"] - when).total_seconds())
    return times


def views_snapshot(db: Database) -> list[dict[str, Any]]:
    return db.query("SELECT meter_id, direction, day, wh, actual, estimated, invalid, invalid_wh "
                    "FROM usage_meter_daily ORDER BY meter_id, direction, day")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=300)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--followers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        system = System(Path(tmp), args.meters, args.followers)
        driver = Driver(system, random.Random(args.seed))
        try:
            driver.thread.start()
            deadline = time.monotonic() + 60 * args.minutes
            rounds = 0
            hung = 0
            while time.monotonic() < deadline:
                system.start_collectors()
                hung += wait_for(system.collectors)
                rounds += 1
            driver.stopping.set()
            driver.thread.join()
            system.start_collectors()  # one more, fault-free: what was left is synced now
            hung += wait_for(system.collectors)
            for follower in system.followers:
                assert follower is not None
                follower.send_signal(signal.SIGTERM)
                follower.wait(60)
            subprocess.run([*FLOWS_COMMAND, "views", "update", "--database", system.url],
                           check=True, capture_output=True)
            db = connect(system.url)
            report(db, system, driver, args.meters, hung)
        finally:
            system.stop()


def wait_for(collectors: list[subprocess.Popen[str]], timeout_s: float = 600) -> int:
    """Wait for the collectors to end; how many did not within ``timeout_s`` (then killed)."""
    hung = 0
    for collector in collectors:
        try:
            collector.wait(timeout_s)
        except subprocess.TimeoutExpired:
            hung += 1
            collector.kill()
            collector.wait()
    return hung


def report(db: Database, system: System, driver: Driver, meters: int, hung: int) -> None:
    cycles = db.query("SELECT id FROM sync_cycles WHERE finished_at IS NOT NULL AND NOT abandoned")
    recorded = int(db.query("SELECT count(*) AS n FROM sync_cycle_meters")[0]["n"])
    expected = meters * len(cycles)
    readings = int(db.query("SELECT count(*) AS n FROM meter_csq")[0]["n"])
    wrongly_unhealthy = int(db.query("SELECT count(DISTINCT meter_id) AS n FROM "
                                     "meter_health_history WHERE health = 'unhealthy'")[0]["n"])
    before = views_snapshot(db)
    subprocess.run([*FLOWS_COMMAND, "views", "rebuild", "--database", system.url], check=True,
                   capture_output=True)
    views_differ = sum(1 for a, b in zip(before, views_snapshot(db), strict=False) if a != b) + abs(
        len(before) - len(views_snapshot(db)))
    print(f"chaos on PostgreSQL: {meters} meters, {len(cycles)} cycles, "
          f"{len(driver.ended)} faults ({', '.join(sorted({k for k, _ in driver.ended}))})")
    print(f"{'readings recorded / expected':44}{recorded:>8} / {expected}")
    print(f"{'lost (expected - recorded)':44}{expected - recorded:>8}")
    print(f"{'duplicates (readings - recorded)':44}{readings - recorded:>8}")
    print(f"{'meters wrongly marked unhealthy':44}{wrongly_unhealthy:>8}")
    print(f"{'collectors that hung (killed after 10 min)':44}{hung:>8}")
    print(f"{'views days differing from a rebuild':44}{views_differ:>8}")
    for kind, seconds in sorted(recovery_times(db, driver.ended).items()):
        print(f"{'recovery after ' + kind + ', s (median / max)':44}"
              f"{statistics.median(seconds):>8.1f} / {max(seconds):.1f}")


if __name__ == "__main__":
    main()
