"""The mediator benchmark keeps working (tiny run; figures are not checked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_mediator_benchmark_runs() -> None:
    completed = subprocess.run(
        [sys.executable, "bench/mediator_throughput.py", "--meters", "20", "--requests", "60",
         "--latency", "0.001"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    rows = [line.split() for line in completed.stdout.splitlines()[2:]]
    assert [row[0] for row in rows] == ["15", "500"]
    assert all(row[2] == "0" for row in rows)  # no failures
