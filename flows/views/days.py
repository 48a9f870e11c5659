"""Half hours and local days (Europe/London by default: 46, 48 or 50 half hours a day)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import date, datetime, timedelta

from flows.meterdata import LOCAL_ZONE, local_midnight


def slot_start(moment: datetime) -> datetime:
    """The start of the half hour ``moment`` falls in."""
    return moment.replace(minute=moment.minute // 30 * 30, second=0, microsecond=0)


@functools.lru_cache(maxsize=1 << 16)  # every register's half hours share their starts
def local_date(moment: datetime) -> date:
    return moment.astimezone(LOCAL_ZONE).date()


@functools.lru_cache(maxsize=1 << 14)
def day_start(day: date) -> datetime:
    """When a local day starts, in UTC (DST days are 23 or 25 hours long)."""
    return local_midnight(day)


def day_end(day: date) -> datetime:
    return day_start(day + timedelta(days=1))


def days_between(first: date, last: date) -> Iterator[date]:
    """``first`` to ``last``, both included."""
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def day_runs(days: set[date], longest: int) -> Iterator[tuple[date, date]]:
    """Runs of consecutive days, at most ``longest`` long: (first, last)."""
    ordered = sorted(days)
    if not ordered:
        return
    first = previous = ordered[0]
    for day in ordered[1:]:
        if day != previous + timedelta(days=1) or (day - first).days >= longest:
            yield first, previous
            first = day
        previous = day
    yield first, previous
