"""Missing half hours for the API's pages and scrapes, computed again only when the views have
moved on: they come from the meter days the views keep (`fleet.missing_half_hours`, ~100 ms
at 10,000 meters), which change only when the views apply changes or rebuild (their position
and its time) or the local day turns. Every page view and Prometheus scrape in between reads
the same answer; like usage, it is as of the views' position ("Usage data as of")."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from flows.db import Database, fleet
from flows.meterdata import LOCAL_ZONE
from flows.views import Freshness, freshness


class MissingHalfHours:
    def __init__(self) -> None:
        self._key: tuple[Any, ...] | None = None
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()  # one computation at a time; the others wait for it

    def __call__(self, db: Database, now: datetime, fresh: Freshness | None = None
                 ) -> list[dict[str, Any]]:
        """The meters missing half hours; ``fresh``: the views' state if the caller has read
        it already."""
        fresh = fresh or freshness(db)
        key = (db.url, fresh.applied, fresh.caught_up_at, now.astimezone(LOCAL_ZONE).date())
        with self._lock:
            if key != self._key:
                self._rows, self._key = fleet.missing_half_hours(db, now), key
            return self._rows
