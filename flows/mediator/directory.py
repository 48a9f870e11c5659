"""Where meters are and what we know of them: from the Flows database (reloaded periodically)
or from a registry CSV (re-read when it changes). Both answer InfoService as the deployed
mediator does: GetInfo as ``{"registry": {…}, "shadow": {…}}`` (every column of the meter's
registry row and of its shadow; a CSV has no shadow: ``{}``; the clock drift also at the top,
where the deployed client reads it), GetMeters of one esco (its code
matched whatever its case) or of every esco when none is named.
"""

from __future__ import annotations

import asyncio
import csv
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from flows.db import Database, UnavailableError, registry, shadows
from flows.mediator.links import LinkError
from flows.retry import Outage

log = logging.getLogger(__name__)
T = TypeVar("T")


class RegistryUnavailable(LinkError):
    """The registry database cannot be read right now (the collector tries again later)."""

    status = "UNAVAILABLE"


# The deployed client's meter_clock_drift reads these shadow columns at the top level of
# GetInfo's answer (against the deployed mediator it shows None): they are there too.
_READ_AT_THE_TOP = ("clock_time_diff_seconds", "clock_time_diff_synced_at")


class DatabaseDirectory:
    """serial → (ip_address, port) of registered meters; re-read every ``reload_s``. When the
    database goes away (a restart) the directory reconnects at the next lookup; meanwhile it
    answers from the addresses it read last, and a lookup it cannot answer is UNAVAILABLE (an
    outage of ours, not the meter's fault)."""

    def __init__(self, db: Database, reload_s: float = 60.0) -> None:
        self.db, self.reload_s = db, reload_s
        self._addresses: dict[str, tuple[str, int]] = {}
        self._loaded_at = -float("inf")
        self._lock = asyncio.Lock()
        self._db_lock = threading.Lock()  # lookups run in threads; one reconnects at a time
        self._outage = Outage("registry database", log)

    def _read(self, read: Callable[[Database], T]) -> T:
        """``read(db)``, reconnecting once if the connection was lost."""
        with self._db_lock:
            try:
                found = read(self.db)
            except UnavailableError:
                try:
                    self.db.reconnect()
                    found = read(self.db)
                except UnavailableError as error:
                    self._outage.failed(error)
                    raise RegistryUnavailable(f"registry database unavailable: {error}") from None
            self._outage.recovered()
            return found

    async def __call__(self, serial: str) -> tuple[str, int] | None:
        if serial not in self._addresses or time.monotonic() - self._loaded_at > self.reload_s:
            async with self._lock:
                if (
                    time.monotonic() - self._loaded_at > min(self.reload_s, 1.0)
                    or serial not in self._addresses
                ):
                    try:
                        meters = await asyncio.to_thread(self._read, registry.meters)
                    except RegistryUnavailable:
                        if serial not in self._addresses:
                            raise
                        meters = None  # answer from the last addresses read
                    if meters is not None:
                        self._addresses = {m.serial: (m.ip_address, m.port)
                                           for m in meters if m.ip_address}
                        self._loaded_at = time.monotonic()
        return self._addresses.get(serial)

    def info(self, serial: str) -> dict[str, Any] | None:
        def read(db: Database) -> dict[str, Any] | None:
            found = registry.registry_row(db, serial)
            if found is None:
                return None
            state = shadows.shadow(db, found["id"])
            return {"registry": found, "shadow": state,
                    **{column: state.get(column) for column in _READ_AT_THE_TOP}}
        return self._read(read)

    def meters(self, esco: str) -> list[dict[str, Any]]:
        return self._read(lambda db: registry.active_meters(db, esco or None))


class CsvDirectory:
    """serial → (ip_address, port) from a registry CSV, re-read when the file changes; its rows
    (serial, ip_address, port, hardware, esco) are what InfoService knows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime = -1.0
        self._addresses: dict[str, tuple[str, int]] = {}
        self._rows: dict[str, dict[str, str]] = {}

    async def __call__(self, serial: str) -> tuple[str, int] | None:
        self._reload()
        return self._addresses.get(serial)

    def _reload(self) -> None:
        mtime = self.path.stat().st_mtime
        if mtime != self._mtime:
            with self.path.open(newline="", encoding="utf-8-sig") as handle:  # Excel: a BOM
                self._rows = {row["serial"]: row for row in csv.DictReader(handle)}
            self._addresses = {serial: (row["ip_address"], int(row.get("port") or 8080))
                               for serial, row in self._rows.items()}
            self._mtime = mtime

    def _row(self, row: dict[str, str]) -> dict[str, Any]:
        return {"serial": row["serial"], "ip_address": row["ip_address"],
                "port": int(row.get("port") or 8080), "hardware": row.get("hardware") or None,
                "esco": row.get("esco") or None, "mode": "active"}

    def info(self, serial: str) -> dict[str, Any] | None:
        self._reload()
        row = self._rows.get(serial)
        return {"registry": self._row(row), "shadow": {}} if row is not None else None

    def meters(self, esco: str) -> list[dict[str, Any]]:
        self._reload()
        return [self._row(row) for serial, row in sorted(self._rows.items())
                if not esco or (row.get("esco") or "").lower() == esco.lower()]

