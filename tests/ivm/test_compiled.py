"""flows.ivm compiled with mypyc, as a wheel build compiles it (setup.py), passes flows.ivm's
own tests: the compiled and the pure-Python modules are the same code and must behave alike."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPILED = ("flows.ivm.kernels", "flows.ivm.state", "flows.ivm.run", "flows.ivm.frozen")


@pytest.mark.slow
def test_the_compiled_modules_pass_flows_ivms_tests(tmp_path: Path) -> None:
    if not any(shutil.which(compiler) for compiler in (os.environ.get("CC", "cc"), "gcc")):
        pytest.skip("no C compiler here: a build stays pure Python (setup.py)")
    copy = tmp_path / "compiled"
    shutil.copytree(ROOT / "flows", copy / "flows",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    shutil.copytree(ROOT / "tests" / "ivm", copy / "tests" / "ivm",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.py", "pyproject.toml", "tests/__init__.py", "tests/conftest.py"):
        shutil.copy(ROOT / name, copy / name)
    build = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
                           cwd=copy, env={**os.environ, "FLOWS_REQUIRE_COMPILED": "1"},
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    imported = subprocess.run(
        [sys.executable, "-c", f"import importlib; print([importlib.import_module(m).__file__ "
                               f"for m in {COMPILED!r}])"],
        cwd=copy, capture_output=True, text=True, timeout=60, check=True)
    assert imported.stdout.count(".so") == len(COMPILED), imported.stdout  # not the .py files
    tests = subprocess.run(
        # Not the PostgreSQL variants: the compiled kernels and runner run the same on SQLite
        # (the SQL stores' state is interpreted either way), and no cluster starts here.
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "tests/ivm",
         "-k", "not postgres",
         "--deselect", "tests/ivm/test_compiled.py::test_the_compiled_modules_pass_flows_ivms_tests"],
        cwd=copy, capture_output=True, text=True, timeout=600)
    assert tests.returncode == 0, tests.stdout[-5000:]
