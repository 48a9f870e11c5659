"""The views as one flows.ivm query, in the seed's style.

The feeder pairs consecutive values of each register (a question for SQL, see consecutive.py):
actual intervals (two on-grid profile values half an hour apart) and spans (profile gaps, spans
over off-grid values, periodic register reads). Spans → apportioned to half hours → derived
intervals (register reads only where the profile log has nothing); intervals ⋈ registers →
meter ⋈ customer_meters (valid at the interval) → group by (customer, meter, local date) → sum.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from uuid import UUID

import flows.ivm as st
from flows.meterdata import HALF_HOUR, LOCAL_ZONE, REGISTER_SENTINEL_WH, UNUSABLE_FLAGS

SPIKE_WH = 24_000  # more than 24 kWh in half an hour is not a household's import
REGISTER_MAX_WH = 0xFFFFFFFF  # registers are u4 Wh: after this they wrap to 0
ROLLOVER_MARGIN_WH = 1_000_000  # a wrap goes from within this of the maximum to within this of 0


class Register(st.Data):
    register_id: UUID
    meter_id: UUID


class CustomerMeter(st.Data):
    customer_id: str
    meter_id: UUID
    valid_from: datetime
    valid_to: datetime | None


class FeedPosition(st.Data):
    """How far the views have read a feed (the last change number applied)."""

    feed: str
    position: int


class Span(st.Data):
    """Two consecutive values of a register that do not make one half hour: on-grid profile
    values either side of a gap ("gap") or of off-grid values ("clock_skew"), or two periodic
    register reads (source "reads", flag "")."""

    register_id: UUID
    source: str  # "profile" or "reads"
    flag: str
    first_at: datetime
    first_wh: int
    last_at: datetime
    last_wh: int


class SlotTotal(st.Data):
    """A half hour's share of spans: Wh, and how many shares carry each flag (a group total:
    shares are added and retracted)."""

    wh: int
    gap: int
    clock_skew: int
    reversal: int
    rollover: int
    sentinel: int

    def __add__(self, other: SlotTotal) -> SlotTotal:
        return SlotTotal(wh=self.wh + other.wh, gap=self.gap + other.gap,
                         clock_skew=self.clock_skew + other.clock_skew,
                         reversal=self.reversal + other.reversal,
                         rollover=self.rollover + other.rollover,
                         sentinel=self.sentinel + other.sentinel)

    def __mul__(self, count: int) -> SlotTotal:
        return SlotTotal(wh=self.wh * count, gap=self.gap * count,
                         clock_skew=self.clock_skew * count, reversal=self.reversal * count,
                         rollover=self.rollover * count, sentinel=self.sentinel * count)

    @staticmethod
    def zero() -> SlotTotal:
        return SlotTotal(wh=0, gap=0, clock_skew=0, reversal=0, rollover=0, sentinel=0)

    def flags(self) -> str:
        names = [name for name in ("gap", "clock_skew", "reversal", "rollover", "sentinel")
                 if getattr(self, name)]
        if self.wh > SPIKE_WH:
            names.append("spike")
        return ",".join(names)


class SlotShare(st.Data):
    register_id: UUID
    source: str
    start: datetime
    share: SlotTotal


class RegisterInterval(st.Data):
    register_id: UUID
    start: datetime
    wh: int
    flags: str
    derived: bool


class Interval(st.Data):
    register_id: UUID
    meter_id: UUID
    start: datetime
    wh: int
    flags: str
    derived: bool


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


def interval_flags(wh: int, flag: str) -> str:
    if not flag and wh > SPIKE_WH:
        return "spike"
    return flag


def actual_interval(register_id: UUID, start: datetime, first_wh: int, last_wh: int
                    ) -> RegisterInterval:
    """The interval between two on-grid profile values half an hour apart."""
    wh, flag = advance(first_wh, last_wh)
    return RegisterInterval(register_id=register_id, start=start, wh=wh,
                            flags=interval_flags(wh, flag), derived=False)


def slot_start(moment: datetime) -> datetime:
    return moment.replace(minute=moment.minute // 30 * 30, second=0, microsecond=0)


_MICROSECOND = timedelta(microseconds=1)


def apportion(span: Span) -> list[SlotShare]:
    """Split a span's advance over the half hours it covers in proportion to time, in whole Wh
    that add up to exactly the advance (each share is the floor of the running total)."""
    wh, flag = advance(span.first_wh, span.last_wh)
    gap, clock_skew = int(span.flag == "gap"), int(span.flag == "clock_skew")
    duration = (span.last_at - span.first_at) // _MICROSECOND
    shares, allocated, slot = [], 0, slot_start(span.first_at)
    while slot < span.last_at:
        end = min(slot + HALF_HOUR, span.last_at)
        upto = wh * ((end - span.first_at) // _MICROSECOND) // duration
        share = SlotTotal(wh=upto - allocated, gap=gap, clock_skew=clock_skew,
                          reversal=int(flag == "reversal"), rollover=int(flag == "rollover"),
                          sentinel=int(flag == "sentinel"))
        shares.append(SlotShare(register_id=span.register_id, source=span.source, start=slot,
                                share=share))
        allocated, slot = upto, slot + HALF_HOUR
    return shares


def from_profile(share: SlotShare) -> bool:
    return share.source == "profile"


def from_reads(share: SlotShare) -> bool:
    return share.source == "reads"


def pick_share(share: SlotShare) -> SlotTotal:
    return share.share


def to_derived_interval(p: st.Pair[SlotTotal, tuple[UUID, datetime]]) -> RegisterInterval:
    register_id, start = p.right
    return RegisterInterval(register_id=register_id, start=start, wh=p.left.wh,
                            flags=p.left.flags(), derived=True)


def no_profile_interval(p: st.Pair[RegisterInterval, RegisterInterval | st.Empty]) -> bool:
    return isinstance(p.right, st.Empty)


def left_interval(p: st.Pair[RegisterInterval, RegisterInterval | st.Empty]) -> RegisterInterval:
    return p.left


def interval_key(i: RegisterInterval) -> tuple[UUID, datetime]:
    return i.register_id, i.start


def to_interval(p: st.Pair[RegisterInterval, Register]) -> Interval:
    return Interval(register_id=p.left.register_id, meter_id=p.right.meter_id, start=p.left.start,
                    wh=p.left.wh, flags=p.left.flags, derived=p.left.derived)


def counts_for_customer(p: st.Pair[Interval, CustomerMeter]) -> bool:
    link, start = p.right, p.left.start
    return link.valid_from <= start and (link.valid_to is None or start < link.valid_to)


def to_customer_interval(p: st.Pair[Interval, CustomerMeter]) -> CustomerInterval:
    # Implausible intervals (reversal, sentinel, spike) are kept and shown, not summed as usage.
    wh = 0 if UNUSABLE_FLAGS.intersection(p.left.flags.split(",")) else p.left.wh
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
    actual_intervals: st.ZSet[RegisterInterval],
    spans: st.ZSet[Span],
    links: st.ZSet[CustomerMeter],
    positions: st.ZSet[FeedPosition],
) -> tuple[st.ZSet[Interval], st.ZSet[DailyUsage]]:
    _ = registers_cache[registers](lambda a: st.integrate_indexed(a, indexes=(index_register,)))
    _ = links_cache[links](lambda a: st.integrate_indexed(a, indexes=(index_link,)))
    _ = positions_cache[positions](lambda a: st.integrate_indexed(a, indexes=(index_feed,)))
    shares = st.map_many(spans, f=apportion)
    profile_slots = st.group_reduce_flatten(
        st.filter(shares, f=from_profile),
        by=st.Index.pick(SlotShare, lambda s: (s.register_id, s.start)),
        zero=SlotTotal.zero,
        pick_value=pick_share,
    )
    profile_intervals = st.add(actual_intervals, st.map(profile_slots, f=to_derived_interval))
    read_slots = st.group_reduce_flatten(
        st.filter(shares, f=from_reads),
        by=st.Index.pick(SlotShare, lambda s: (s.register_id, s.start)),
        zero=SlotTotal.zero,
        pick_value=pick_share,
    )
    # Register reads fill only the half hours the profile log says nothing about.
    reads_beside_profile = st.outer_join(
        st.map(read_slots, f=to_derived_interval),
        profile_intervals,
        on_left=st.Index.pick(RegisterInterval, interval_key),
        on_right=st.Index.pick(RegisterInterval, interval_key),
    )
    read_intervals = st.map(st.filter(reads_beside_profile, f=no_profile_interval), f=left_interval)
    register_intervals = st.add(profile_intervals, read_intervals)
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
