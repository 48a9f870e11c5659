"""flows.ivm's hot modules compiled with mypyc when a wheel is built (``pip install .``).

The compiled modules are the typed Python ones, unchanged; they are used only when the build
has mypyc and a C compiler. Otherwise — an editable install (development: edits take effect
at once), no compiler, ``FLOWS_PURE_PYTHON=1`` — the package is pure Python, the same code
(`tests/ivm/test_compiled.py` runs flows.ivm's tests on both). ``FLOWS_REQUIRE_COMPILED=1``
makes a failed compile an error instead of a warning.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext

# Where a read spends its time in the engine (README: "Where the time goes").
COMPILED_MODULES = ["flows/ivm/kernels.py", "flows/ivm/state.py", "flows/ivm/run.py",
                    "flows/ivm/frozen.py"]
REQUIRED = os.environ.get("FLOWS_REQUIRE_COMPILED") == "1"


class OptionalBuildExt(build_ext):
    """All the compiled modules or none: a failed compile leaves the pure-Python package."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as error:
            if REQUIRED:
                raise
            for built in self.get_outputs():
                Path(built).unlink(missing_ok=True)
            print(f"warning: flows.ivm left pure Python (compiling failed: {error})",
                  file=sys.stderr)


def compiled_modules() -> list[Any]:
    # Only when building (a wheel, or extensions in place): not for metadata, and not for an
    # editable install (its build_ext runs inside "editable_wheel").
    building = any(command in sys.argv for command in ("bdist_wheel", "build", "build_ext"))
    if not building or "editable_wheel" in sys.argv or os.environ.get("FLOWS_PURE_PYTHON") == "1":
        return []
    try:
        from mypyc.build import mypycify
        # The build environment has none of Flows' dependencies: their types are not needed
        # to compile these modules, and the project's strict checks are mypy's job (make test).
        return list(mypycify(["--config-file", os.devnull, "--ignore-missing-imports",
                              *COMPILED_MODULES], opt_level="3"))
    except (Exception, SystemExit) as error:  # no mypyc here, or it refused the code
        if REQUIRED:
            raise
        print(f"warning: flows.ivm left pure Python (mypyc: {error})", file=sys.stderr)
        return []


setup(ext_modules=compiled_modules(), cmdclass={"build_ext": OptionalBuildExt})
