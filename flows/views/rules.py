"""The interval rules, written once: how cumulative values become half-hourly intervals
(sentinel, rollover, reversal, spike, spans apportioned over their half hours) and what a
half hour's quality is (actual, estimated, invalid), with the `DayTotal` of half hours.

Where SQL computes the same for speed (the rebuild's actual intervals, the daily aggregates'
GROUP BY), its twin stands beside the Python rule here, and one table of cases tests both
(tests/views/test_rules.py).

Intervals are a pure function of the values: the feeder computes the half hours of the days a
change touches and writes the difference from what ``register_interval_hh`` holds. Plain
tuples, not records: this runs once per half hour.

Profile log: two on-grid values exactly half an hour apart make an actual interval; on-grid
values further apart make a span ("gap", or "clock_skew" when off-grid values lie between
them) whose advance is shared over its half hours in proportion to time. Register reads
(import and export): every two consecutive reads make a span. A half hour's derived value
adds up the shares of every span over it; import reads count only where the profile log has
nothing.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Literal

from flows.meterdata import (
    DERIVED_FLAG,
    HALF_HOUR,
    REGISTER_MAX_WH,
    REGISTER_SENTINEL_WH,
    ROLLOVER_MARGIN_WH,
    SPIKE_WH,
    UNUSABLE_FLAGS,
    Quality,
    flag_names,
)
from flows.views.days import slot_start

PeriodQuality = Literal["actual", "estimated", "invalid", "incomplete"]  # of a longer row
Value = tuple[datetime, int, bool]  # (timestamp, Wh, usable), in time order
IntervalValue = tuple[int, str, bool]  # (Wh, flags, derived)
Intervals = dict[datetime, IntervalValue]  # half-hour start → its interval

# A half hour's share of spans: Wh, then how many shares carry each flag, in this order.
SHARE_FLAGS = ("gap", "clock_skew", "reversal", "rollover", "sentinel")
_FLAG_POSITION = {name: position + 1 for position, name in enumerate(SHARE_FLAGS)}
_MICROSECOND = timedelta(microseconds=1)


# The advance between two cumulative values -------------------------------------------------


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


def actual_interval(first: int, last: int) -> tuple[int, str]:
    """An actual interval (two on-grid values half an hour apart): `advance`, and "spike"
    when a plausible advance is more than `SPIKE_WH`."""
    wh, flag = advance(first, last)
    return wh, flag or ("spike" if wh > SPIKE_WH else "")


def actual_interval_sql(first: str, last: str) -> tuple[str, str]:
    """SQL twin of `actual_interval`: (Wh, flags) expressions over two cumulative values."""
    sentinel = f"({first} = {REGISTER_SENTINEL_WH} OR {last} = {REGISTER_SENTINEL_WH})"
    wrap = (f"({last} < {first} AND {first} > {REGISTER_MAX_WH - ROLLOVER_MARGIN_WH} "
            f"AND {last} < {ROLLOVER_MARGIN_WH})")
    wh = (f"CASE WHEN NOT {sentinel} AND {wrap} THEN {REGISTER_MAX_WH + 1} + {last} - {first} "
          f"ELSE {last} - {first} END")
    flags = (f"CASE WHEN {sentinel} THEN 'sentinel' WHEN {wrap} THEN 'rollover' "
             f"WHEN {last} < {first} THEN 'reversal' WHEN {last} - {first} > {SPIKE_WH} "
             "THEN 'spike' ELSE '' END")
    return wh, flags


# Spans shared over their half hours --------------------------------------------------------


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
                    out[first_at] = (wh, "", False)  # the common case of `actual_interval`
                else:
                    out[first_at] = (*actual_interval(first_wh, last_wh), False)
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


# A half hour's quality, and half hours added up ------------------------------------------------


def quality(flags: str | Iterable[str], derived: bool = False) -> Quality:
    """``invalid`` when an unusable flag is set (reversal, sentinel, spike: kept and shown,
    never summed as usage), ``estimated`` when derived (apportioned from a span; the flag
    "derived" counts too), else ``actual``."""
    names = set(flag_names(flags))
    if names & UNUSABLE_FLAGS:
        return "invalid"
    if derived or DERIVED_FLAG in names:
        return "estimated"
    return "actual"


def quality_sql(flags: str, derived: str) -> str:
    """SQL twin of `quality` over a stored interval's ``flags`` and ``derived`` columns."""
    invalid = " OR ".join(f"(',' || {flags} || ',') LIKE '%,{name},%'"
                          for name in sorted(UNUSABLE_FLAGS))
    # Most half hours have no flag: their quality is decided without a LIKE.
    return (f"CASE WHEN {flags} = '' THEN CASE WHEN {derived} THEN 'estimated' ELSE 'actual' END "
            f"WHEN {invalid} THEN 'invalid' WHEN {derived} THEN 'estimated' ELSE 'actual' END")


@dataclass(slots=True)  # not frozen: a frozen dataclass is several times slower to make
class DayTotal:
    """Half hours added up: the usable Wh, and how many were actual, estimated (derived) and
    invalid (their Wh apart in ``invalid_wh``). A twin-element meter has two register half
    hours per half hour."""

    wh: int = 0
    actual: int = 0
    estimated: int = 0
    invalid: int = 0
    invalid_wh: int = 0

    def __add__(self, other: DayTotal) -> DayTotal:
        return DayTotal(self.wh + other.wh, self.actual + other.actual,
                        self.estimated + other.estimated, self.invalid + other.invalid,
                        self.invalid_wh + other.invalid_wh)

    @staticmethod
    def of_half_hour(wh: int, flags: str | Iterable[str], derived: bool = False) -> DayTotal:
        kind = quality(flags, derived)
        if kind == "invalid":
            return DayTotal(invalid=1, invalid_wh=wh)
        if kind == "estimated":
            return DayTotal(wh=wh, estimated=1)
        return DayTotal(wh=wh, actual=1)

    def missing(self, expected: int) -> int:
        """Of ``expected`` half hours, how many have no interval."""
        return max(0, expected - self.actual - self.estimated - self.invalid)

    def quality(self, expected: int) -> PeriodQuality:
        """``actual`` when every expected half hour is actual; ``incomplete`` when any is
        missing or invalid (its energy is not in the usage); otherwise ``estimated``."""
        if self.missing(expected) or self.invalid:
            return "incomplete"
        return "estimated" if self.estimated else "actual"


TOTAL_COLUMNS = tuple(field.name for field in fields(DayTotal))


def day_total_sql(wh: str, quality: str) -> str:
    """SQL twin of adding up `DayTotal.of_half_hour`: the `TOTAL_COLUMNS` as aggregates over
    half hours' ``wh`` and `quality_sql` (``quality``)."""
    return (f"sum(CASE WHEN {quality} = 'invalid' THEN 0 ELSE {wh} END) AS wh, "
            f"sum(CASE WHEN {quality} = 'actual' THEN 1 ELSE 0 END) AS actual, "
            f"sum(CASE WHEN {quality} = 'estimated' THEN 1 ELSE 0 END) AS estimated, "
            f"sum(CASE WHEN {quality} = 'invalid' THEN 1 ELSE 0 END) AS invalid, "
            f"sum(CASE WHEN {quality} = 'invalid' THEN {wh} ELSE 0 END) AS invalid_wh")
