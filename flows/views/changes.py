"""What a batch of logged changes makes the views do: which register days to compute again,
and how their half hours differ from what ``register_interval_hh`` holds.

A changed value moves the intervals from the last usable value before it to the first after
it (consecutive values are a question for SQL: `flows.db.values`), so the local days those
cover are computed again from the tables (`flows.views.rules`) and compared with
``register_interval_hh``; only the difference is written, and the local days whose half hours
changed are the days the aggregates refresh (`flows.views.store.aggregates`). Registers with
the same days to compute (a fleet's sync) are read together, a query per source for many
registers. Because states are compared, every commit reflects one moment of each touched
register's table and a change applied twice does no harm.

Days are computed in runs of at most `CHUNK_DAYS`, so one change years away from its
neighbours (a year typo) is computed in bounded memory; the half hours to write are spilled
to a temporary file beyond `KEEP_ROWS` and written, run by run, in the batch's transaction.
"""

from __future__ import annotations

import contextlib
import functools
import pickle
import tempfile
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from typing import IO, Any
from uuid import UUID

from flows.db import Database, values
from flows.views.days import day_end, day_runs, day_start, days_between, local_date, slot_start
from flows.views.rules import Intervals, import_intervals, source_intervals
from flows.views.store import intervals

IMPORT, EXPORT = "import", "export"
SOURCE_DIRECTION = {"profile": IMPORT, "reads": IMPORT, "export": EXPORT}
CHUNK_DAYS = 62  # days computed at once (about 3,000 half hours of a register)
KEEP_ROWS = 50_000  # half hours to write kept in memory; beyond, spilled to a temporary file
REGISTER_DAYS_AT_ONCE = 3_000  # register days computed together (one query per source)
_MICROSECOND = timedelta(microseconds=1)

Window = tuple[datetime, datetime]
Work = tuple[UUID, str]  # (register, direction)


class ValueEnds:
    """Each register's first and last value per source, asked once per batch (a source a
    register has no values in is then never searched)."""

    def __init__(self, db: Database, registers: Iterable[UUID]) -> None:
        self.db, self.registers = db, set(registers)
        self._ends: dict[str, dict[UUID, values.Ends]] = {}

    def of(self, source: str, register: UUID) -> values.Ends | None:
        if source not in self._ends:
            self._ends[source] = values.value_ends(self.db, source, self.registers)
        return self._ends[source].get(register)

    def lookup(self, source: str, register: UUID) -> values.EndsLookup:
        """`of`, asked only when called (a change with both neighbours near never asks)."""
        return lambda: self.of(source, register)


def value_days(db: Database, windows: dict[tuple[str, UUID], Window], ends: ValueEnds,
               kept_from: datetime | None = None) -> dict[Work, set[date]]:
    """The local days whose half hours the changed values move: from the last usable value
    before each window to the first after it (registers with the same window, as after a
    fleet's sync, are asked about in one query). Nothing before ``kept_from`` (where the
    history kept begins: `flows.db.partitions.history_kept_from`) moves: a value changed
    before it — written after retention dropped its month — is left aside (and no query of
    `flows.db.values` sees it), so the days before it keep the usage they had."""
    if kept_from is not None:
        windows = {key: (max(first, kept_from), last) for key, (first, last) in windows.items()
                   if last >= kept_from}
    same_window: dict[tuple[str, Window], list[UUID]] = {}
    for (source, register), window in windows.items():
        same_window.setdefault((source, window), []).append(register)
    days: dict[Work, set[date]] = {}
    for (source, (first, last)), registers in same_window.items():
        bounds = values.usable_bounds_many(db, source, registers, first, last,
                                           functools.partial(ends.lookup, source))
        for register, (lower, upper) in bounds.items():
            start = slot_start(lower if lower is not None else first)
            end = upper if upper is not None else last
            last_slot = slot_start(max(end - _MICROSECOND, start))
            days.setdefault((register, SOURCE_DIRECTION[source]), set()).update(
                days_between(local_date(start), local_date(last_slot)))
    return days


def meter_days(meter_of: dict[UUID, UUID], register_days: dict[UUID, set[date]]
               ) -> dict[UUID, set[date]]:
    """Registers' days as their meters' (registers without a meter are left out): what the
    aggregates refresh."""
    touched: dict[UUID, set[date]] = {}
    for register, days in register_days.items():
        if register in meter_of:
            touched.setdefault(meter_of[register], set()).update(days)
    return touched


def interval_days(db: Database, meter_of: dict[UUID, UUID]) -> dict[UUID, set[date]]:
    """Each meter's days from the first to the last half hour its registers (``meter_of``'s
    keys) have, either direction."""
    return meter_days(meter_of, {
        register: set(days_between(local_date(first), local_date(last)))
        for (register, _), (first, last) in intervals.interval_ranges(db, meter_of).items()})


class Writes:
    """The half hours to write, in memory up to `KEEP_ROWS`, then in a temporary file (so a
    change spanning years is written in bounded memory): keys removed, rows replacing the
    row of their key, new rows; and the local days of each register whose half hours change
    (``days``: what the aggregates refresh)."""

    def __init__(self) -> None:
        self.removed: list[tuple[UUID, str, datetime]] = []
        self.replaced: list[intervals.IntervalRow] = []
        self.inserted: list[intervals.IntervalRow] = []
        self.days: dict[UUID, set[date]] = {}
        self.new_rows = 0  # half hours inserted (not replacing a held one)
        self._spill: IO[bytes] | None = None

    def add(self, register: UUID, direction: str, held: Intervals, wanted: Intervals) -> None:
        removed = [(register, direction, moment) for moment in held if moment not in wanted]
        self.removed += removed
        changed = [moment for _, _, moment in removed]
        replaced, inserted = self.replaced, self.inserted
        for moment, value in wanted.items():
            before = held.get(moment)
            if before is None:
                inserted.append((register, direction, moment, *value))
                changed.append(moment)
                self.new_rows += 1
            elif before != value:
                replaced.append((register, direction, moment, *value))
                changed.append(moment)
        if changed:
            self.days.setdefault(register, set()).update(map(local_date, changed))
        if len(self.removed) + len(replaced) + len(inserted) > KEEP_ROWS:
            if self._spill is None:
                self._spill = tempfile.TemporaryFile()
            pickle.dump((self.removed, self.replaced, self.inserted), self._spill)
            self.removed, self.replaced, self.inserted = [], [], []

    def write(self, db: Database) -> None:
        """Write every change (in the caller's transaction)."""
        for removed, replaced, inserted in self._chunks():
            intervals.write_interval_changes(db, removed, replaced, inserted)

    def _chunks(self) -> Iterator[tuple[list[Any], list[Any], list[Any]]]:
        if self._spill is not None:
            self._spill.seek(0)
            with contextlib.suppress(EOFError):
                while True:
                    yield pickle.load(self._spill)
        yield self.removed, self.replaced, self.inserted

    def close(self) -> None:
        if self._spill is not None:
            self._spill.close()


def compute(db: Database, work: dict[Work, set[date]], ends: ValueEnds) -> Writes:
    """The interval writes of these register days, computed again from the values.
    Registers with the same run of days (a fleet's sync) are read together, a few thousand
    register days at a time. The caller closes the result."""
    writes = Writes()
    try:
        for direction, start, end, group in register_runs(work):
            held = intervals.held_intervals_many(db, group, direction, start, end)
            wanted = computed_many(db, group, direction, start, end, ends)
            for register in group:
                writes.add(register, direction, held[register], wanted[register])
    except BaseException:
        writes.close()
        raise
    return writes


def register_runs(work: dict[Work, set[date]]
                  ) -> Iterator[tuple[str, datetime, datetime, list[UUID]]]:
    """(direction, start, end, registers): the registers with the same run of days, a few
    thousand register days at a time, each run at most `CHUNK_DAYS` long."""
    same_days: dict[tuple[str, date, date], list[UUID]] = {}
    for (register, direction), days in work.items():
        for first, last in day_runs(days, CHUNK_DAYS):
            same_days.setdefault((direction, first, last), []).append(register)
    for (direction, first, last), registers in same_days.items():
        at_once = max(1, REGISTER_DAYS_AT_ONCE // ((last - first).days + 1))
        for offset in range(0, len(registers), at_once):
            yield direction, day_start(first), day_end(last), registers[offset:offset + at_once]


def computed_many(db: Database, registers: list[UUID], direction: str, start: datetime,
                  end: datetime, ends: ValueEnds) -> dict[UUID, Intervals]:
    """Each register's half hours of this direction starting in [start, end), from its
    values."""
    def of_source(source: str) -> dict[UUID, list[tuple[datetime, int, bool]]]:
        return values.values_around_many(db, source, registers, start, end,
                                         functools.partial(ends.lookup, source))

    if direction == EXPORT:
        export = of_source("export")
        return {r: source_intervals(export[r], False, start, end) for r in registers}
    profile, reads = of_source("profile"), of_source("reads")
    return {r: import_intervals(source_intervals(profile[r], True, start, end),
                                source_intervals(reads[r], False, start, end))
            for r in registers}
