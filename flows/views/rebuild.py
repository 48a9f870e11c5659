"""`flows views rebuild`: the views built again from the tables, set-based where possible.

1. In one transaction the views' store and everything they wrote are dropped, and the
   change log's last number noted: the rebuilt views reflect at least the changes up to it.
2. Per group of registers: the actual intervals of the profile log by one SQL statement (a
   window function pairs consecutive values); then, in Python as the incremental views do
   (`flows.views.changes`), only the days that need more: profile gaps, and days of register
   reads the profile log does not cover completely; then the daily totals by one SQL GROUP BY,
   split in Python only on days where a customer link starts or ends, handed to the query as
   day parts (one iteration per group).
3. The last iteration moves the views' position to the noted change: `flows views update`
   goes on from there (applying a change the rebuild already saw again does no harm).

Until then the store holds a rebuild mark: an interrupted rebuild is started again by the
next `flows views update` or `rebuild` (never left half-done as if it were complete).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

import flows.ivm as st
from flows.db import Database, bulk_intervals, customers, daily, intervals, registry
from flows.meterdata import REGISTER_SENTINEL_WH, UNUSABLE_FLAGS
from flows.views import halfhours
from flows.views import query as q
from flows.views.changes import (
    PartKey,
    PartTotal,
    RegistryState,
    ValueEnds,
    Work,
    compute,
    day_parts,
    days_between,
    part_records,
    register_runs,
    registry_state,
)
from flows.views.outputs import write_outputs

REBUILD_FEED = "rebuild"  # the mark of a rebuild under way: the change number it started at
METERS_PER_GROUP = 100

Progress = Callable[[int, int], None]  # (meters done, meters)


@dataclass
class RebuildSummary:
    registers: int = 0
    half_hours: int = 0
    parts: int = 0
    position: int = 0
    duration_s: float = 0.0

    def line(self) -> str:
        return (f"views rebuilt: {self.registers:,} registers, {self.half_hours:,} half hours, "
                f"{self.parts:,} day parts (position {self.position}) in {self.duration_s:.1f} s")


def rebuild_mark(views: Any) -> int | None:
    """The change number an unfinished rebuild started at (None: no rebuild under way)."""
    rows = list(q.positions_cache.zset(views.store).iter_by_index(
        q.index_feed, frozenset((REBUILD_FEED,))))
    return max((value.position for _, value, _ in rows), default=None)


def rebuild_views(db: Database, views: Any, feed: str, progress: Progress | None = None
                  ) -> RebuildSummary:
    """Build the (just dropped) views of ``db`` from its tables; see the module's doc."""
    started = time.monotonic()
    summary = RebuildSummary(position=intervals.last_change(db))
    mark = q.FeedPosition(feed=REBUILD_FEED, position=summary.position)
    _iterate(views, positions={mark: 1})
    meters_total = int(db.query("SELECT count(DISTINCT meter_id) AS n FROM meter_registers")[0]["n"])
    meters_done = 0
    for meters in _meter_groups(db):
        registers = dict(registry.register_meters(db, meters))
        links = [q.CustomerMeter(customer_id=row["customer_id"], meter_id=row["meter_id"],
                                 valid_from=row["valid_from"], valid_to=row["valid_to"])
                 for row in customers.links_of_meters(db, meters)]
        by_meter: dict[UUID, set[q.CustomerMeter]] = {meter: set() for meter in meters}
        for link in links:
            by_meter[link.meter_id].add(link)
        held = {q.Register(register_id=r, meter_id=m) for r, m in registers.items()}
        state = registry_state(held, {}, by_meter, {})  # nothing changes while it is built
        group = sorted(registers)
        parts = _group_parts(views.writer, group, state)
        summary.parts += len(parts)
        summary.registers += len(group)
        _iterate(views, parts=parts, links=dict.fromkeys(links, 1), registers=dict.fromkeys(held, 1))
        meters_done += len(meters)
        if progress is not None:
            progress(meters_done, meters_total)
    _iterate(views, positions={mark: -1, q.FeedPosition(feed=feed, position=summary.position): 1})
    summary.half_hours = intervals.interval_count(db)
    summary.duration_s = time.monotonic() - started
    return summary


def _meter_groups(db: Database) -> Iterator[list[UUID]]:
    """The meters with registers, in groups of `METERS_PER_GROUP` (by id, a page at a time)."""
    after: Any = None
    while True:
        rows = db.query(
            "SELECT DISTINCT meter_id FROM meter_registers "
            + ("WHERE meter_id > :after " if after is not None else "")
            + "ORDER BY meter_id LIMIT :n", {"after": after, "n": METERS_PER_GROUP})
        if not rows:
            return
        meters = [row["meter_id"] for row in rows]
        yield meters
        after = meters[-1]


def _iterate(views: Any, registers: dict[Any, int] | None = None,
             parts: dict[Any, int] | None = None, links: dict[Any, int] | None = None,
             positions: dict[Any, int] | None = None) -> None:
    st.iteration(views.store, views.graph,
                 [st.ZSetPython(registers or {}), st.ZSetPython(parts or {}),
                  st.ZSetPython(links or {}), st.ZSetPython(positions or {})],
                 before_commit=lambda outputs: write_outputs(views.writer, outputs))


# Intervals and day parts ------------------------------------------------------------------


def _group_parts(db: Database, group: list[UUID], state: RegistryState) -> dict[q.DayPart, int]:
    """Write the group's intervals and return its day parts: the actual intervals by one SQL
    statement, their daily totals by one GROUP BY; the days these do not settle (a profile gap
    or clock skew, register reads where the profile log is incomplete, export reads, a link
    that starts or ends) by the incremental views' own computation, in Python."""
    with db.transaction():
        bulk_intervals.insert_actual_intervals(
            db, group, REGISTER_SENTINEL_WH, halfhours.REGISTER_MAX_WH,
            halfhours.ROLLOVER_MARGIN_WH, halfhours.SPIKE_WH)
    totals = {(row["register_id"], row["direction"], row["day"]): row
              for row in bulk_intervals.day_totals(db, group, UNUSABLE_FLAGS)}
    ends = ValueEnds(db, group)
    work = _days_needing_more(db, group, ends, totals, state)
    batch = compute(db, work, state, ends)
    try:
        with db.transaction():
            for removed, replaced, inserted in batch.writes.chunks():
                intervals.write_interval_changes(db, removed, replaced, inserted)
    finally:
        batch.writes.close()
    sums: dict[Work, dict[PartKey, PartTotal]] = {}
    for (register, direction, day), row in totals.items():
        if day not in work.get((register, direction), ()):
            sums.setdefault((register, direction), {})[(day, halfhours.day_start(day))] = [
                int(row[column]) for column in daily.TOTAL_COLUMNS]
    for direction, start, end, registers in register_runs(work):
        held = intervals.held_intervals_many(db, registers, direction, start, end)
        for register in registers:
            sums.setdefault((register, direction), {}).update(day_parts(
                held[register], state.new_starts.get(state.new_meter[register], [])))
    parts: dict[q.DayPart, int] = {}
    for (register, direction), register_sums in sums.items():
        parts.update(dict.fromkeys(part_records(register, state.new_meter[register], direction,
                                                register_sums), 1))
    return parts


def _split_days(starts: list[Any]) -> set[date]:
    """The local days a link's start or end falls inside (not on their first half hour)."""
    days = set()
    for start in starts:
        day = halfhours.local_date(start)
        if start != halfhours.day_start(day):
            days.add(day)
    return days


def _days_needing_more(db: Database, group: list[UUID], ends: ValueEnds,
                       totals: dict[tuple[UUID, str, date], dict[str, Any]],
                       state: RegistryState) -> dict[Work, set[date]]:
    """The days of each register's values whose half hours are not all actual intervals
    (gaps, clock skews, reads, the edges of its history), every day of its export reads, and
    the days where a link of its meter starts or ends."""
    last_days = [day for _, _, day in totals]
    lengths = (bulk_intervals.local_day_lengths(db, min(last_days), max(last_days))
               if last_days else {})
    work: dict[Work, set[date]] = {}
    for register in group:
        split = _split_days(state.new_starts.get(state.new_meter[register], []))
        for direction, sources in ((q.IMPORT, ("profile", "reads")), (q.EXPORT, ("export",))):
            ranges = [r for r in (ends.of(source, register) for source in sources) if r]
            if not ranges:
                continue
            days = set(days_between(halfhours.local_date(min(r[0] for r in ranges)),
                                    halfhours.local_date(max(r[1] for r in ranges))))
            if direction == q.IMPORT:
                days = {day for day in days
                        if (row := totals.get((register, direction, day))) is None
                        or row["actual"] + row["invalid"] != lengths.get(day)}
            days |= {day for day in split if (register, direction, day) in totals}
            if days:
                work[(register, direction)] = days
    return work
