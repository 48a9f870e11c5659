"""Reading usage: per meter, customer or esco over a period, import or export, by half hour,
hour, day, week, month or quarter (an esco: by day and longer).

Whole local days come from the daily aggregates the views maintain (``usage_meter_daily``,
``usage_customer_daily``, ``usage_esco_daily``: one row per day, so a year by day or by month
reads 365 rows, never 17,520 half hours); half hours, hours and the parts of days a period cuts
come from ``register_interval_hh``. Every row longer than a half hour carries the `DayTotal`
of its register half hours, how many were expected, and a quality that follows from them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from flows.db import Database
from flows.meterdata import DERIVED_FLAG, HALF_HOUR, LOCAL_ZONE
from flows.views.days import local_date
from flows.views.rules import DayTotal, PeriodQuality, quality
from flows.views.store import aggregates, intervals

GROUPS = ("hh", "hour", "day", "week", "month", "quarter")
DAILY_GROUPS = ("day", "week", "month", "quarter")
DIRECTIONS = ("import", "export")
HOUR = timedelta(hours=1)


@dataclass(slots=True)
class UsageRow:
    start: datetime  # UTC for half hours and hours; local (Europe/London) midnight from days on
    end: datetime
    kwh: Decimal
    flags: str = ""  # half hours and hours: the interval flags (see README), "derived" when apportioned
    # The period asked for cuts this hour, day, week, month or quarter: start and end are where
    # the cut is (inside the natural bounds) and only the half hours inside count.
    partial: bool = False
    total: DayTotal | None = None  # every row but half hours: its register half hours added up
    expected: int = 0  # register half hours that should exist inside the row's bounds

    @property
    def quality(self) -> PeriodQuality:
        return quality(self.flags) if self.total is None else self.total.quality(self.expected)

    @property
    def missing(self) -> int:
        return 0 if self.total is None else self.total.missing(self.expected)

    @property
    def invalid_kwh(self) -> Decimal:
        return Decimal(self.total.invalid_wh if self.total else 0) / 1000


def usage(db: Database, *, period_from: datetime, period_to: datetime, group_by: str = "day",
          meter_id: UUID | None = None, customer_id: str | None = None, esco: UUID | None = None,
          direction: str = "import") -> list[UsageRow]:
    """kWh of a meter (all its registers), a customer (the meters linked to them, while
    linked) or an esco (its meters) from ``period_from`` (inclusive) to ``period_to``
    (exclusive), in order. Intervals flagged reversal, sentinel or spike are listed by half
    hour but not counted in longer rows (their kWh is in the totals). A longer row that the
    period cuts says so (``partial``) and has the cut's bounds. An esco's usage is by day,
    week, month or quarter."""
    if group_by not in GROUPS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPS)}, not {group_by!r}")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be import or export, not {direction!r}")
    keys = [(column, value) for column, value in (("meter_id", meter_id),
                                                  ("customer_id", customer_id), ("esco", esco))
            if value is not None]
    if len(keys) != 1:
        raise ValueError("give one of meter_id, customer_id or esco")
    if keys[0][0] == "esco" and group_by not in DAILY_GROUPS:
        raise ValueError(f"an esco's usage is by {', '.join(DAILY_GROUPS)}, not {group_by!r}")
    if period_from.tzinfo is None or period_to.tzinfo is None:
        raise ValueError("period_from and period_to must be timezone-aware")
    reader = _Reader(db, keys[0], direction)
    if group_by == "hh":
        return [UsageRow(stamp, stamp + HALF_HOUR, Decimal(wh) / 1000, ",".join(sorted(flags)))
                for stamp, (wh, flags, _) in sorted(reader.half_hours(period_from, period_to).items())]
    if group_by == "hour":
        return _hours(reader, period_from, period_to)
    return _periods(reader, period_from, period_to, group_by)


class _Reader:
    """One meter's, customer's or esco's half hours, days and expected half hours."""

    def __init__(self, db: Database, key: tuple[str, Any], direction: str) -> None:
        self.db, self.key, self.direction = db, key, direction
        self.spans = aggregates.register_spans(db, key)

    def half_hours(self, start: datetime, end: datetime
                   ) -> dict[datetime, tuple[int, set[str], DayTotal]]:
        """timestamp → (Wh of all registers, flags, their half hours added up)."""
        found: dict[datetime, tuple[int, set[str], DayTotal]] = {}
        for stamp, wh, flags, derived in intervals.half_hours(self.db, start, end, self.key,
                                                              self.direction):
            total, seen, so_far = found.get(stamp, (0, set(), DayTotal()))
            names = {name for name in flags.split(",") if name}
            if derived:
                names.add(DERIVED_FLAG)
            found[stamp] = (total + wh, seen | names,
                            so_far + DayTotal.of_half_hour(wh, flags, derived))
        return found

    def days(self, first: date, last: date) -> dict[date, DayTotal]:
        """Day → its half hours added up, from the daily aggregates."""
        return aggregates.day_totals(self.db, self.key, self.direction, first, last)

    def expected(self, start: datetime, end: datetime) -> int:
        """Register half hours that should exist in [start, end)."""
        if len(self.spans) == 1 and self.spans[0][:2] == (None, None):  # a meter or an esco
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


def _hours(reader: _Reader, period_from: datetime, period_to: datetime) -> list[UsageRow]:
    # London's offsets are whole hours: a UTC hour is a local hour.
    hours: dict[datetime, tuple[set[str], DayTotal]] = {}
    for stamp, (_, flags, total) in reader.half_hours(period_from, period_to).items():
        hour = stamp.replace(minute=0)
        seen, so_far = hours.get(hour, (set(), DayTotal()))
        hours[hour] = (seen | flags, so_far + total)
    rows = []
    for hour, (flags, total) in sorted(hours.items()):
        start, end = max(hour, period_from), min(hour + HOUR, period_to)
        rows.append(UsageRow(start, end, Decimal(total.wh) / 1000, ",".join(sorted(flags)),
                             partial=(start, end) != (hour, hour + HOUR), total=total,
                             expected=reader.expected(start, end)))
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
    days: dict[date, DayTotal] = {}
    if first_whole <= last_whole:
        days = reader.days(first_whole, last_whole)
        cuts = [(period_from, _utc_start(first_whole)),
                (_utc_start(last_whole + timedelta(days=1)), period_to)]
    else:
        cuts = [(period_from, period_to)]
    for cut_start, cut_end in cuts:
        if cut_start < cut_end:
            for stamp, (_, _, total) in reader.half_hours(cut_start, cut_end).items():
                day = local_date(stamp)
                days[day] = days[day] + total if day in days else total
    buckets = days
    if group_by != "day":
        buckets = {}
        for day, total in days.items():
            start = _period_start(day, group_by)
            buckets[start] = buckets[start] + total if start in buckets else total
    rows = []
    for bucket, total in sorted(buckets.items()):
        following = _period_end(bucket, group_by)
        natural_start, natural_end = _utc_start(bucket), _utc_start(following)
        start, end = max(natural_start, period_from), min(natural_end, period_to)
        partial = start != natural_start or end != natural_end
        rows.append(UsageRow(start if start != natural_start else _local_start(bucket),
                             end if end != natural_end else _local_start(following),
                             Decimal(total.wh) / 1000, partial=partial, total=total,
                             expected=reader.expected(start, end)))
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

