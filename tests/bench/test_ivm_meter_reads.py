"""The store benchmark keeps working: every scenario runs on a tiny workload on each store.

Figures are not checked here (performance is measured by running the benchmark, not by tests).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.parametrize("store", ["python", "sqlite", "postgres"])
def test_benchmark_runs_every_scenario(store: str, request: pytest.FixtureRequest) -> None:
    extra = []
    if store == "postgres":
        extra = ["--postgres-url", request.getfixturevalue("postgres_server_url")]
    completed = subprocess.run(
        [sys.executable, "bench/ivm_meter_reads.py", "--store", store, "--meters", "20",
         "--reads", "400", "--batch", "20", *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].startswith(f"seed query on {store}: 20 users and meters, 400")
    figures = {line[:38].strip(): line[38:].split() for line in lines[2:]}
    assert figures["rows for one date"] == ["20"]
    assert float(figures["time order, in batches (reads/s)"][0].replace(",", "")) > 0
