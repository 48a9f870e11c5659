"""`flows views rebuild`: the views built again from the tables, by the feeder's own steps
over every key, with the actual intervals of the profile log written set-based first.

1. In one transaction everything the views wrote is dropped and a rebuild mark (the change
   log's last number) written: the rebuilt views reflect at least the changes up to it.
2. Per group of meters (100; 1,000 on PostgreSQL): in one transaction the actual intervals
   of the profile log by one SQL statement (`flows.views.store.bulk`: the SQL twin of
   `flows.views.rules.actual_interval`) and every day of the group's meters refreshed in every aggregate
   (`flows.views.store.aggregates.refresh`, the feeder's own); then, in a second one, the days
   whose refreshed counts fall short (profile gaps and clock skews, days of register reads,
   the edges of a history, export reads) computed and written as the feeder does
   (`flows.views.changes.compute`) and refreshed again.
3. The mark is replaced by the views' position: `flows views update` goes on from there
   (applying a change the rebuild already saw again does no harm).

An interrupted rebuild leaves its mark: the next `flows views update` or `rebuild` starts it
again (never left half-done as if it were complete).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from uuid import UUID

from flows.db import Database, is_unavailable, registry
from flows.db.change_log import last_change
from flows.views.apply import apply_meters
from flows.views.changes import (
    EXPORT,
    IMPORT,
    ValueEnds,
    Work,
    compute,
    interval_days,
    meter_days,
)
from flows.views.checks import check_links
from flows.views.days import days_between, local_date
from flows.views.rules import DayTotal
from flows.views.store import aggregates, bulk, intervals, position

METERS_PER_GROUP = 100
# PostgreSQL plans every monthly partition a statement touches: fewer, larger groups cost less
# (1,000 × 90 days: rebuild 41 s → 28–36 s); SQLite gains nothing from larger ones.
METERS_PER_GROUP_POSTGRES = 1_000
log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (meters done, meters)


@dataclass
class RebuildSummary:
    registers: int = 0
    half_hours: int = 0
    position: int = 0
    duration_s: float = 0.0

    def line(self) -> str:
        return (f"views rebuilt: {self.registers:,} registers, {self.half_hours:,} half hours "
                f"(position {self.position}) in {self.duration_s:.1f} s")


def rebuild_views(db: Database, progress: Progress | None = None) -> RebuildSummary:
    """Drop the views of ``db`` and build them again from its tables; see the module's doc.
    ``db``: the feeder's connection (holding the one-feeder lock)."""
    started = time.monotonic()
    summary = RebuildSummary(position=last_change(db))
    with db.transaction():
        aggregates.clear(db)
        position.write_position(db, position.REBUILD_FEED, summary.position)
    meters_total = registry.count_meters_with_registers(db)
    meters_done = 0
    statistics = intervals.Statistics(db)
    for meters in _meter_groups(db):
        try:
            summary.registers += _rebuild_group(db, meters, statistics)
        except Exception as error:
            if is_unavailable(error):
                raise
            # A row no rule can read: the group's meters one by one, the failing ones
            # quarantined (what the group committed already is compared, not repeated).
            log.warning("views rebuild: a group of %d meters failed (%s); taking them one by "
                        "one", len(meters), error)
            apply_meters(db, meters, summary.position)
            summary.registers += len(registry.register_meters(db, meters))
        meters_done += len(meters)
        if progress is not None:
            progress(meters_done, meters_total)
    with db.transaction():
        position.clear_position(db, position.REBUILD_FEED)
        position.write_position(db, position.FEED, summary.position)
    summary.half_hours = intervals.interval_count(db)
    summary.duration_s = time.monotonic() - started
    return summary


def _meter_groups(db: Database) -> Iterator[list[UUID]]:
    """The meters with registers, in groups of `METERS_PER_GROUP` (`METERS_PER_GROUP_POSTGRES`
    on PostgreSQL), by id, a page at a time."""
    size = METERS_PER_GROUP_POSTGRES if db.engine == "postgres" else METERS_PER_GROUP
    after: UUID | None = None
    while meters := registry.meters_with_registers(db, after, size):
        yield meters
        after = meters[-1]


def _rebuild_group(db: Database, meters: list[UUID], statistics: intervals.Statistics) -> int:
    """Write the group's intervals and refresh its meters' days; how many registers. The
    meter days refreshed from the actual intervals tell which days need more (their counts
    fall short); those are computed as the feeder computes them and refreshed again."""
    meter_of = dict(registry.register_meters(db, meters))
    group = sorted(meter_of)
    check_links(db, meters)
    with db.transaction():
        inserted = bulk.insert_actual_intervals(db, group)
        aggregates.refresh(db, interval_days(db, meter_of))
    statistics.written(inserted)
    ends = ValueEnds(db, group)
    writes = compute(db, _days_needing_more(db, meter_of, ends), ends)
    try:
        with db.transaction():
            writes.write(db)
            aggregates.refresh(db, meter_days(meter_of, writes.days))
    finally:
        writes.close()
    return len(group)


def _days_needing_more(db: Database, meter_of: dict[UUID, UUID], ends: ValueEnds
                       ) -> dict[Work, set[date]]:
    """The days of each register's values whose meter's import half hours are not all actual
    intervals (gaps, clock skews, reads, the edges of its history), and every day of its export
    reads."""
    spans: dict[Work, tuple[date, date]] = {}
    for register in meter_of:
        for direction, sources in ((IMPORT, ("profile", "reads")), (EXPORT, ("export",))):
            ranges = [r for r in (ends.of(source, register) for source in sources) if r]
            if ranges:
                spans[(register, direction)] = (local_date(min(r[0] for r in ranges)),
                                                local_date(max(r[1] for r in ranges)))
    if not spans:
        return {}
    first = min(first for first, _ in spans.values())
    last = max(last for _, last in spans.values())
    totals = aggregates.meter_day_totals(db, set(meter_of.values()), first, last)
    lengths = bulk.local_day_lengths(db, first, last)
    registers = Counter(meter_of.values())
    work: dict[Work, set[date]] = {}
    for (register, direction), (first_day, last_day) in spans.items():
        days = set(days_between(first_day, last_day))
        meter = meter_of[register]
        if direction == IMPORT:
            days = {day for day in days if not _all_actual(
                totals.get((meter, direction, day)), registers[meter] * lengths.get(day, 0))}
        if days:
            work[(register, direction)] = days
    return work


def _all_actual(total: DayTotal | None, half_hours: int) -> bool:
    """Whether every half hour of the day is an actual interval (valid or not)."""
    return total is not None and total.actual + total.invalid == half_hours
