"""Benchmark: the seed query in memory on flows.ivm, stepping and Pathway, side by side.

    python bench/ivm_vs_peers.py [--reads 100000 1000000] [--single 100000 1000000] [--engines ...]

The seed query (users ⋈ meters ⋈ half-hourly reads → daily sum per user, meter and day; see
`ivm_meter_reads.py`) over 1,000 meters, reads in time order: in batches of 1,000 (one half
hour across the fleet per batch) and one read per call (``--single``: 100,000 and 1,000,000
reads). Each engine runs what it is made for:

- flows.ivm: `StorePython`, ``i_reads.insert(*batch)`` per batch, in this process; every call
  returns its output changes and keeps the daily cache indexed by date. Its hot modules are
  compiled when Flows is installed from a wheel (``pip install .``; setup.py), pure Python in
  an editable install: the first line says which ran. To run it compiled:
  ``python -m venv .venv-compiled && .venv-compiled/bin/pip install . &&
  .venv-compiled/bin/python bench/ivm_vs_peers.py``.
- stepping 0.0.3 (PyPI; ``bench/.venv-stepping``): the same query through
  `ivm_meter_reads.py`; only up to 100,000 reads (it is far slower).
- Pathway (PyPI ``pathway``, a Rust differential-dataflow core; ``bench/.venv-pathway``):
  `pathway_seed.py`, a commit per batch, its fastest (null) sink, start-up included.

An engine that cannot be installed is left out (said so). Each figure is the best of
``--repeat`` runs (stepping: one), the engines' runs alternating. A checksum run on 10,000
reads checks that flows.ivm and Pathway compute the same daily totals.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import ivm_meter_reads as seed  # noqa: E402 - the seed query lives beside this file

import flows.ivm as st  # noqa: E402

PATHWAY_VERSION = "0.33.0"
PATHWAY_VENV = BENCH_DIR / ".venv-pathway"
METERS = 1000
STEPPING_MAX_READS = 100_000


def flows_ivm(n_reads: int, batch: int) -> dict[str, Any]:
    """Reads per second into the seed query on a fresh StorePython, and the day totals' sum."""
    graph = st.compile(seed.query)
    store = st.StorePython.from_graph(graph)
    i_users, i_meters, i_reads = st.actions(store, graph)
    users, meters = seed.make_registry(METERS)
    i_users.insert(*users)
    i_meters.insert(*meters)
    reads = seed.time_order(METERS, n_reads)
    gc.collect()
    gc.freeze()  # the harness's reads live all run: out of the collector's walks
    started = time.perf_counter()
    for offset in range(0, len(reads), batch):
        i_reads.insert(*reads[offset:offset + batch])
    elapsed = time.perf_counter() - started
    gc.unfreeze()
    total = sum(daily.value * count for daily, count in seed.daily_cache.zset(store).iter())
    return {"reads_per_s": n_reads / elapsed, "checksum": round(total, 6)}


def build() -> str:
    """Which flows.ivm runs: compiled (a wheel build, setup.py) or pure Python (editable)."""
    modules = [importlib.import_module(f"flows.ivm.{name}") for name in ("kernels", "state", "run", "frozen")]
    if all(not str(module.__file__).endswith(".py") for module in modules):
        return "compiled with mypyc (pip install .)"
    return "pure Python (an editable install; pip install . compiles the hot modules)"


def ensure_pathway() -> Path | None:
    python = PATHWAY_VENV / "bin" / "python"
    if not python.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(PATHWAY_VENV)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q",
                            f"pathway=={PATHWAY_VERSION}"], check=True)
        except subprocess.CalledProcessError:
            return None
    return python


def pathway(python: Path, n_reads: int, batch: int, checksum: bool = False) -> dict[str, Any]:
    completed = subprocess.run(
        [str(python), str(BENCH_DIR / "pathway_seed.py"), "--meters", str(METERS),
         "--reads", str(n_reads), "--batch", str(batch), *(["--checksum"] if checksum else [])],
        capture_output=True, text=True)
    if completed.returncode != 0:
        sys.exit(f"pathway failed:\n{completed.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def stepping(n_reads: int, batch: int) -> float:
    """stepping's reads/s in batches of 1,000 over ``n_reads``, or (``batch`` 1) one read per
    call over its first 2,000 (ivm_meter_reads' scenarios, in stepping's venv)."""
    python = seed.ensure_stepping_venv()
    completed = subprocess.run(
        [str(python), str(BENCH_DIR / "ivm_meter_reads.py"), "--json", "--store", "python",
         "--targets", "{}", "--meters", str(METERS),
         "--reads", str(n_reads if batch > 1 else 2000), "--batch", "1000"],
        env={**os.environ, "BENCH_ENGINE": "stepping"}, capture_output=True, text=True)
    if completed.returncode != 0:
        sys.exit(f"stepping failed:\n{completed.stderr[-3000:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    key = "one_per_call_reads_per_s" if batch == 1 else "time_order_reads_per_s"
    return float(result[key])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reads", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--single", type=int, nargs="+", default=[100_000, 1_000_000],
                        help="reads fed one per call (one scenario per figure)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per engine and scenario; the best counts (the machine is noisy)")
    parser.add_argument("--engines", nargs="+", default=["flows", "stepping", "pathway"],
                        choices=["flows", "stepping", "pathway"])
    args = parser.parse_args()
    python = ensure_pathway() if "pathway" in args.engines else None
    if "pathway" in args.engines and python is None:
        print("pathway: could not be installed here; left out")
    scenarios = [(f"{n:,} reads, batches of 1,000", n, 1000) for n in args.reads]
    scenarios += [(f"{n:,} reads, one per call", n, 1) for n in args.single]
    print(f"seed query in memory, {METERS:,} meters, reads in time order (reads/s, higher is better)")
    print(f"flows.ivm: {build()}")
    header = f"{'':<36}{'flows.ivm':>12}{'stepping':>12}{'pathway':>12}{'ivm/pathway':>13}"
    print(header)
    for label, n_reads, batch in scenarios:
        # Runs alternate between the engines, so that a slow spell of the machine falls on
        # both rather than on one.
        ours_runs: list[float] = []
        peer_runs: list[float] = []
        for _ in range(args.repeat):
            if "flows" in args.engines:
                ours_runs.append(flows_ivm(n_reads, batch)["reads_per_s"])
            if python:
                peer_runs.append(pathway(python, n_reads, batch)["reads_per_s"])
        ours = max(ours_runs, default=None)
        peer = max(peer_runs, default=None)
        theirs = stepping(n_reads, batch) if (
            "stepping" in args.engines and n_reads <= STEPPING_MAX_READS) else None
        ratio = f"{ours / peer:>12.2f}x" if ours and peer else f"{'-':>13}"
        cells = "".join(f"{f'{v:,.0f}' if v else '-':>12}" for v in (ours, theirs, peer))
        print(f"{label:<36}{cells}{ratio}", flush=True)
    if python and "flows" in args.engines:
        ours_total = flows_ivm(10_000, 1000)["checksum"]
        peer_total = pathway(python, 10_000, 1000, checksum=True)["checksum"]
        same = "the same" if abs(ours_total - peer_total) < 1e-6 else "DIFFERENT"
        print(f"checksum, 10,000 reads: flows.ivm {ours_total} kWh, pathway {peer_total} kWh "
              f"({same})")


if __name__ == "__main__":
    main()
