"""The views' daily aggregates as one flows.ivm query, in the seed's style.

The feeder computes each register's half hours from its values (`flows.views.halfhours`),
writes them to ``register_interval_hh`` and hands the query what changed, added up per
register and local day: a `DayPart` per day, or per piece of a day where a customer link of
the meter starts or ends (so a part is either wholly inside a link or wholly outside).
The query adds parts up by (meter, direction, local date), whoever the customer, and, joined
to customer_meters (the links that cover the part), by (customer, meter, direction, local
date). Each aggregate is a `DayTotal`: the usable Wh and how many half hours were actual,
estimated and invalid, so a late value changes the counts with the sum.

State: the parts (one per register and day, a 48th of the half hours), the links, and one
total per aggregate row; no half hour is held twice.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import flows.ivm as st

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


class DayPart(st.Data):
    """A register's half hours of one local day from ``start`` (the day's first half hour, or
    the first after a link of the meter starts or ends) to the next part, added up."""

    register_id: UUID
    meter_id: UUID
    direction: str
    date: date
    start: datetime
    total: DayTotal


class CustomerPart(st.Data):
    customer_id: str
    meter_id: UUID
    direction: str
    date: date
    total: DayTotal


def covers(p: st.Pair[DayPart, CustomerMeter]) -> bool:
    link, start = p.right, p.left.start
    return link.valid_from <= start and (link.valid_to is None or start < link.valid_to)


def to_customer_part(p: st.Pair[DayPart, CustomerMeter]) -> CustomerPart:
    return CustomerPart(customer_id=p.right.customer_id, meter_id=p.left.meter_id,
                        direction=p.left.direction, date=p.left.date, total=p.left.total)


def pick_part_total(part: DayPart) -> DayTotal:
    return part.total


def pick_customer_total(part: CustomerPart) -> DayTotal:
    return part.total


def to_meter_day(p: st.Pair[DayTotal, tuple[UUID, str, date]]) -> MeterDay:
    meter_id, direction, day = p.right
    return MeterDay(meter_id=meter_id, direction=direction, date=day, total=p.left)


def to_customer_day(p: st.Pair[DayTotal, tuple[str, UUID, str, date]]) -> CustomerDay:
    customer_id, meter_id, direction, day = p.right
    return CustomerDay(customer_id=customer_id, meter_id=meter_id, direction=direction, date=day,
                       total=p.left)


# What the feeder reads back: the registers and links the views hold (to compare a changed
# meter's rows with, and to split days where links start and end), and its position in the
# change log. The outputs are written to Flows tables in the iteration's transaction.
registers_cache = st.Cache[Register]()
links_cache = st.Cache[CustomerMeter]()
positions_cache = st.Cache[FeedPosition]()
index_register_meter = st.Index.pick(Register, lambda r: r.meter_id)
index_register = st.Index.pick(Register, lambda r: r.register_id)
index_link_meter = st.Index.pick(CustomerMeter, lambda c: c.meter_id)
index_feed = st.Index.pick(FeedPosition, lambda f: f.feed)


def views(
    registers: st.ZSet[Register],
    parts: st.ZSet[DayPart],
    links: st.ZSet[CustomerMeter],
    positions: st.ZSet[FeedPosition],
) -> tuple[st.ZSet[MeterDay], st.ZSet[CustomerDay]]:
    _ = registers_cache[registers](lambda a: st.integrate_indexed(
        a, indexes=(index_register_meter, index_register)))
    _ = links_cache[links](lambda a: st.integrate_indexed(a, indexes=(index_link_meter,)))
    _ = positions_cache[positions](lambda a: st.integrate_indexed(a, indexes=(index_feed,)))
    meter_days = st.map(st.group_reduce_flatten(
        parts,
        by=st.Index.pick(DayPart, lambda p: (p.meter_id, p.direction, p.date)),
        zero=DayTotal.zero,
        pick_value=pick_part_total,
    ), f=to_meter_day)
    linked = st.join(
        parts,
        links,
        on_left=st.Index.pick(DayPart, lambda p: p.meter_id),
        on_right=st.Index.pick(CustomerMeter, lambda c: c.meter_id),
    )
    customer_days = st.map(st.group_reduce_flatten(
        st.map(st.filter(linked, f=covers), f=to_customer_part),
        by=st.Index.pick(CustomerPart, lambda p: (p.customer_id, p.meter_id, p.direction,
                                                  p.date)),
        zero=DayTotal.zero,
        pick_value=pick_customer_total,
    ), f=to_customer_day)
    return meter_days, customer_days
