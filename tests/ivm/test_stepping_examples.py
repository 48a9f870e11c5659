"""stepping's kind of queries (`stepping_examples.py`) on flows.ivm, with known answers; and
the same queries on stepping 0.0.3 itself, in its own virtual environment (made on first use
from PyPI, as the benchmark's): every output of every call equal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.ivm import stepping_examples

ROOT = Path(__file__).resolve().parents[2]
STEPPING_VENV = ROOT / "bench" / ".venv-stepping"  # shared with bench/ivm_meter_reads.py
STEPPING_VERSION = "0.0.3"


def test_the_examples_give_the_known_answers_on_flows_ivm() -> None:
    results: dict[str, Any] = stepping_examples.run()
    inserted = results["daily_usage"][2][0]
    assert [["Daily", 1, 1, "2023-01-02", 1.25], 1] in inserted  # 0.25 + 0.5 + ... past midnight
    assert results["daily_usage"][4][0] == [[["Daily", 2, 2, "2023-01-01", 0.25], -1],
                                            [["Daily", 2, 2, "2023-01-01", 9.0], 1]]
    assert results["user_stats"][0] == [[[7, 1]], [[3, 1]], [["bo", 1]]]  # len ann+bo+bo, 3 users
    assert results["reachable"][2][0] == [[["Pair", 1, 3], -1], [["Pair", 1, 4], -1],
                                          [["Pair", 2, 3], -1], [["Pair", 2, 4], -1]]
    assert results["iteration_weights"] == [[["b", -1]], [["b", 1], ["c", 1]]]
    # (now, before) per call: the scalar, and the previous call's (zero before the first).
    assert results["scalars"] == [[[[5, 1]], [[0, 1]]], [[[7, 1]], [[5, 1]]],
                                  [[[0, 1]], [[7, 1]]], [[[3, 1]], [[0, 1]]]]


def stepping_python() -> Path:
    python = STEPPING_VENV / "bin" / "python"
    if not python.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(STEPPING_VENV)], check=True,
                           capture_output=True, timeout=120)
            subprocess.run([str(python), "-m", "pip", "install", "-q",
                            f"stepping=={STEPPING_VERSION}"], check=True, capture_output=True,
                           timeout=240)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            pytest.skip(f"stepping {STEPPING_VERSION} could not be installed here: {error}")
    return python


@pytest.mark.slow
def test_stepping_itself_gives_the_same_outputs() -> None:
    completed = subprocess.run(
        [str(stepping_python()), str(Path(stepping_examples.__file__))],
        env={**os.environ, "STEPPING_ENGINE": "stepping"}, capture_output=True, text=True,
        timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
    theirs = json.loads(completed.stdout)
    ours = json.loads(json.dumps(stepping_examples.run()))
    assert ours.keys() == theirs.keys()
    for example in ours:
        assert ours[example] == theirs[example], example
