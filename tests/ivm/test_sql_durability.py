"""SQL stores: one iteration is one transaction — a failed or killed iteration leaves the store
exactly as it was; two writer processes serialise without losing or double-counting updates."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import flows.ivm as st
from tests.ivm import workload

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if request.param == "sqlite":
        return "sqlite", str(tmp_path / "store.db")
    return "postgres", request.getfixturevalue("postgres_url")


def start_worker(kind: str, where: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.ivm.workload", kind, where, *args],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def cached(kind: str, where: str) -> dict[Any, int]:
    store = workload.open_store(kind, where)
    return dict(workload.daily_cache.zset(store).iter())


def test_killed_inside_an_iteration_changes_nothing(target: tuple[str, str]) -> None:
    kind, where = target
    store = workload.open_store(kind, where, create=True)
    (i_reads,) = st.actions(store, st.compile(workload.daily_usage))
    i_reads.insert(*workload.make_reads(0, 100))
    before = dict(workload.daily_cache.zset(store).iter())

    worker = start_worker(kind, where, "block")
    assert worker.stdout is not None and worker.stdout.readline() == "inside\n"
    worker.send_signal(signal.SIGKILL)
    worker.wait()

    assert cached(kind, where) == before == workload.expected_daily(workload.make_reads(0, 100))
    i_reads.insert(*workload.make_reads(100, 10))  # the store still works, from this process too
    assert cached(kind, where) == workload.expected_daily(workload.make_reads(0, 110))


def test_killed_at_random_moments_keeps_whole_iterations(target: tuple[str, str]) -> None:
    kind, where = target
    workload.open_store(kind, where, create=True)
    rng = random.Random(7)
    done = 0  # reads known committed
    for _ in range(4 if kind == "sqlite" else 2):
        worker = start_worker(kind, where, "insert", str(done), "100000", "50")
        assert worker.stdout is not None
        lines_before_kill = rng.randint(1, 15)
        last = 0
        for _ in range(lines_before_kill):
            last = int(worker.stdout.readline().split()[1])
        # Kill while it keeps iterating: anywhere in an iteration, commits included.
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        # Every commit it reported is in the pipe (printed and flushed after the commit): the
        # store holds the last one reported, or one more committed before its line was printed.
        # (This process may be far behind the worker on a loaded machine: read them all.)
        for line in worker.stdout.read().splitlines():
            last = int(line.split()[1])
        seen = cached(kind, where)
        candidates = [done + last, done + last + 50]
        matches = [n for n in candidates if seen == workload.expected_daily(workload.make_reads(0, n))]
        assert matches, f"the store holds no whole number of iterations after the kill (from {done})"
        done = matches[0]
    store = workload.open_store(kind, where)
    (i_reads,) = st.actions(store, st.compile(workload.daily_usage))
    i_reads.insert(*workload.make_reads(done, 5))
    assert cached(kind, where) == workload.expected_daily(workload.make_reads(0, done + 5))


def test_two_writers_serialise(target: tuple[str, str]) -> None:
    kind, where = target
    workload.open_store(kind, where, create=True)
    # Both write single-read iterations into the same groups (meter n % 7, day n % 5).
    workers = [start_worker(kind, where, "insert", str(start), "200", "1", "1")
               for start in (0, 200)]
    for worker in workers:
        assert worker.stdout is not None and worker.stdout.readline() == "ready\n"
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    for worker in workers:
        out, _ = worker.communicate(timeout=240)
        assert worker.returncode == 0 and out.splitlines()[-1] == "committed 200"
    assert cached(kind, where) == workload.expected_daily(workload.make_reads(0, 400))
