"""A register's half-hourly intervals over a range of half hours, from its values alone.

A pure function of the tables: the feeder recomputes the intervals of the days a change
touches and writes the difference from what ``register_interval_hh`` holds, so nothing but
that table remembers an interval. Plain tuples, not records: this runs once per half hour.

Profile log: two on-grid values exactly half an hour apart make an actual interval; on-grid
values further apart make a span ("gap", or "clock_skew" when off-grid values lie between
them) whose advance is shared over its half hours in proportion to time. Register reads
(import and export): every two consecutive reads make a span. A half hour's derived value
adds up the shares of every span over it; import reads count only where the profile log has
nothing.
"""

from __future__ import annotations

import bisect
import functools
import itertools
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from flows.meterdata import HALF_HOUR, LOCAL_ZONE, REGISTER_SENTINEL_WH

SPIKE_WH = 24_000  # more than 24 kWh in half an hour is not a household's import
REGISTER_MAX_WH = 0xFFFFFFFF  # registers are u4 Wh: after this they wrap to 0
ROLLOVER_MARGIN_WH = 1_000_000  # a wrap goes from within this of the maximum to within this of 0

Value = tuple[datetime, int, bool]  # (timestamp, Wh, usable), in time order
IntervalValue = tuple[int, str, bool]  # (Wh, flags, derived)
Intervals = dict[datetime, IntervalValue]  # half-hour start → its interval

# A half hour's share of spans: Wh, then how many shares carry each flag, in this order.
SHARE_FLAGS = ("gap", "clock_skew", "reversal", "rollover", "sentinel")
_FLAG_POSITION = {name: position + 1 for position, name in enumerate(SHARE_FLAGS)}
_MICROSECOND = timedelta(microseconds=1)


def advance(first: int, last: int) -> tuple[int, str]:
    """The energy between two cumulative values, and its flag ("" when plausible)."""
    wh = last - first
    if REGISTER_SENTINEL_WH in (first, last):
        return wh, "sentinel"
    if wh < 0 and first > REGISTER_MAX_WH - ROLLOVER_MARGIN_WH and last < ROLLOVER_MARGIN_WH:
        return REGISTER_MAX_WH + 1 + wh, "rollover"
    if wh < 0:
        return wh, "reversal"
    return wh, ""


def slot_start(moment: datetime) -> datetime:
    return moment.replace(minute=moment.minute // 30 * 30, second=0, microsecond=0)


@functools.lru_cache(maxsize=1 << 16)  # every register's half hours share their starts
def local_date(moment: datetime) -> date:
    return moment.astimezone(LOCAL_ZONE).date()


@functools.lru_cache(maxsize=1 << 14)
def day_start(day: date) -> datetime:
    """When a local day starts, in UTC (DST days are 23 or 25 hours long)."""
    return datetime.combine(day, time(0), tzinfo=LOCAL_ZONE).astimezone(UTC)


def day_end(day: date) -> datetime:
    return day_start(day + timedelta(days=1))


def _span_shares(totals: dict[datetime, list[int]], first_at: datetime, first_wh: int,
                 last_at: datetime, last_wh: int, kind: str, start: datetime, end: datetime
                 ) -> None:
    """Add a span's shares of the half hours in [start, end) to ``totals``: in proportion to
    time, in whole Wh that add up to exactly the advance over the whole span (each share is
    the floor of the running total, so any range of half hours is computed on its own)."""
    wh, flag = advance(first_wh, last_wh)
    duration = (last_at - first_at) // _MICROSECOND
    slot = max(slot_start(first_at), start)
    stop = min(last_at, end)
    kind_position = _FLAG_POSITION.get(kind)
    flag_position = _FLAG_POSITION.get(flag)
    while slot < stop:
        lower = max(slot, first_at)
        upper = min(slot + HALF_HOUR, last_at)
        share = (wh * ((upper - first_at) // _MICROSECOND) // duration
                 - wh * ((lower - first_at) // _MICROSECOND) // duration)
        total = totals.get(slot)
        if total is None:
            total = totals[slot] = [0, 0, 0, 0, 0, 0]
        total[0] += share
        if kind_position:
            total[kind_position] += 1
        if flag_position:
            total[flag_position] += 1
        slot += HALF_HOUR


def share_flags(total: Sequence[int]) -> str:
    names = [name for position, name in enumerate(SHARE_FLAGS, start=1) if total[position]]
    if total[0] > SPIKE_WH:
        names.append("spike")
    return ",".join(names)


def source_intervals(values: Sequence[Value], profile: bool, start: datetime, end: datetime
                     ) -> Intervals:
    """The half hours starting in [start, end) that these values (of one source, covering
    the range: from the last usable value before it to the first usable one after it) make."""
    usable = [(stamp, wh) for stamp, wh, ok in values if ok]
    skewed = [stamp for stamp, _, ok in values if not ok]
    out: Intervals = {}
    totals: dict[datetime, list[int]] = {}
    for (first_at, first_wh), (last_at, last_wh) in itertools.pairwise(usable):
        if last_at <= start or first_at >= end:
            continue
        if profile and last_at - first_at == HALF_HOUR:
            if first_at >= start:
                wh = last_wh - first_wh
                if 0 <= wh <= SPIKE_WH and REGISTER_SENTINEL_WH not in (first_wh, last_wh):
                    out[first_at] = (wh, "", False)  # the common case, without `advance`
                else:
                    wh, flag = advance(first_wh, last_wh)
                    out[first_at] = (wh, flag or ("spike" if wh > SPIKE_WH else ""), False)
            continue
        kind = ""
        if profile:
            between = bisect.bisect_right(skewed, first_at) < bisect.bisect_left(skewed, last_at)
            kind = "clock_skew" if between else "gap"
        _span_shares(totals, first_at, first_wh, last_at, last_wh, kind, start, end)
    for slot, total in totals.items():
        out[slot] = (total[0], share_flags(total), True)
    return out


def import_intervals(profile: Intervals, reads: Intervals) -> Intervals:
    """Import half hours: the profile log's, and the register reads' where it has nothing."""
    if not reads:
        return profile
    merged = dict(reads)
    merged.update(profile)
    return merged
