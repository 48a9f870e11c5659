"""The views as one flows.ivm query, in the seed's style.

The feeder pairs consecutive values of each register (a question for SQL, see consecutive.py):
actual intervals (two on-grid profile values half an hour apart) and spans (profile gaps, spans
over off-grid values, periodic import and export register reads). Spans → apportioned to half
hours → derived intervals (import reads only where the profile log has nothing); intervals ⋈
registers → meter, then two daily aggregates: by (meter, direction, local date), whoever the
customer, and ⋈ customer_meters (valid at the interval) by (customer, meter, direction, local
date). Each aggregate is a `DayTotal`: the usable Wh and how many half hours were actual,
estimated and invalid, so a late value changes the counts with the sum.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, timedelta
from uuid import UUID

import flows.ivm as st
from flows.meterdata import HALF_HOUR, LOCAL_ZONE, REGISTER_SENTINEL_WH, UNUSABLE_FLAGS

SPIKE_WH = 24_000  # more than 24 kWh in half an hour is not a household's import
REGISTER_MAX_WH = 0xFFFFFFFF  # registers are u4 Wh: after this they wrap to 0
ROLLOVER_MARGIN_WH = 1_000_000  # a wrap goes from within this of the maximum to within this of 0


IMPORT, EXPORT = "import", "export"
SOURCE_DIRECTION = {"profile": IMPORT, "reads": IMPORT, "export": EXPORT}


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
    source: str  # "profile", "reads" (import register reads) or "export" (export reads)
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
    direction: str
    start: datetime
    wh: int
    flags: str
    derived: bool


class Interval(st.Data):
    register_id: UUID
    meter_id: UUID
    direction: str
    start: datetime
    wh: int
    flags: str
    derived: bool


class DayTotal(st.Data):
    """Half hours of a day added up: the usable Wh, and how many were actual, estimated
    (derived) and invalid (reversal, sentinel, spike; their Wh in ``invalid_wh``)."""

    wh: int
    actual: int
    estimated: int
    invalid: int
    invalid_wh: int

    def __add__(self, other: DayTotal) -> DayTotal:
        return DayTotal(wh=self.wh + other.wh, actual=self.actual + other.actual,
                        estimated=self.estimated + other.estimated,
                        invalid=self.invalid + other.invalid,
                        invalid_wh=self.invalid_wh + other.invalid_wh)

    def __mul__(self, count: int) -> DayTotal:
        return DayTotal(wh=self.wh * count, actual=self.actual * count,
                        estimated=self.estimated * count, invalid=self.invalid * count,
                        invalid_wh=self.invalid_wh * count)

    @staticmethod
    def zero() -> DayTotal:
        return DayTotal(wh=0, actual=0, estimated=0, invalid=0, invalid_wh=0)


class MeterHalfHour(st.Data):
    meter_id: UUID
    direction: str
    date: date
    total: DayTotal


class CustomerHalfHour(st.Data):
    customer_id: str
    meter_id: UUID
    direction: str
    date: date
    total: DayTotal


class MeterDay(st.Data):
    meter_id: UUID
    direction: str
    date: date
    total: DayTotal


class CustomerDay(st.Data):
    customer_id: str
    meter_id: UUID
    direction: str
    date: date
    total: DayTotal


@functools.lru_cache(maxsize=1 << 16)  # every meter's intervals share their half-hour starts
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
    return RegisterInterval(register_id=register_id, direction=IMPORT, start=start, wh=wh,
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


def from_export(share: SlotShare) -> bool:
    return share.source == "export"


def pick_share(share: SlotShare) -> SlotTotal:
    return share.share


def to_derived_interval(p: st.Pair[SlotTotal, tuple[UUID, datetime]]) -> RegisterInterval:
    register_id, start = p.right
    return RegisterInterval(register_id=register_id, direction=IMPORT, start=start, wh=p.left.wh,
                            flags=p.left.flags(), derived=True)


def to_export_interval(p: st.Pair[SlotTotal, tuple[UUID, datetime]]) -> RegisterInterval:
    register_id, start = p.right
    return RegisterInterval(register_id=register_id, direction=EXPORT, start=start, wh=p.left.wh,
                            flags=p.left.flags(), derived=True)


def no_profile_interval(p: st.Pair[RegisterInterval, RegisterInterval | st.Empty]) -> bool:
    return isinstance(p.right, st.Empty)


def left_interval(p: st.Pair[RegisterInterval, RegisterInterval | st.Empty]) -> RegisterInterval:
    return p.left


def interval_key(i: RegisterInterval) -> tuple[UUID, datetime]:
    return i.register_id, i.start


def to_interval(p: st.Pair[RegisterInterval, Register]) -> Interval:
    return Interval(register_id=p.left.register_id, meter_id=p.right.meter_id,
                    direction=p.left.direction, start=p.left.start, wh=p.left.wh,
                    flags=p.left.flags, derived=p.left.derived)


def half_hour_total(interval: Interval) -> DayTotal:
    """One half hour as a day's part: implausible ones (reversal, sentinel, spike) are
    counted and their Wh kept apart, never added to the usage."""
    if interval.flags and UNUSABLE_FLAGS.intersection(interval.flags.split(",")):
        return DayTotal(wh=0, actual=0, estimated=0, invalid=1, invalid_wh=interval.wh)
    if interval.derived:
        return DayTotal(wh=interval.wh, actual=0, estimated=1, invalid=0, invalid_wh=0)
    return DayTotal(wh=interval.wh, actual=1, estimated=0, invalid=0, invalid_wh=0)


def to_meter_half_hour(interval: Interval) -> MeterHalfHour:
    return MeterHalfHour(meter_id=interval.meter_id, direction=interval.direction,
                         date=local_date(interval.start), total=half_hour_total(interval))


def counts_for_customer(p: st.Pair[Interval, CustomerMeter]) -> bool:
    link, start = p.right, p.left.start
    return link.valid_from <= start and (link.valid_to is None or start < link.valid_to)


def to_customer_half_hour(p: st.Pair[Interval, CustomerMeter]) -> CustomerHalfHour:
    return CustomerHalfHour(customer_id=p.right.customer_id, meter_id=p.left.meter_id,
                            direction=p.left.direction, date=local_date(p.left.start),
                            total=half_hour_total(p.left))


def pick_meter_total(h: MeterHalfHour) -> DayTotal:
    return h.total


def pick_customer_total(h: CustomerHalfHour) -> DayTotal:
    return h.total


def to_meter_day(p: st.Pair[DayTotal, tuple[UUID, str, date]]) -> MeterDay:
    meter_id, direction, day = p.right
    return MeterDay(meter_id=meter_id, direction=direction, date=day, total=p.left)


def to_customer_day(p: st.Pair[DayTotal, tuple[str, UUID, str, date]]) -> CustomerDay:
    customer_id, meter_id, direction, day = p.right
    return CustomerDay(customer_id=customer_id, meter_id=meter_id, direction=direction, date=day,
                       total=p.left)


# What the feeder reads back: the registers and links the views hold (to compare a changed
# meter's rows with), and its position in the change log. The outputs (intervals and the two
# daily aggregates) are written to Flows tables in the iteration's transaction, so no cache
# keeps a second copy of them.
registers_cache = st.Cache[Register]()
links_cache = st.Cache[CustomerMeter]()
positions_cache = st.Cache[FeedPosition]()
index_register_meter = st.Index.pick(Register, lambda r: r.meter_id)
index_link_meter = st.Index.pick(CustomerMeter, lambda c: c.meter_id)
index_feed = st.Index.pick(FeedPosition, lambda f: f.feed)


def views(
    registers: st.ZSet[Register],
    actual_intervals: st.ZSet[RegisterInterval],
    spans: st.ZSet[Span],
    links: st.ZSet[CustomerMeter],
    positions: st.ZSet[FeedPosition],
) -> tuple[st.ZSet[Interval], st.ZSet[MeterDay], st.ZSet[CustomerDay]]:
    _ = registers_cache[registers](lambda a: st.integrate_indexed(a, indexes=(index_register_meter,)))
    _ = links_cache[links](lambda a: st.integrate_indexed(a, indexes=(index_link_meter,)))
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
    # Import reads fill only the half hours the profile log says nothing about.
    reads_beside_profile = st.outer_join(
        st.map(read_slots, f=to_derived_interval),
        profile_intervals,
        on_left=st.Index.pick(RegisterInterval, interval_key),
        on_right=st.Index.pick(RegisterInterval, interval_key),
    )
    read_intervals = st.map(st.filter(reads_beside_profile, f=no_profile_interval), f=left_interval)
    # Export has no profile log here: its half hours come from the export reads alone.
    export_slots = st.group_reduce_flatten(
        st.filter(shares, f=from_export),
        by=st.Index.pick(SlotShare, lambda s: (s.register_id, s.start)),
        zero=SlotTotal.zero,
        pick_value=pick_share,
    )
    export_intervals = st.map(export_slots, f=to_export_interval)
    register_intervals = st.add(st.add(profile_intervals, read_intervals), export_intervals)
    with_meter = st.join(
        register_intervals,
        registers,
        on_left=st.Index.pick(RegisterInterval, lambda i: i.register_id),
        on_right=st.Index.pick(Register, lambda r: r.register_id),
    )
    intervals = st.map(with_meter, f=to_interval)
    meter_days = st.map(st.group_reduce_flatten(
        st.map(intervals, f=to_meter_half_hour),
        by=st.Index.pick(MeterHalfHour, lambda h: (h.meter_id, h.direction, h.date)),
        zero=DayTotal.zero,
        pick_value=pick_meter_total,
    ), f=to_meter_day)
    linked = st.join(
        intervals,
        links,
        on_left=st.Index.pick(Interval, lambda i: i.meter_id),
        on_right=st.Index.pick(CustomerMeter, lambda c: c.meter_id),
    )
    customer_days = st.map(st.group_reduce_flatten(
        st.map(st.filter(linked, f=counts_for_customer), f=to_customer_half_hour),
        by=st.Index.pick(CustomerHalfHour, lambda h: (h.customer_id, h.meter_id, h.direction,
                                                      h.date)),
        zero=DayTotal.zero,
        pick_value=pick_customer_total,
    ), f=to_customer_day)
    return intervals, meter_days, customer_days
