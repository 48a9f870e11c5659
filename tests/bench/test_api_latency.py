"""The API latency benchmark keeps working (tiny run; it checks that the aggregates and the
half hours give the same answers, figures are not checked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_api_latency_benchmark_runs() -> None:
    completed = subprocess.run(
        [sys.executable, "bench/api_latency.py", "--meters", "5", "--days", "40",
         "--requests", "5"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    rows = completed.stdout.splitlines()[2:]
    assert [row.split()[-3] for row in rows] == ["aggregates", "hours"] * 2
