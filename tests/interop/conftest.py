"""The deployed Emlite software as a test peer: simt-emlite 1.2.12 (and emop_frame_protocol
0.4.14, its dependency) from PyPI, in a Python 3.13 virtual environment of its own.

The packages are AGPL: they run beside Flows, in another interpreter, and nothing of them
enters Flows. The environment is made once (``.venv-emlite`` at the top of the checkout, ignored
by git) from the machine's Python 3.13 (on PATH or from pyenv).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import glob
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from flows.mediator.links import LinkSettings, MeterLinks
from flows.mediator.server import Metrics, start_server
from flows.meters import FleetServer, SimClock, VirtualMeter

DEPLOYED = "simt-emlite==1.2.12"
ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-emlite"
HERE = Path(__file__).resolve().parent


def _python313() -> str:
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates = sorted(glob.glob(f"{pyenv_root}/versions/3.13*/bin/python3.13"), reverse=True)
    candidates.append(shutil.which("python3.13") or "")
    for candidate in candidates:  # a pyenv shim on PATH may name a version that is not active
        if candidate and subprocess.run([candidate, "--version"], capture_output=True).returncode == 0:
            return candidate
    pytest.fail("the interop tests need Python 3.13 (the deployed Emlite software needs it): "
                "install it (e.g. `pyenv install 3.13`) or put python3.13 on PATH")


@pytest.fixture(scope="session")
def deployed_python() -> str:
    """The interpreter of the environment holding the deployed packages. Made once, under a
    file lock: test workers running side by side (`pytest -n 2`) wait for the one making it."""
    python = VENV / "bin" / "python"
    marker = VENV / f".installed-{DEPLOYED}"
    with (ROOT / ".venv-emlite.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes (or the process dies)
        if not marker.exists():
            if VENV.exists():
                shutil.rmtree(VENV)
            subprocess.run([_python313(), "-m", "venv", str(VENV)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-qq", DEPLOYED], check=True)
            marker.touch()
    return str(python)


def peer_command(python: str, script: str, *args: str) -> list[str]:
    """A command running one of this folder's peer scripts in the deployed environment."""
    return [python, str(HERE / script), *args]


async def run_peer(python: str, script: str, *args: str, timeout_s: float = 120) -> Any:
    """Run a peer script (`peer_command`) and read the one JSON answer it prints."""
    process = await asyncio.create_subprocess_exec(
        *peer_command(python, script, *args), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout_s)
    assert process.returncode == 0, err.decode()
    return json.loads(out)


@contextlib.asynccontextmanager
async def behind_our_mediator(meters: list[VirtualMeter], start: datetime
                              ) -> AsyncIterator[tuple[FleetServer, str]]:
    """The meters served (their time frozen at ``start``) behind our mediator, in this
    process: (the fleet, the mediator's host:port)."""
    async with FleetServer(meters, SimClock(start, speed=0), port=0,
                           own_addresses=False) as fleet:
        addresses = {e.meter.serial: (e.host, e.port) for e in fleet.endpoints}

        async def resolve(serial: str) -> tuple[str, int] | None:
            return addresses.get(serial)

        server, port = await start_server("127.0.0.1:0", MeterLinks(
            resolve, LinkSettings(min_gap_s=0)), Metrics.create())
        try:
            yield fleet, f"127.0.0.1:{port}"
        finally:
            await server.stop(None)
