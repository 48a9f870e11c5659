"""Reading usage: per meter or customer over a period, by half hour, hour, day, week, month
or quarter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from uuid import UUID

from flows.db import Database, intervals
from flows.meterdata import DERIVED_FLAG, HALF_HOUR, LOCAL_ZONE, UNUSABLE_FLAGS, flag_names
from flows.views.query import local_date

GROUPS = ("hh", "hour", "day", "week", "month", "quarter")
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class UsageRow:
    start: datetime  # UTC for half hours and hours; local (Europe/London) midnight from days on
    end: datetime
    kwh: Decimal
    flags: str = ""  # half hours and hours: the interval flags (see README), "derived" when apportioned
    # The period asked for cuts this hour, day, week, month or quarter: start and end are where
    # the cut is (inside the natural bounds) and only the half hours inside count.
    partial: bool = False


def _local_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=LOCAL_ZONE)


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


def usage(db: Database, *, period_from: datetime, period_to: datetime, group_by: str = "day",
          meter_id: UUID | None = None, customer_id: str | None = None) -> list[UsageRow]:
    """Import kWh of a meter (all its registers) or a customer (the meters linked to them,
    while linked) from ``period_from`` (inclusive) to ``period_to`` (exclusive), in order.
    Intervals flagged reversal, sentinel or spike are listed by half hour but not counted in
    hours, days, weeks, months or quarters (an hour keeps their flags). A longer row that the
    period cuts says so (``partial``) and has the cut's bounds."""
    if group_by not in GROUPS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPS)}, not {group_by!r}")
    if (meter_id is None) == (customer_id is None):
        raise ValueError("give a meter_id or a customer_id")
    if period_from.tzinfo is None or period_to.tzinfo is None:
        raise ValueError("period_from and period_to must be timezone-aware")
    rows = intervals.half_hours(db, period_from, period_to, meter=meter_id, customer=customer_id)
    half_hours: dict[datetime, tuple[Decimal, set[str]]] = {}
    for row in rows:
        stamp = row["timestamp"]
        kwh, flags = half_hours.get(stamp, (Decimal(0), set()))
        flags |= set(flag_names(row["flags"] or ""))
        if row["derived"]:
            flags.add(DERIVED_FLAG)
        half_hours[stamp] = (kwh + Decimal(int(row["wh"])) / 1000, flags)
    if group_by == "hh":
        return [UsageRow(stamp, stamp + HALF_HOUR, kwh, ",".join(sorted(flags)))
                for stamp, (kwh, flags) in sorted(half_hours.items())]
    if group_by == "hour":  # London's offsets are whole hours: a UTC hour is a local hour
        hours: dict[datetime, tuple[Decimal, set[str]]] = {}
        for stamp, (kwh, flags) in half_hours.items():
            hour = stamp.replace(minute=0)
            total, seen = hours.get(hour, (Decimal(0), set()))
            hours[hour] = (total + _usable(kwh, flags), seen | flags)
        return [_row(hour, hour + HOUR, kwh, period_from, period_to, ",".join(sorted(flags)))
                for hour, (kwh, flags) in sorted(hours.items())]
    periods: dict[date, Decimal] = {}
    for stamp, (kwh, flags) in half_hours.items():
        start = _period_start(local_date(stamp), group_by)
        periods[start] = periods.get(start, Decimal(0)) + _usable(kwh, flags)
    return [_row(_local_start(start), _local_start(_period_end(start, group_by)), kwh, period_from,
                 period_to) for start, kwh in sorted(periods.items())]


def _usable(kwh: Decimal, flags: set[str]) -> Decimal:
    """What a half hour adds to a longer row: nothing when it is implausible."""
    return Decimal(0) if UNUSABLE_FLAGS.intersection(flags) else kwh


def _row(start: datetime, end: datetime, kwh: Decimal, period_from: datetime, period_to: datetime,
         flags: str = "") -> UsageRow:
    """A row of its natural bounds, or of the part of them inside the period (partial)."""
    if start < period_from or end > period_to:
        return UsageRow(max(start, period_from), min(end, period_to), kwh, flags, partial=True)
    return UsageRow(start, end, kwh, flags)
