"""Where meters are and what we know of them, from the Flows database (reloaded periodically)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from flows.db import Database, registry, shadows


class DatabaseDirectory:
    """serial → (ip_address, port) of registered meters; re-read every ``reload_s``."""

    def __init__(self, db: Database, reload_s: float = 60.0) -> None:
        self.db, self.reload_s = db, reload_s
        self._addresses: dict[str, tuple[str, int]] = {}
        self._loaded_at = -float("inf")
        self._lock = asyncio.Lock()

    async def __call__(self, serial: str) -> tuple[str, int] | None:
        if serial not in self._addresses or time.monotonic() - self._loaded_at > self.reload_s:
            async with self._lock:
                if (
                    time.monotonic() - self._loaded_at > min(self.reload_s, 1.0)
                    or serial not in self._addresses
                ):
                    meters = await asyncio.to_thread(registry.meters, self.db)
                    self._addresses = {m.serial: (m.ip_address, m.port) for m in meters if m.ip_address}
                    self._loaded_at = time.monotonic()
        return self._addresses.get(serial)

    def info(self, serial: str) -> dict[str, Any] | None:
        found = registry.registry_row(self.db, serial)
        if found is None:
            return None
        return {"registry": found, "shadow": shadows.shadow(self.db, found["id"])}

    def meters(self, esco: str) -> list[dict[str, Any]]:
        return registry.active_meters_of_esco(self.db, esco)
