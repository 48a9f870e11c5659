"""The fleet-scale benchmark keeps working (tiny run): its generated half hours pass the
feeder's rules (it checks a sample), the feeders catch up with each cycle, figures are not
checked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_fleet_scale_benchmark_runs() -> None:
    completed = subprocess.run(
        [sys.executable, "bench/fleet_scale.py", "--meters", "300", "--days", "2", "--feeders",
         "1", "2", "--requests", "10"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    table = lines[lines.index(next(line for line in lines if line.strip().startswith("feeders"))):]
    assert [row.split()[0] for row in table[1:3]] == ["1", "2"]
    assert sum(1 for line in lines if line.strip().startswith("API")) == 2
