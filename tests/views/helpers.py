"""A registry with customers, profile values and register reads written like the collector
writes them, and an independent from-scratch recomputation of the intervals and daily usage."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from flows.db import Database, customers, registry

LONDON = ZoneInfo("Europe/London")
HALF_HOUR = timedelta(minutes=30)
LINKED_FROM = datetime(2020, 1, 1, tzinfo=UTC)


def linked_meters(db: Database, meters: int = 2) -> list[UUID]:
    """``meters`` twin-element meters, each linked to its own customer; their register ids."""
    registers = []
    for n in range(meters):
        serial = f"EML{n:04d}"
        registry.add_meter(db, serial, f"127.0.0.{n + 1}", "C1.w", None)
        customers.add_customer(db, f"C{n}")
        customers.link_meter(db, f"C{n}", serial, LINKED_FROM)
        registers += [registry.register_id(db, serial, element) for element in ("A", "B")]
    return registers


def write_values(db: Database, values: list[tuple[UUID, datetime, int]]) -> None:
    with db.transaction():
        for register, stamp, wh in values:
            db.execute("INSERT INTO register_profile_hh (register_id, timestamp, cumulative_wh, "
                       "status) VALUES (:r, :t, :wh, 0) ON CONFLICT DO NOTHING",
                       {"r": register, "t": stamp, "wh": wh})


def write_reads(db: Database, reads: list[tuple[UUID, datetime, int]],
                table: str = "register_import") -> None:
    """Periodic register reads (import, or export with ``table="register_export"``), stored as
    the collector stores them (kWh)."""
    with db.transaction():
        for register, stamp, wh in reads:
            db.execute(f"INSERT INTO {table} (register_id, timestamp, read) "
                       "VALUES (:r, :t, :kwh)", {"r": register, "t": stamp, "kwh": wh / 1000})


# An independent, from-scratch recomputation of the intervals and daily usage -----------------

SENTINEL, WRAP, MARGIN, SPIKE = 16_777_215, 2**32, 1_000_000, 24_000


def _advance(first: int, last: int) -> tuple[int, set[str]]:
    if SENTINEL in (first, last):
        return last - first, {"sentinel"}
    if last < first and first >= WRAP - MARGIN and last < MARGIN:
        return last + WRAP - first, {"rollover"}
    return last - first, ({"reversal"} if last < first else set())


def _slot(moment: datetime) -> datetime:
    return moment - timedelta(minutes=moment.minute % 30, seconds=moment.second,
                              microseconds=moment.microsecond)


def _shares(first_at: datetime, last_at: datetime, wh: int) -> dict[datetime, int]:
    """wh spread over the half hours in proportion to time, floors of the running total."""
    whole = Fraction((last_at - first_at).total_seconds())
    out: dict[datetime, int] = {}
    slot, before = _slot(first_at), 0
    while slot < last_at:
        upto = math.floor(wh * Fraction((min(slot + HALF_HOUR, last_at) - first_at).total_seconds())
                          / whole)
        out[slot] = upto - before
        slot, before = slot + HALF_HOUR, upto
    return out


def _on_grid(moment: datetime) -> bool:
    return moment.minute in (0, 30) and moment.second == 0 and moment.microsecond == 0


Intervals = dict[tuple[str, datetime], tuple[int, frozenset[str], bool]]


def recomputed_intervals(db: Database, direction: str = "import") -> Intervals:
    """(register, start) → (Wh, flags, derived), from the profile values and register reads
    (export: from the export reads alone)."""
    profile: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for row in db.query("SELECT register_id, timestamp, cumulative_wh FROM register_profile_hh"):
        stamp = row["timestamp"]
        if direction == "import" and isinstance(stamp, datetime) and stamp.year >= 2000:
            # (others: rows no rule can read, which the views quarantine)
            profile[str(row["register_id"])].append((row["timestamp"],
                                                     int(row["cumulative_wh"])))
    reads: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for row in db.query(f"SELECT register_id, timestamp, read FROM register_{direction}"):
        reads[str(row["register_id"])].append((row["timestamp"],
                                               round(row["read"] * 1000)))
    out: Intervals = {}
    for register, values in profile.items():
        values.sort()
        grid = [(t, wh) for t, wh in values if _on_grid(t)]
        slots: dict[datetime, list[Any]] = {}
        for (t0, w0), (t1, w1) in itertools.pairwise(grid):
            wh, flags = _advance(w0, w1)
            if t1 - t0 == HALF_HOUR:
                if not flags and wh > SPIKE:
                    flags = {"spike"}
                out[(register, t0)] = (wh, frozenset(flags), False)
                continue
            skewed = any(t0 < t < t1 and not _on_grid(t) for t, _ in values)
            for slot, share in _shares(t0, t1, wh).items():
                total = slots.setdefault(slot, [0, set()])
                total[0] += share
                total[1] |= flags | {"clock_skew" if skewed else "gap"}
        for slot, (wh, flags) in slots.items():
            out[(register, slot)] = (wh, frozenset(flags | ({"spike"} if wh > SPIKE else set())), True)
    for register, values in reads.items():
        values.sort()
        slots = {}
        for (t0, w0), (t1, w1) in itertools.pairwise(values):
            wh, flags = _advance(w0, w1)
            for slot, share in _shares(t0, t1, wh).items():
                total = slots.setdefault(slot, [0, set()])
                total[0] += share
                total[1] |= flags
        for slot, (wh, flags) in slots.items():
            if (register, slot) not in out:
                out[(register, slot)] = (
                    wh, frozenset(flags | ({"spike"} if wh > SPIKE else set())), True)
    return out


def stored_intervals(db: Database, direction: str = "import") -> Intervals:
    return {(str(row["register_id"]), row["timestamp"]): (
                int(row["wh"]), frozenset(filter(None, row["flags"].split(","))), bool(row["derived"]))
            for row in db.query("SELECT register_id, timestamp, wh, flags, derived "
                                "FROM register_interval_hh WHERE direction = :d", {"d": direction})}


def recomputed_daily(db: Database) -> dict[tuple[str, UUID, date], int]:
    """Daily Wh per (customer, meter, local day), from scratch."""
    meters = {str(row["register_id"]): UUID(str(row["meter_id"]))
              for row in db.query("SELECT register_id, meter_id FROM meter_registers")}
    links = db.query("SELECT customer_id, meter_id, valid_from, valid_to FROM customer_meters")
    daily: dict[tuple[str, UUID, date], int] = defaultdict(int)
    for (register, start), (wh, flags, _) in recomputed_intervals(db).items():
        for link in links:
            if UUID(str(link["meter_id"])) != meters[register]:
                continue
            valid_to = link["valid_to"] if link["valid_to"] else None
            if link["valid_from"] <= start and (valid_to is None or start < valid_to):
                usable = not flags & {"reversal", "sentinel", "spike"}
                daily[(link["customer_id"], meters[register], start.astimezone(LONDON).date())] += (
                    wh if usable else 0)
    return dict(daily)


def sql_daily(db: Database) -> dict[tuple[str, UUID, date], int]:
    """Daily Wh recomputed with one SQL GROUP BY over the stored intervals (SQLite: the local
    day is the last local_days row starting at or before the interval)."""
    rows = db.query(
        "SELECT c.customer_id, r.meter_id, (SELECT d.day FROM local_days d "
        "WHERE d.start_utc <= i.timestamp ORDER BY d.start_utc DESC LIMIT 1) AS day, "
        "sum(CASE WHEN i.flags LIKE '%reversal%' OR i.flags LIKE '%sentinel%' OR i.flags LIKE "
        "'%spike%' THEN 0 ELSE i.wh END) AS wh FROM register_interval_hh i "
        "JOIN meter_registers r ON r.register_id = i.register_id "
        "JOIN customer_meters c ON c.meter_id = r.meter_id AND i.timestamp >= c.valid_from "
        "AND (c.valid_to IS NULL OR i.timestamp < c.valid_to) GROUP BY 1, 2, 3")
    return {(row["customer_id"], row["meter_id"], row["day"]): int(row["wh"]) for row in rows}


def view_daily(db: Database) -> dict[tuple[str, UUID, date], int]:
    """The views' daily import per (customer, meter, local day)."""
    return {(row["customer_id"], row["meter_id"], row["day"]): int(row["wh"])
            for row in db.query("SELECT customer_id, meter_id, day, wh FROM usage_customer_daily "
                                "WHERE direction = 'import'")}


# Days with their counts: (wh, actual, estimated, invalid, invalid_wh) ------------------------

Totals = tuple[int, int, int, int, int]
MeterDays = dict[tuple[UUID, str, date], Totals]
CustomerDays = dict[tuple[str, UUID, str, date], Totals]
UNUSABLE = {"reversal", "sentinel", "spike"}


def _add(totals: Totals | None, wh: int, flags: frozenset[str], derived: bool) -> Totals:
    wh_, actual, estimated, invalid, invalid_wh = totals or (0, 0, 0, 0, 0)
    if flags & UNUSABLE:
        return wh_, actual, estimated, invalid + 1, invalid_wh + wh
    if derived:
        return wh_ + wh, actual, estimated + 1, invalid, invalid_wh
    return wh_ + wh, actual + 1, estimated, invalid, invalid_wh


def recomputed_days(db: Database) -> tuple[MeterDays, CustomerDays]:
    """Every meter's and customer's days, import and export, from scratch."""
    meters = {str(row["register_id"]): UUID(str(row["meter_id"]))
              for row in db.query("SELECT register_id, meter_id FROM meter_registers")}
    links = db.query("SELECT customer_id, meter_id, valid_from, valid_to FROM customer_meters")
    meter_days: MeterDays = {}
    customer_days: CustomerDays = {}
    for direction in ("import", "export"):
        for (register, start), (wh, flags, derived) in recomputed_intervals(db, direction).items():
            meter, day = meters[register], start.astimezone(LONDON).date()
            key = (meter, direction, day)
            meter_days[key] = _add(meter_days.get(key), wh, flags, derived)
            for link in links:
                if (UUID(str(link["meter_id"])) == meter and link["valid_from"] <= start
                        and (link["valid_to"] is None or start < link["valid_to"])):
                    owner = (link["customer_id"], meter, direction, day)
                    customer_days[owner] = _add(customer_days.get(owner), wh, flags, derived)
    return meter_days, customer_days


_TOTALS = "wh, actual, estimated, invalid, invalid_wh"


def view_days(db: Database) -> tuple[MeterDays, CustomerDays]:
    """The days the views maintain (usage_meter_daily, usage_customer_daily)."""
    def totals(row: dict[str, Any]) -> Totals:
        return (int(row["wh"]), int(row["actual"]), int(row["estimated"]), int(row["invalid"]),
                int(row["invalid_wh"]))
    meter_days = {(row["meter_id"], row["direction"], row["day"]): totals(row) for row in
                  db.query(f"SELECT meter_id, direction, day, {_TOTALS} FROM usage_meter_daily")}
    customer_days = {(row["customer_id"], row["meter_id"], row["direction"], row["day"]):
                     totals(row) for row in db.query(
                         f"SELECT customer_id, meter_id, direction, day, {_TOTALS} "
                         "FROM usage_customer_daily")}
    return meter_days, customer_days


# Everything the views hold, of some meters, against a from-scratch recomputation -------------

EscoDays = dict[tuple[UUID, str, date], tuple[int, int, int, int, int, int]]  # totals, meters


def _registers_of(db: Database, meters: set[UUID]) -> set[str]:
    return {str(row["register_id"]) for row in db.query(
        "SELECT register_id, meter_id FROM meter_registers") if row["meter_id"] in meters}


def recomputed_views(db: Database, meters: set[UUID], escos: set[UUID]) -> dict[str, Any]:
    """Of these meters and escos: the half hours of both directions (with flags), the meter
    days, the customer days and the esco days (with meters reporting: the meters in the esco
    now that have half hours that day), all recomputed from the base tables."""
    registers = _registers_of(db, meters)
    meter_days, customer_days = recomputed_days(db)
    esco_of = {row["id"]: row["esco"] for row in db.query("SELECT id, esco FROM meter_registry")}
    esco_days: EscoDays = {}
    for (meter, direction, day), totals in meter_days.items():
        if esco_of.get(meter) in escos:
            key = (esco_of[meter], direction, day)
            before = esco_days.get(key, (0, 0, 0, 0, 0, 0))
            esco_days[key] = (*(a + b for a, b in zip(before[:5], totals, strict=True)),
                              before[5] + 1)
    return _of_these(meters, registers, recomputed_intervals(db, "import"),
                     recomputed_intervals(db, "export"), meter_days, customer_days, esco_days)


def _of_these(meters: set[UUID], registers: set[str], import_: Intervals, export: Intervals,
              meter_days: MeterDays, customer_days: CustomerDays, esco_days: EscoDays
              ) -> dict[str, Any]:
    return {
        "import": {k: v for k, v in import_.items() if k[0] in registers},
        "export": {k: v for k, v in export.items() if k[0] in registers},
        "meter_days": {key: totals for key, totals in meter_days.items() if key[0] in meters},
        "customer_days": {key: totals for key, totals in customer_days.items()
                          if key[1] in meters},
        "esco_days": esco_days,
    }


def stored_views(db: Database, meters: set[UUID], escos: set[UUID]) -> dict[str, Any]:
    """What the views hold of these meters and escos (as `recomputed_views`)."""
    registers = _registers_of(db, meters)
    meter_days, customer_days = view_days(db)
    esco_days: EscoDays = {
        (row["esco"], row["direction"], row["day"]): (
            int(row["wh"]), int(row["actual"]), int(row["estimated"]), int(row["invalid"]),
            int(row["invalid_wh"]), int(row["meters"]))
        for row in db.query(f"SELECT esco, direction, day, {_TOTALS}, meters FROM usage_esco_daily")
        if row["esco"] in escos}
    return _of_these(meters, registers, stored_intervals(db, "import"),
                     stored_intervals(db, "export"), meter_days, customer_days, esco_days)
