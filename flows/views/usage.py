"""Reading usage: per meter or customer over a period, import or export, by half hour, hour,
day, week, month or quarter.

Whole local days come from the daily aggregates the views maintain (``usage_meter_daily``,
``usage_customer_daily``: one row per day, so a year by day or by month reads 365 rows, never
17,520 half hours); half hours, hours and the parts of days a period cuts come from
``register_interval_hh``. Every row longer than a half hour carries `Counts` of its register
half hours and a quality that follows from them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Literal
from uuid import UUID

from flows.db import Database, daily, intervals
from flows.meterdata import (
    DERIVED_FLAG,
    HALF_HOUR,
    LOCAL_ZONE,
    UNUSABLE_FLAGS,
    flag_names,
    interval_quality,
)
from flows.views.halfhours import local_date

GROUPS = ("hh", "hour", "day", "week", "month", "quarter")
DIRECTIONS = ("import", "export")
HOUR = timedelta(hours=1)
PeriodQuality = Literal["actual", "estimated", "invalid", "incomplete"]
Spans = list[tuple[datetime | None, datetime | None, int]]  # (from, to, registers)


@dataclass(slots=True)  # not frozen: a frozen dataclass is several times slower to make
class Counts:
    """The register half hours of a row: a twin-element meter has two per half hour."""

    actual: int = 0
    estimated: int = 0  # derived from a gap, a clock skew or register reads
    invalid: int = 0  # reversal, sentinel or spike: not in the usage, their Wh in invalid_wh
    expected: int = 0  # 46, 48 or 50 per local day and register, inside the row's bounds
    invalid_wh: int = 0

    @property
    def missing(self) -> int:
        return max(0, self.expected - self.actual - self.estimated - self.invalid)

    @property
    def quality(self) -> PeriodQuality:
        """``actual`` when every expected half hour is actual; ``incomplete`` when any is
        missing or invalid (its energy is not in the usage); otherwise ``estimated``."""
        if self.missing or self.invalid:
            return "incomplete"
        if self.estimated:
            return "estimated"
        return "actual"

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.actual + other.actual, self.estimated + other.estimated,
                      self.invalid + other.invalid, self.expected + other.expected,
                      self.invalid_wh + other.invalid_wh)

    def expecting(self, expected: int) -> Counts:
        return Counts(self.actual, self.estimated, self.invalid, expected, self.invalid_wh)


@dataclass(slots=True)
class UsageRow:
    start: datetime  # UTC for half hours and hours; local (Europe/London) midnight from days on
    end: datetime
    kwh: Decimal
    flags: str = ""  # half hours and hours: the interval flags (see README), "derived" when apportioned
    # The period asked for cuts this hour, day, week, month or quarter: start and end are where
    # the cut is (inside the natural bounds) and only the half hours inside count.
    partial: bool = False
    counts: Counts | None = field(default=None)  # every row but half hours

    @property
    def quality(self) -> PeriodQuality:
        return interval_quality(self.flags) if self.counts is None else self.counts.quality

    @property
    def invalid_kwh(self) -> Decimal:
        return Decimal(self.counts.invalid_wh if self.counts else 0) / 1000


def usage(db: Database, *, period_from: datetime, period_to: datetime, group_by: str = "day",
          meter_id: UUID | None = None, customer_id: str | None = None,
          direction: str = "import") -> list[UsageRow]:
    """kWh of a meter (all its registers) or a customer (the meters linked to them, while
    linked) from ``period_from`` (inclusive) to ``period_to`` (exclusive), in order. Intervals
    flagged reversal, sentinel or spike are listed by half hour but not counted in longer rows
    (their kWh is in the counts). A longer row that the period cuts says so (``partial``) and
    has the cut's bounds."""
    if group_by not in GROUPS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPS)}, not {group_by!r}")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be import or export, not {direction!r}")
    if (meter_id is None) == (customer_id is None):
        raise ValueError("give a meter_id or a customer_id")
    if period_from.tzinfo is None or period_to.tzinfo is None:
        raise ValueError("period_from and period_to must be timezone-aware")
    reader = _Reader(db, meter_id, customer_id, direction)
    if group_by == "hh":
        return [UsageRow(stamp, stamp + HALF_HOUR, Decimal(wh) / 1000, ",".join(sorted(flags)))
                for stamp, (wh, flags, _) in sorted(reader.half_hours(period_from, period_to).items())]
    if group_by == "hour":
        return _hours(reader, period_from, period_to)
    return _periods(reader, period_from, period_to, group_by)


class _Reader:
    """One meter's or customer's half hours, days and expected half hours."""

    def __init__(self, db: Database, meter: UUID | None, customer: str | None,
                 direction: str) -> None:
        self.db, self.meter, self.customer, self.direction = db, meter, customer, direction
        self.spans: Spans = daily.register_counts(db, meter=meter, customer=customer)

    def half_hours(self, start: datetime, end: datetime
                   ) -> dict[datetime, tuple[int, set[str], Counts]]:
        """timestamp → (Wh of all registers, flags, counts without expected)."""
        found: dict[datetime, tuple[int, set[str], Counts]] = {}
        for row in intervals.half_hours(self.db, start, end, meter=self.meter,
                                        customer=self.customer, direction=self.direction):
            stamp, wh = row["timestamp"], int(row["wh"])
            total, flags, counts = found.get(stamp, (0, set(), Counts()))
            names = set(flag_names(row["flags"] or ""))
            if row["derived"]:
                names.add(DERIVED_FLAG)
            found[stamp] = (total + wh, flags | names, counts + _half_hour_counts(wh, names))
        return found

    def days(self, first: date, last: date) -> dict[date, tuple[int, Counts]]:
        """Day → (usable Wh, counts without expected), from the daily aggregates."""
        if self.customer is not None:
            rows = daily.customer_days(self.db, self.customer, self.direction, first, last)
        else:
            assert self.meter is not None
            rows = daily.meter_days(self.db, self.meter, self.direction, first, last)
        found: dict[date, tuple[int, Counts]] = {}
        for row in rows:  # a customer's meters: a row each a day
            counts = Counts(int(row["actual"]), int(row["estimated"]), int(row["invalid"]), 0,
                            int(row["invalid_wh"]))
            day, wh = row["day"], int(row["wh"])
            if day in found:
                wh, counts = wh + found[day][0], counts + found[day][1]
            found[day] = (wh, counts)
        return found

    def expected(self, start: datetime, end: datetime) -> int:
        """Register half hours that should exist in [start, end)."""
        if len(self.spans) == 1 and self.spans[0][:2] == (None, None):  # a meter: always
            return (_slots_before(end) - _slots_before(start)) * self.spans[0][2]
        total = 0
        for valid_from, valid_to, registers in self.spans:
            lower = start if valid_from is None else max(start, valid_from)
            upper = end if valid_to is None else min(end, valid_to)
            total += max(0, _slots_before(upper) - _slots_before(lower)) * registers
        return total


@functools.lru_cache(maxsize=16384)  # the same midnights come back request after request
def _slots_before(moment: datetime) -> int:
    """How many half-hour starts lie before ``moment`` since the epoch (a slot starting at
    ``moment`` is not counted)."""
    return -int(-moment.timestamp() // _HALF_HOUR_S)


_HALF_HOUR_S = HALF_HOUR.total_seconds()


def _half_hour_counts(wh: int, flags: set[str]) -> Counts:
    if UNUSABLE_FLAGS.intersection(flags):
        return Counts(invalid=1, invalid_wh=wh)
    if DERIVED_FLAG in flags:
        return Counts(estimated=1)
    return Counts(actual=1)


def _usable_wh(wh: int, counts: Counts) -> int:
    return wh - counts.invalid_wh


def _hours(reader: _Reader, period_from: datetime, period_to: datetime) -> list[UsageRow]:
    # London's offsets are whole hours: a UTC hour is a local hour.
    hours: dict[datetime, tuple[int, set[str], Counts]] = {}
    for stamp, (wh, flags, counts) in reader.half_hours(period_from, period_to).items():
        hour = stamp.replace(minute=0)
        total, seen, so_far = hours.get(hour, (0, set(), Counts()))
        hours[hour] = (total + _usable_wh(wh, counts), seen | flags, so_far + counts)
    rows = []
    for hour, (wh, flags, counts) in sorted(hours.items()):
        start, end = max(hour, period_from), min(hour + HOUR, period_to)
        counts = counts.expecting(reader.expected(start, end))
        rows.append(UsageRow(start, end, Decimal(wh) / 1000, ",".join(sorted(flags)),
                             partial=(start, end) != (hour, hour + HOUR), counts=counts))
    return rows


def _periods(reader: _Reader, period_from: datetime, period_to: datetime,
             group_by: str) -> list[UsageRow]:
    """Days, weeks, months or quarters: whole days from the aggregates, the parts of days the
    period cuts from their half hours. Bounds are compared in UTC (cheap); rows show local
    midnights."""
    period_from, period_to = period_from.astimezone(UTC), period_to.astimezone(UTC)
    first_whole = local_date(period_from)
    if _utc_start(first_whole) < period_from:
        first_whole += timedelta(days=1)
    last_whole = local_date(period_to) - timedelta(days=1)  # period_to is exclusive
    days: dict[date, tuple[int, Counts]] = {}
    if first_whole <= last_whole:
        days = reader.days(first_whole, last_whole)
        cuts = [(period_from, _utc_start(first_whole)),
                (_utc_start(last_whole + timedelta(days=1)), period_to)]
    else:
        cuts = [(period_from, period_to)]
    for cut_start, cut_end in cuts:
        if cut_start < cut_end:
            for stamp, (wh, _, counts) in reader.half_hours(cut_start, cut_end).items():
                day = local_date(stamp)
                total, so_far = days.get(day, (0, Counts()))
                days[day] = (total + _usable_wh(wh, counts), so_far + counts)
    buckets = days
    if group_by != "day":
        buckets = {}
        for day, (wh, counts) in days.items():
            start = _period_start(day, group_by)
            total, so_far = buckets.get(start, (0, Counts()))
            buckets[start] = (total + wh, so_far + counts)
    rows = []
    for bucket, (wh, counts) in sorted(buckets.items()):
        following = _period_end(bucket, group_by)
        natural_start, natural_end = _utc_start(bucket), _utc_start(following)
        start, end = max(natural_start, period_from), min(natural_end, period_to)
        counts = counts.expecting(reader.expected(start, end))
        partial = start != natural_start or end != natural_end
        rows.append(UsageRow(start if start != natural_start else _local_start(bucket),
                             end if end != natural_end else _local_start(following),
                             Decimal(wh) / 1000, partial=partial, counts=counts))
    return rows


@functools.lru_cache(maxsize=8192)
def _local_start(day: date) -> datetime:
    """Local midnight (Europe/London)."""
    return datetime(day.year, day.month, day.day, tzinfo=LOCAL_ZONE)


@functools.lru_cache(maxsize=8192)
def _utc_start(day: date) -> datetime:
    """Local midnight, in UTC."""
    return _local_start(day).astimezone(UTC)


def _period_start(day: date, group_by: str) -> date:
    if group_by == "week":
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
    if group_by == "month":
        return day.replace(day=1)
    if group_by == "quarter":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    return day


def _period_end(start: date, group_by: str) -> date:
    if group_by == "week":
        return start + timedelta(days=7)
    if group_by == "month":
        return _next_month(start)
    if group_by == "quarter":
        return _next_month(_next_month(_next_month(start)))
    return start + timedelta(days=1)


def _next_month(start: date) -> date:
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)

