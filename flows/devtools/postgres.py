"""A throwaway PostgreSQL cluster in a temporary directory, for tests, benchmarks and demos.

``initdb`` and ``pg_ctl`` come from PATH or the Debian layout (/usr/lib/postgresql/*/bin). As
root, the server runs as user ``postgres``, because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from flows.devtools.processes import free_port


def _postgres_bindir() -> Path:
    """Where initdb and pg_ctl live: PATH first, then the usual Debian layout."""
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found: install "
                       "postgresql or set FLOWS_TEST_DATABASE_URL")


def _as_postgres_user(command: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


class TemporaryCluster:
    """A PostgreSQL cluster in a temporary directory; `stop` removes it."""

    def __init__(self) -> None:
        self.bindir = _postgres_bindir()
        self.directory = Path(tempfile.mkdtemp(prefix="flows-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        if os.geteuid() == 0:
            postgres = pwd.getpwnam("postgres")
            os.chown(self.directory, postgres.pw_uid, postgres.pw_gid)
        self._run([str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                   "--auth=trust", "--encoding=UTF8", "--no-sync"])
        self.options = options = (f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=200")
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l",
                   str(self.directory / "server.log"), "-o", options, "-w", "start"])
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.running = True

    def _run(self, command: list[str]) -> None:
        result = subprocess.run(_as_postgres_user(command), capture_output=True, text=True,
                                cwd=self.directory)
        if result.returncode != 0:
            log = self.directory / "server.log"
            detail = log.read_text() if log.exists() else ""
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}{detail}")

    def shut_down(self) -> None:
        """Stop the server, keeping its data (fast: sessions are cut, as in a restart)."""
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])
        self.running = False

    def start_again(self) -> None:
        """Start the server shut down by `shut_down`, on the same port."""
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l",
                   str(self.directory / "server.log"), "-o", self.options, "-w", "start"])
        self.running = True

    def restart(self, down_s: float = 0.0) -> None:
        """`shut_down`, stay down ``down_s`` seconds, `start_again`."""
        self.shut_down()
        time.sleep(down_s)
        self.start_again()

    def stop(self) -> None:
        try:
            if self.running:
                self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m",
                           "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)
