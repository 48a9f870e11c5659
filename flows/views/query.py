"""The views as one flows.ivm query, in the seed's style.

profile values ⋈ the next half hour's value → intervals (Wh, flags) ⋈ registers → meter;
intervals ⋈ customer_meters (valid at the interval) → group by (customer, meter, local date) → sum.
Intervals only come from two on-grid values exactly 30 minutes apart: a gap leaves the interval
out (the monitoring view `register_interval_hh_missing` counts them), a late value fills it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import flows.ivm as st

HALF_HOUR = timedelta(minutes=30)
LOCAL_ZONE = ZoneInfo("Europe/London")
REGISTER_SENTINEL_WH = 16_777_215  # 0xFFFFFF: the meter's "register error"
SPIKE_WH = 24_000  # more than 24 kWh in half an hour is not a household's import
FEEDS = ("profile",)


class Register(st.Data):
    register_id: UUID
    meter_id: UUID


class ProfileValue(st.Data):
    register_id: UUID
    timestamp: datetime
    cumulative_wh: int


class CustomerMeter(st.Data):
    customer_id: str
    meter_id: UUID
    valid_from: datetime
    valid_to: datetime | None


class FeedPosition(st.Data):
    """How far the views have read a feed (the last change number applied)."""

    feed: str
    position: int


class RegisterInterval(st.Data):
    register_id: UUID
    start: datetime
    wh: int
    flags: str


class Interval(st.Data):
    register_id: UUID
    meter_id: UUID
    start: datetime
    wh: int
    flags: str


class CustomerInterval(st.Data):
    customer_id: str
    meter_id: UUID
    date: date
    wh: int


class DailyUsage(st.Data):
    customer_id: str
    meter_id: UUID
    date: date
    wh: int


def local_date(moment: datetime) -> date:
    return moment.astimezone(LOCAL_ZONE).date()


def interval_flags(first: int, last: int) -> str:
    wh = last - first
    flags = []
    if REGISTER_SENTINEL_WH in (first, last):
        flags.append("sentinel")
    elif wh < 0:
        flags.append("reversal")
    elif wh > SPIKE_WH:
        flags.append("spike")
    return ",".join(flags)


def on_grid(value: ProfileValue) -> bool:
    """Whether the value is at :00 or :30 (else the meter's clock was off: not used)."""
    stamp = value.timestamp
    return stamp.second == 0 and stamp.microsecond == 0 and stamp.minute in (0, 30)


def next_half_hour(value: ProfileValue) -> tuple[UUID, datetime]:
    return value.register_id, value.timestamp + HALF_HOUR


def to_register_interval(p: st.Pair[ProfileValue, ProfileValue]) -> RegisterInterval:
    first, last = p.left, p.right
    return RegisterInterval(register_id=first.register_id, start=first.timestamp,
                            wh=last.cumulative_wh - first.cumulative_wh,
                            flags=interval_flags(first.cumulative_wh, last.cumulative_wh))


def to_interval(p: st.Pair[RegisterInterval, Register]) -> Interval:
    return Interval(register_id=p.left.register_id, meter_id=p.right.meter_id, start=p.left.start,
                    wh=p.left.wh, flags=p.left.flags)


def counts_for_customer(p: st.Pair[Interval, CustomerMeter]) -> bool:
    link, start = p.right, p.left.start
    return link.valid_from <= start and (link.valid_to is None or start < link.valid_to)


def to_customer_interval(p: st.Pair[Interval, CustomerMeter]) -> CustomerInterval:
    # Flagged intervals (reversal, sentinel, spike) are kept and shown, but not summed as usage.
    wh = 0 if p.left.flags else p.left.wh
    return CustomerInterval(customer_id=p.right.customer_id, meter_id=p.left.meter_id,
                            date=local_date(p.left.start), wh=wh)


def pick_wh(c: CustomerInterval) -> int:
    return c.wh


def to_daily(p: st.Pair[int, tuple[str, UUID, date]]) -> DailyUsage:
    customer_id, meter_id, day = p.right
    return DailyUsage(customer_id=customer_id, meter_id=meter_id, date=day, wh=p.left)


registers_cache = st.Cache[Register]()
links_cache = st.Cache[CustomerMeter]()
positions_cache = st.Cache[FeedPosition]()
intervals_cache = st.Cache[Interval]()
daily_cache = st.Cache[DailyUsage]()
index_register = st.Index.pick(Register, lambda r: r.register_id)
index_link = st.Index.pick(CustomerMeter, lambda c: c.customer_id)
index_feed = st.Index.pick(FeedPosition, lambda f: f.feed)
index_interval_meter = st.Index.pick(Interval, lambda i: i.meter_id)
index_daily_date = st.Index.pick(DailyUsage, lambda d: d.date)
index_daily_meter = st.Index.pick(DailyUsage, lambda d: d.meter_id)
index_daily_customer = st.Index.pick(DailyUsage, lambda d: d.customer_id)


def views(
    registers: st.ZSet[Register],
    profile: st.ZSet[ProfileValue],
    links: st.ZSet[CustomerMeter],
    positions: st.ZSet[FeedPosition],
) -> tuple[st.ZSet[Interval], st.ZSet[DailyUsage]]:
    _ = registers_cache[registers](lambda a: st.integrate_indexed(a, indexes=(index_register,)))
    _ = links_cache[links](lambda a: st.integrate_indexed(a, indexes=(index_link,)))
    _ = positions_cache[positions](lambda a: st.integrate_indexed(a, indexes=(index_feed,)))
    usable = st.filter(profile, f=on_grid)
    consecutive = st.join(
        usable,
        usable,
        on_left=st.Index.composite(("register_id", "next_half_hour"), ProfileValue,
                                   tuple[UUID, datetime], next_half_hour),
        on_right=st.Index.pick(ProfileValue, lambda v: (v.register_id, v.timestamp)),
    )
    register_intervals = st.map(consecutive, f=to_register_interval)
    with_meter = st.join(
        register_intervals,
        registers,
        on_left=st.Index.pick(RegisterInterval, lambda i: i.register_id),
        on_right=st.Index.pick(Register, lambda r: r.register_id),
    )
    intervals = st.map(with_meter, f=to_interval)
    _ = intervals_cache[intervals](lambda a: st.integrate_indexed(a, indexes=(index_interval_meter,)))
    linked = st.join(
        intervals,
        links,
        on_left=st.Index.pick(Interval, lambda i: i.meter_id),
        on_right=st.Index.pick(CustomerMeter, lambda c: c.meter_id),
    )
    customer_intervals = st.map(st.filter(linked, f=counts_for_customer), f=to_customer_interval)
    grouped = st.group_reduce_flatten(
        customer_intervals,
        by=st.Index.pick(CustomerInterval, lambda c: (c.customer_id, c.meter_id, c.date)),
        zero=int,
        pick_value=pick_wh,
    )
    daily = st.map(grouped, f=to_daily)
    _ = daily_cache[daily](lambda a: st.integrate_indexed(
        a, indexes=(index_daily_date, index_daily_meter, index_daily_customer)))
    return intervals, daily
