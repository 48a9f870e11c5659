"""What a batch of logged changes makes the views do: which register days to compute again,
and how their half hours and day parts differ from what the views hold.

A changed value moves the intervals from the last usable value before it to the first after
it (consecutive values are a question for SQL: `flows.db.consecutive`), so the
local days those cover are computed again from the tables (`flows.views.halfhours`) and
compared with ``register_interval_hh``; only the difference is written and handed to the
query, added up per day part. A register that joins or leaves a meter has its whole history
attributed again (from the intervals held); a link that starts or ends moves the part
boundaries of its days. Registers with the same days to compute (a fleet's sync) are read
together, a query per source for many registers. Because
states are compared, every commit reflects one moment of each touched register's table and a
change applied twice does no harm.

Days are computed in chunks of at most `CHUNK_DAYS`, so one change years away from its
neighbours (a year typo) is computed in bounded memory; the half hours to write are spilled
to a temporary file beyond `KEEP_ROWS` and written, chunk by chunk, in the iteration's
transaction.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import pickle
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import IO, Any
from uuid import UUID

from flows.db import Database, consecutive, intervals
from flows.meterdata import HALF_HOUR, UNUSABLE_FLAGS
from flows.views import query as q
from flows.views.halfhours import (
    Intervals,
    day_end,
    day_start,
    import_intervals,
    local_date,
    slot_start,
    source_intervals,
)

REGISTRY_SOURCE = "meter"  # a change to a meter's registers or links; register_id is the meter
CHUNK_DAYS = 62  # days computed at once (about 3,000 half hours of a register)
KEEP_ROWS = 50_000  # half hours to write kept in memory; beyond, spilled to a temporary file
_MICROSECOND = timedelta(microseconds=1)

Window = tuple[datetime, datetime]
Work = tuple[UUID, str]  # (register, direction)


def changed_meters(batch: intervals.ChangeBatch) -> set[UUID]:
    """The meters whose registers or customer links changed in the batch."""
    return {register for source, register in batch.windows if source == REGISTRY_SOURCE}


def value_windows(batch: intervals.ChangeBatch) -> dict[tuple[str, UUID], Window]:
    """(source, register) → the earliest and latest changed value in the batch."""
    return {key: window for key, window in batch.windows.items() if key[0] != REGISTRY_SOURCE}


def days_between(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


class ValueEnds:
    """Each register's first and last value per source, asked once per batch (a source a
    register has no values in is then never searched)."""

    def __init__(self, db: Database, registers: Iterable[UUID]) -> None:
        self.db, self.registers = db, set(registers)
        self._ends: dict[str, dict[UUID, consecutive.Ends]] = {}

    def of(self, source: str, register: UUID) -> consecutive.Ends | None:
        if source not in self._ends:
            self._ends[source] = consecutive.value_ends(self.db, source, self.registers)
        return self._ends[source].get(register)

    def lookup(self, source: str, register: UUID) -> consecutive.EndsLookup:
        """`of`, asked only when called (a change with both neighbours near never asks)."""
        return lambda: self.of(source, register)


def value_days(db: Database, windows: dict[tuple[str, UUID], Window], ends: ValueEnds
               ) -> dict[Work, set[date]]:
    """The local days whose half hours the changed values move: from the last usable value
    before each window to the first after it (registers with the same window, as after a
    fleet's sync, are asked about in one query)."""
    same_window: dict[tuple[str, Window], list[UUID]] = {}
    for (source, register), window in windows.items():
        same_window.setdefault((source, window), []).append(register)
    days: dict[Work, set[date]] = {}
    for (source, (first, last)), registers in same_window.items():
        bounds = consecutive.usable_bounds_many(db, source, registers, first, last,
                                              functools.partial(ends.lookup, source))
        for register, (lower, upper) in bounds.items():
            start = slot_start(lower if lower is not None else first)
            end = upper if upper is not None else last
            last_slot = slot_start(max(end - _MICROSECOND, start))
            days.setdefault((register, q.SOURCE_DIRECTION[source]), set()).update(
                days_between(local_date(start), local_date(last_slot)))
    return days


def whole_histories(db: Database, registers: set[UUID]) -> dict[Work, set[date]]:
    """Every day of these registers that has intervals, in both directions."""
    if not registers:
        return {}
    return {work: set(days_between(local_date(first), local_date(last)))
            for work, (first, last) in intervals.interval_ranges(db, registers).items()}


def chunks(days: set[date]) -> Iterator[tuple[date, date]]:
    """Runs of consecutive days, at most `CHUNK_DAYS` long: (first, last)."""
    ordered = sorted(days)
    first = previous = ordered[0]
    for day in ordered[1:]:
        if day != previous + timedelta(days=1) or (day - first).days >= CHUNK_DAYS:
            yield first, previous
            first = day
        previous = day
    yield first, previous


# The registry the views hold, before and after the batch -----------------------------------


def part_starts(links: Iterable[q.CustomerMeter]) -> list[datetime]:
    """Where a meter's day parts start besides its days' starts: the first half hour at or
    after each link's start and end."""
    starts = set()
    for link in links:
        for moment in (link.valid_from, link.valid_to):
            if moment is not None:
                slot = slot_start(moment)
                starts.add(slot if slot == moment else slot + HALF_HOUR)
    return sorted(starts)


@dataclass
class RegistryState:
    """Each register's meter and each meter's part starts, as the views hold them before the
    batch (``old``) and after it (``new``: the held rows plus the batch's registry changes)."""

    old_meter: dict[UUID, UUID] = field(default_factory=dict)
    new_meter: dict[UUID, UUID] = field(default_factory=dict)
    old_starts: dict[UUID, list[datetime]] = field(default_factory=dict)
    new_starts: dict[UUID, list[datetime]] = field(default_factory=dict)


def _apply(held: dict[Any, int], changes: dict[Any, int]) -> set[Any]:
    after = dict(held)
    for value, count in changes.items():
        after[value] = after.get(value, 0) + count
    return {value for value, count in after.items() if count > 0}


def registry_state(held_registers: set[q.Register], register_changes: dict[q.Register, int],
                   held_links: dict[UUID, set[q.CustomerMeter]],
                   link_changes: dict[q.CustomerMeter, int]) -> RegistryState:
    state = RegistryState()
    for register in held_registers:
        state.old_meter[register.register_id] = register.meter_id
    for register in _apply(dict.fromkeys(held_registers, 1), register_changes):
        state.new_meter[register.register_id] = register.meter_id
    changed_links: dict[UUID, dict[q.CustomerMeter, int]] = {}
    for link, count in link_changes.items():
        changed_links.setdefault(link.meter_id, {})[link] = count
    for meter, links in held_links.items():
        state.old_starts[meter] = part_starts(links)
        state.new_starts[meter] = part_starts(
            _apply(dict.fromkeys(links, 1), changed_links.get(meter, {})))
    return state


# Day parts ---------------------------------------------------------------------------------

PartKey = tuple[date, datetime]  # (local date, first half hour of the part)
PartTotal = list[int]  # wh, actual, estimated, invalid, invalid_wh


def day_parts(half_hours: Intervals, starts: list[datetime]) -> dict[PartKey, PartTotal]:
    """The half hours added up per local day (as a `query.DayTotal`), split where ``starts``
    fall inside a day."""
    parts: dict[PartKey, PartTotal] = {}
    unusable = UNUSABLE_FLAGS
    for start, (wh, flags, derived) in half_hours.items():
        day = local_date(start)
        part_start = day_start(day)
        if starts:
            position = bisect.bisect_right(starts, start)
            if position and starts[position - 1] > part_start:
                part_start = starts[position - 1]
        total = parts.get((day, part_start))
        if total is None:
            total = parts[(day, part_start)] = [0, 0, 0, 0, 0]
        # Implausible half hours (reversal, sentinel, spike) are counted, their Wh kept apart.
        if flags and unusable.intersection(flags.split(",")):
            total[3] += 1
            total[4] += wh
        elif derived:
            total[0] += wh
            total[2] += 1
        else:
            total[0] += wh
            total[1] += 1
    return parts


def part_records(register: UUID, meter: UUID | None, direction: str,
                 parts: dict[PartKey, PartTotal]) -> dict[q.DayPart, None]:
    """The query's `DayPart` records of a register's part totals (none without a meter)."""
    if meter is None:
        return {}
    return {q.DayPart(register_id=register, meter_id=meter, direction=direction, date=day,
                      start=start, total=q.DayTotal(wh=t[0], actual=t[1], estimated=t[2],
                                                    invalid=t[3], invalid_wh=t[4])): None
            for (day, start), t in parts.items()}


# Computing a batch --------------------------------------------------------------------------


class Writes:
    """The half hours to write, in memory up to `KEEP_ROWS`, then in a temporary file (so a
    change spanning years is written in bounded memory): keys removed, rows replacing the
    row of their key, new rows."""

    def __init__(self) -> None:
        self.removed: list[tuple[UUID, str, datetime]] = []
        self.replaced: list[intervals.IntervalRow] = []
        self.inserted: list[intervals.IntervalRow] = []
        self._spill: IO[bytes] | None = None

    def add(self, register: UUID, direction: str, held: Intervals, wanted: Intervals) -> None:
        removed = [(register, direction, moment) for moment in held if moment not in wanted]
        self.removed += removed
        replaced, inserted = self.replaced, self.inserted
        for moment, value in wanted.items():
            before = held.get(moment)
            if before is None:
                inserted.append((register, direction, moment, *value))
            elif before != value:
                replaced.append((register, direction, moment, *value))
        if len(self.removed) + len(replaced) + len(inserted) > KEEP_ROWS:
            if self._spill is None:
                self._spill = tempfile.TemporaryFile()
            pickle.dump((self.removed, self.replaced, self.inserted), self._spill)
            self.removed, self.replaced, self.inserted = [], [], []

    def chunks(self) -> Iterator[tuple[list[Any], list[Any], list[Any]]]:
        if self._spill is not None:
            self._spill.seek(0)
            with contextlib.suppress(EOFError):
                while True:
                    yield pickle.load(self._spill)
        yield self.removed, self.replaced, self.inserted

    def close(self) -> None:
        if self._spill is not None:
            self._spill.close()


@dataclass
class BatchChanges:
    parts: dict[q.DayPart, int] = field(default_factory=dict)
    writes: Writes = field(default_factory=Writes)


REGISTER_DAYS_AT_ONCE = 3_000  # register days computed together (one query per source)


def compute(db: Database, work: dict[Work, set[date]], registry: RegistryState, ends: ValueEnds,
            parts_only: dict[Work, set[date]] | None = None) -> BatchChanges:
    """The interval writes and day-part changes of these register days: ``work`` computed
    again from the values, ``parts_only`` (registry changes) only split and attributed again
    from the intervals held. Registers with the same run of days (a fleet's sync) are read
    together, a few thousand register days at a time."""
    out = BatchChanges()
    parts_only = {key: days - work.get(key, set()) for key, days in (parts_only or {}).items()}
    for recompute, items in ((True, work), (False, parts_only)):
        for direction, start, end, group in register_runs(items):
            held = intervals.held_intervals_many(db, group, direction, start, end)
            wanted = computed_many(db, group, direction, start, end, ends) if recompute else held
            for register in group:
                if recompute:
                    out.writes.add(register, direction, held[register], wanted[register])
                _part_changes(out, register, direction, held[register], wanted[register],
                              registry)
    return out


def register_runs(work: dict[Work, set[date]]
                  ) -> Iterator[tuple[str, datetime, datetime, list[UUID]]]:
    """(direction, start, end, registers): the registers with the same run of days, a few
    thousand register days at a time, each run at most `CHUNK_DAYS` long."""
    same_days: dict[tuple[str, date, date], list[UUID]] = {}
    for (register, direction), days in work.items():
        for first, last in chunks(days) if days else ():
            same_days.setdefault((direction, first, last), []).append(register)
    for (direction, first, last), registers in same_days.items():
        at_once = max(1, REGISTER_DAYS_AT_ONCE // ((last - first).days + 1))
        for offset in range(0, len(registers), at_once):
            yield direction, day_start(first), day_end(last), registers[offset:offset + at_once]


def _part_changes(out: BatchChanges, register: UUID, direction: str, held: Intervals,
                  wanted: Intervals, registry: RegistryState) -> None:
    old_meter, new_meter = registry.old_meter.get(register), registry.new_meter.get(register)
    old_starts = registry.old_starts.get(old_meter, []) if old_meter else []
    new_starts = registry.new_starts.get(new_meter, []) if new_meter else []
    before = part_records(register, old_meter, direction, day_parts(held, old_starts))
    after = part_records(register, new_meter, direction, day_parts(wanted, new_starts))
    for part in before.keys() - after.keys():
        out.parts[part] = -1
    for part in after.keys() - before.keys():
        out.parts[part] = 1


def computed_many(db: Database, registers: list[UUID], direction: str, start: datetime,
                  end: datetime, ends: ValueEnds) -> dict[UUID, Intervals]:
    """Each register's half hours of this direction starting in [start, end), from its
    values."""
    def values(source: str) -> dict[UUID, list[tuple[datetime, int, bool]]]:
        return consecutive.values_around_many(db, source, registers, start, end,
                                            functools.partial(ends.lookup, source))

    if direction == q.EXPORT:
        export = values("export")
        return {r: source_intervals(export[r], False, start, end) for r in registers}
    profile, reads = values("profile"), values("reads")
    return {r: import_intervals(source_intervals(profile[r], True, start, end),
                                source_intervals(reads[r], False, start, end))
            for r in registers}
