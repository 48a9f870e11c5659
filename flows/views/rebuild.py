"""`flows views rebuild`: the views built again from the tables, by the feeder's own steps
over every key, with the actual intervals of the profile log written set-based first.

1. In one transaction everything the views wrote is dropped and a rebuild mark (the change
   log's last number) written: the rebuilt views reflect at least the changes up to it.
2. Per group of meters (100; on PostgreSQL 1,000, or fewer so that every job has one, with
   `default_jobs` groups built at once, each on a connection of its own): in one transaction
   the actual intervals of the profile log by one SQL statement (`flows.views.store.bulk`:
   the SQL twin of `flows.views.rules.actual_interval`) and every day of the group's meters
   refreshed in the aggregates keyed by meter (`flows.views.store.aggregates.refresh_meters`,
   the feeder's own); then, in a second one, the days whose refreshed counts fall short
   (profile gaps and clock skews, days of register reads, the edges of a history, export
   reads) computed and written as the feeder does (`flows.views.changes.compute`) and
   refreshed again. The aggregates keyed by esco are refreshed once, after every group (two
   groups would refresh the same esco's days).
3. The mark is replaced by every shard's position: `flows views update` goes on from there
   (applying a change the rebuild already saw again does no harm).

An interrupted rebuild leaves its mark: the next `flows views update` or `rebuild` starts it
again (never left half-done as if it were complete).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass
from datetime import date
from uuid import UUID

from flows.db import Database, connect, is_unavailable, registry
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
from flows.views.checks import SOURCE_TABLE, check_links, check_value_windows
from flows.views.days import days_between, local_date
from flows.views.errors import ViewsError
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
    jobs: int = 1

    def line(self) -> str:
        return (f"views rebuilt: {self.registers:,} registers, {self.half_hours:,} half hours "
                f"(position {self.position}) in {self.duration_s:.1f} s"
                + (f" by {self.jobs} connections" if self.jobs > 1 else ""))


@dataclass
class _Built:
    """What one group's rebuild did: its registers, the half hours it inserted set-based, and
    the escos' days its meters count in (refreshed once, after every group)."""

    registers: int
    inserted: int
    escos: aggregates.EscoDays


def rebuild_views(db: Database, progress: Progress | None = None, jobs: int | None = None
                  ) -> RebuildSummary:
    """Drop the views of ``db`` and build them again from its tables; see the module's doc.
    ``db``: the feeder's connection (owning every shard). ``jobs``: groups built at
    once, each on a connection of its own (PostgreSQL; by default `default_jobs`)."""
    if jobs is not None and jobs > 1 and db.engine != "postgres":
        raise ViewsError(f"SQLite has one writer: the views are rebuilt by one job, not {jobs} "
                         "(more jobs are for PostgreSQL)")
    started = time.monotonic()
    summary = RebuildSummary(position=last_change(db))
    with db.transaction():
        aggregates.clear(db)
        position.write_position(db, position.REBUILD_FEED, summary.position)
    meters_total = registry.count_meters_with_registers(db)
    summary.jobs = jobs or default_jobs(db)
    meters_done = 0
    escos: aggregates.EscoDays = {}
    failed: list[UUID] = []
    statistics = intervals.Statistics(db)
    groups = _meter_groups(db, _group_size(db, meters_total, summary.jobs))
    for meters, built in _build_groups(db, groups, summary.jobs):
        if isinstance(built, Exception):
            # A row no rule can read: the group's meters one by one after the others, the
            # failing ones quarantined (what the group committed already is compared, not
            # repeated).
            log.warning("views rebuild: a group of %d meters failed (%s); taking them one by "
                        "one", len(meters), built)
            failed.extend(meters)
        else:
            summary.registers += built.registers
            statistics.written(built.inserted)
            for esco, days in built.escos.items():
                escos.setdefault(esco, set()).update(days)
        meters_done += len(meters)
        if progress is not None:
            progress(meters_done, meters_total)
    if failed:
        apply_meters(db, failed, summary.position)
        summary.registers += len(registry.register_meters(db, failed))
    with db.transaction():
        aggregates.refresh_escos(db, escos)
        position.clear_position(db, position.REBUILD_FEED)
        position.write_positions(db, {position.shard_feed(shard): summary.position
                                      for shard in range(position.shard_count(db))})
    summary.half_hours = intervals.interval_count(db)
    summary.duration_s = time.monotonic() - started
    return summary


def default_jobs(db: Database) -> int:
    """How many groups to build at once: on PostgreSQL as many as the parallel workers the
    server gives one query (``max_parallel_workers_per_gather``, which a DBA sets to the
    server's cores; 2 by default), at least one; SQLite has one writer."""
    if db.engine != "postgres":
        return 1
    return max(1, int(db.setting("max_parallel_workers_per_gather")))


def _group_size(db: Database, meters: int, jobs: int) -> int:
    """`METERS_PER_GROUP` (`METERS_PER_GROUP_POSTGRES` on PostgreSQL), or fewer so that each
    job has a group."""
    size = METERS_PER_GROUP_POSTGRES if db.engine == "postgres" else METERS_PER_GROUP
    return max(1, min(size, -(-meters // jobs)))


def _meter_groups(db: Database, size: int) -> Iterator[list[UUID]]:
    """The meters with registers, in groups of ``size``, by id, a page at a time."""
    after: UUID | None = None
    while meters := registry.meters_with_registers(db, after, size):
        yield meters
        after = meters[-1]


Outcome = tuple[list[UUID], _Built | Exception]


def _build_groups(db: Database, groups: Iterator[list[UUID]], jobs: int) -> Iterator[Outcome]:
    """Each group's outcome (its `_Built`, or the error a row no rule can read raised), as the
    groups finish: one at a time on ``db``, or ``jobs`` at once, each on a connection of its
    own. The database going away ends the rebuild (raised)."""
    if jobs == 1:
        for meters in groups:
            yield meters, _try_group(db, meters)
        return
    connections: list[Database] = []
    local = threading.local()

    def build(meters: list[UUID]) -> Outcome:
        if not hasattr(local, "db"):
            local.db = connect(db.url)
            aggregates.prepare_session(local.db)
            connections.append(local.db)
        return meters, _try_group(local.db, meters)

    pool = ThreadPoolExecutor(jobs, thread_name_prefix="views-rebuild")
    try:
        running: set[Future[Outcome]] = set()
        for meters in groups:
            running.add(pool.submit(build, meters))
            if len(running) >= 2 * jobs:  # a bounded queue: the registry is read as it goes
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                yield from (future.result() for future in finished)
        for future in as_completed(running):
            yield future.result()
    finally:
        pool.shutdown(cancel_futures=True)
        for connection in connections:
            connection.close()


def _try_group(db: Database, meters: list[UUID]) -> _Built | Exception:
    try:
        return _rebuild_group(db, meters)
    except Exception as error:
        if is_unavailable(error):
            raise
        return error


def _rebuild_group(db: Database, meters: list[UUID]) -> _Built:
    """Write the group's intervals and refresh its meters' days. The meter days refreshed
    from the actual intervals tell which days need more (their counts fall short); those are
    computed as the feeder computes them and refreshed again."""
    meter_of = dict(registry.register_meters(db, meters))
    group = sorted(meter_of)
    check_links(db, meters)
    ends = ValueEnds(db, group)
    # A value outside the days Flows holds (a year typo) would make days needing more of
    # every day between: a bad row, as the feeder finds it.
    check_value_windows({(source, register): found for source in SOURCE_TABLE
                         for register in group if (found := ends.of(source, register))})
    with db.transaction():
        inserted = bulk.insert_actual_intervals(db, group)
        _, escos = aggregates.refresh_meters(db, interval_days(db, meter_of))
    writes = compute(db, _days_needing_more(db, meter_of, ends), ends)
    try:
        with db.transaction():
            writes.write(db)
            _, more = aggregates.refresh_meters(db, meter_days(meter_of, writes.days))
    finally:
        writes.close()
    for esco, days in more.items():
        escos.setdefault(esco, set()).update(days)
    return _Built(len(group), inserted, escos)


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
