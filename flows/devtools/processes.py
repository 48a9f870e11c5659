"""Helpers for tests, benchmarks and demos: free loopback ports and `flows` sub-processes."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

FLOWS_COMMAND = [sys.executable, "-c", "from flows.cli import main; main()"]


def free_port() -> int:
    """A TCP port nothing listens on at the moment, on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_flows(args: list[str], ready: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    """Run ``flows ARGS`` and wait for its first output line, which must contain ``ready``."""
    return start_flows_line(args, ready, cwd)[0]


def start_flows_line(args: list[str], ready: str,
                     cwd: Path | None = None) -> tuple[subprocess.Popen[str], str]:
    """`start_flows`, also returning that first line (where a service says it listens)."""
    process = subprocess.Popen([*FLOWS_COMMAND, *args], cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if ready not in line:
        process.kill()
        errors = process.stderr.read() if process.stderr else ""
        raise RuntimeError(f"flows {args[0]} did not start: {line}{errors}")
    return process, line


def stop_flows(process: subprocess.Popen[str], timeout: float = 30) -> int:
    """SIGTERM, as a service manager would; the exit code."""
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=timeout)


def serve_flows(args: list[str], log: Path) -> tuple[subprocess.Popen[str], str]:
    """Run ``flows serve ARGS`` (with ``--port 0``) and wait until it listens; the process and
    its base URL. Its stderr (the access log, a line per request) goes to the file ``log``: a
    pipe nobody reads would stall the server once full."""
    process = subprocess.Popen([*FLOWS_COMMAND, "serve", "--port", "0", *args],
                               stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
    assert process.stdout is not None
    found = re.search(r"http://[\d.]+:\d+", process.stdout.readline())  # once the port is bound
    if found is None:
        process.kill()
        raise RuntimeError(f"flows serve did not start: {log.read_text()[-2000:]}")
    return process, found.group(0)
