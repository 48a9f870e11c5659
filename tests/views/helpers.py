"""A registry with customers, profile values written like the collector writes them, and an
independent from-scratch recomputation of the daily usage."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from flows.db import Database
from flows.db import repository as repo
from flows.views import edits
from flows.views.feeder import open_views
from flows.views.query import daily_cache

LONDON = ZoneInfo("Europe/London")
HALF_HOUR = timedelta(minutes=30)
LINKED_FROM = datetime(2020, 1, 1, tzinfo=UTC)


def registry(db: Database, meters: int = 2) -> list[UUID]:
    """``meters`` twin-element meters, each linked to its own customer; their register ids."""
    registers = []
    for n in range(meters):
        serial = f"EML{n:04d}"
        repo.add_meter(db, serial, f"127.0.0.{n + 1}", "C1.w", None)
        edits.add_customer(db, f"C{n}")
        edits.link_meter(db, f"C{n}", serial, LINKED_FROM)
        registers += [edits.register_id(db, serial, element) for element in ("A", "B")]
    return registers


def write_values(db: Database, values: list[tuple[UUID, datetime, int]]) -> None:
    with db.transaction():
        for register, stamp, wh in values:
            db.execute("INSERT INTO register_profile_hh (register_id, timestamp, cumulative_wh, "
                       "status) VALUES (:r, :t, :wh, 0) ON CONFLICT DO NOTHING",
                       {"r": register, "t": stamp, "wh": wh})


def recomputed_daily(db: Database) -> dict[tuple[str, UUID, date], int]:
    """Daily Wh per (customer, meter, local day) from the raw profile values, from scratch."""
    rows = db.query(
        "SELECT p.register_id, p.timestamp, p.cumulative_wh, r.meter_id, c.customer_id, "
        "c.valid_from, c.valid_to FROM register_profile_hh p JOIN meter_registers r ON "
        "r.register_id = p.register_id JOIN customer_meters c ON c.meter_id = r.meter_id")
    values: dict[tuple[Any, ...], dict[datetime, int]] = defaultdict(dict)
    for row in rows:
        key = (row["customer_id"], UUID(str(row["meter_id"])), str(row["register_id"]),
               repo.as_datetime(row["valid_from"]),
               repo.as_datetime(row["valid_to"]) if row["valid_to"] else None)
        values[key][repo.as_datetime(row["timestamp"])] = int(row["cumulative_wh"])
    daily: dict[tuple[str, UUID, date], int] = defaultdict(int)
    for (customer, meter, _, valid_from, valid_to), by_time in values.items():
        for stamp, first in by_time.items():
            last = by_time.get(stamp + HALF_HOUR)
            if last is None or stamp.minute % 30 or stamp.second:
                continue
            if not (valid_from <= stamp and (valid_to is None or stamp < valid_to)):
                continue
            wh = last - first
            flagged = 16_777_215 in (first, last) or wh < 0 or wh > 24_000
            daily[(customer, meter, stamp.astimezone(LONDON).date())] += 0 if flagged else wh
    return dict(daily)


def view_daily(db: Database) -> dict[tuple[str, UUID, date], int]:
    with open_views(db) as views:
        rows = list(daily_cache.zset(views.store).iter())
    out: dict[tuple[str, UUID, date], int] = {}
    for value, count in rows:
        assert count == 1, (value, count)
        out[(value.customer_id, value.meter_id, value.date)] = value.wh
    return out
