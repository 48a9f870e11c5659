"""The console's meter page, ``/ui/meters/SERIAL``: the meter's facts in words, its registers'
last reads, customer links, tariffs, clock; usage charts (import and export) for a day, a week,
a month or custom dates with previous / next; balance, signal and voltage history; recent health
changes and events."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html import escape
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from flows.api.connections import Db
from flows.api.params import Serial
from flows.api.ui.charts import line_chart, usage_chart
from flows.api.ui.page import money, page, table, text, when
from flows.db import Database, customers, fleet
from flows.db.meter_facts import MeterFacts, meter_facts
from flows.meterdata import HALF_HOUR, LOCAL_ZONE, local_midnight
from flows.views import freshness, latest_interval, usage

PERIODS = ("day", "week", "month", "custom")
MAX_CUSTOM_DAYS = 366
LABELS = {"esco": "Esco", "hardware": "Hardware", "firmware_version": "Firmware",
          "mode": "Mode", "prepay_enabled": "Prepayment", "import_mpan": "Import MPAN",
          "export_mpan": "Export MPAN"}


@dataclass(frozen=True)
class Period:
    kind: str
    first: date  # local days, inclusive
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def shifted(self, forward: bool) -> Period:
        if self.kind == "month":
            first = _add_months(self.first, 1 if forward else -1)
            return Period("month", first, _month_end(first))
        step = timedelta(days=self.days if forward else -self.days)
        return Period(self.kind, self.first + step, self.last + step)

    def query(self) -> dict[str, str]:
        if self.kind == "custom":
            return {"period": "custom", "from": self.first.isoformat(),
                    "to": self.last.isoformat()}
        return {"period": self.kind, "date": self.first.isoformat()}

    def label(self) -> str:
        if self.kind == "day":
            return f"{self.first:%A %d %B %Y}"
        if self.kind == "month":
            return f"{self.first:%B %Y}"
        return f"{self.first:%d %b %Y} – {self.last:%d %b %Y}"


def choose_period(kind: str, anchor: date | None, first: date | None, last: date | None,
                  latest: date) -> Period:
    """The period asked for; without a date, the one ending with the meter's latest data."""
    if kind == "custom":
        if first is None or last is None:
            raise HTTPException(422, "a custom period needs both from and to (YYYY-MM-DD)")
        if last < first:
            raise HTTPException(422, f"the period ends ({last}) before it starts ({first})")
        if (last - first).days + 1 > MAX_CUSTOM_DAYS:
            raise HTTPException(422, f"a custom period is at most {MAX_CUSTOM_DAYS} days")
        return Period("custom", first, last)
    if kind == "day":
        day = anchor or latest
        return Period("day", day, day)
    if kind == "week":
        start = anchor or latest - timedelta(days=6)
        return Period("week", start, start + timedelta(days=6))
    start = (anchor or latest).replace(day=1)
    return Period("month", start, _month_end(start))


def _add_months(day: date, months: int) -> date:
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    return date(year, month + 1, 1)


def _month_end(first: date) -> date:
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


def meter_page(
    request: Request, serial: Serial, db: Db,
    period: Annotated[str, Query(pattern="^(day|week|month|custom)$")] = "week",
    anchor: Annotated[date | None, Query(alias="date")] = None,
    first: Annotated[date | None, Query(alias="from")] = None,
    last: Annotated[date | None, Query(alias="to")] = None,
) -> HTMLResponse:
    found = fleet.meter(db, serial)
    if found is None:
        raise HTTPException(404, f"no meter with serial {serial!r}")
    latest = latest_interval(db, found["id"])
    latest_day = (latest or datetime.now(UTC)).astimezone(LOCAL_ZONE).date()
    chosen = choose_period(period, anchor, first, last, latest_day)
    facts = meter_facts(db, found["id"])
    body = (f"<h1>Meter {escape(serial)}</h1>{_facts(found, facts)}"
            f"<h2>Registers</h2>{_registers(found)}"
            f"<h2>Customer</h2>{_customers(db, serial)}"
            f"<h2 id=usage>Usage</h2>{_picker(serial, chosen)}{_charts(db, found['id'], chosen)}"
            f"<h2>Balance, signal and voltage</h2>"
            f"{line_chart(facts.balance, chart_id='balance-chart', title='Balance', unit='£')}"
            f"{line_chart(facts.csq, chart_id='csq-chart', title='Signal quality', unit='CSQ')}"
            f"{line_chart(facts.voltage, chart_id='voltage-chart', title='Voltage', unit='V')}"
            f"<h2>Tariffs</h2>{_tariffs(facts)}"
            f"<h2>Health history</h2>{_health(facts)}"
            f"<h2>Recent events</h2>{_events(facts)}")
    return page(request, f"Meter {serial}", body, fresh=freshness(db))


def _facts(meter: dict[str, Any], facts: MeterFacts) -> str:
    health = meter["health"] or "never synced"
    drift = meter["clock_time_diff_seconds"]
    items = [
        ("Health", f"<span class={'bad' if health == 'unhealthy' else ''}>{escape(health)}</span>"
                   + (f" — {escape(meter['health_details'])}" if meter["health_details"] else "")),
        ("Last healthy sync", when(meter["last_healthy_at"])),
        ("Last seen", when(meter["csq_at"])),
        ("Balance", f"{money(meter['balance'])} <span class=muted>at</span> "
                    f"{when(meter['balance_at'])}"),
        ("Signal quality (CSQ)", text(meter["csq"])),
        ("Voltage", text(None if meter["voltage"] is None else f"{meter['voltage']} V")),
        ("Clock drift", text(None if drift is None else f"{drift:+,} s (our time − the meter's)")
         + (f" <span class=muted>at</span> {when(facts.clock_synced_at)}"
            if facts.clock_synced_at else "")),
        *[(label, text(meter[key] if key != "prepay_enabled" or meter[key] is None
                       else ("enabled" if meter[key] else "disabled")))
          for key, label in LABELS.items()],
    ]
    rows = "".join(f"<dt>{escape(label)}</dt><dd>{value}</dd>" for label, value in items)
    return f"<dl class=facts id=facts>{rows}</dl>"


def _registers(meter: dict[str, Any]) -> str:
    rows = []
    for element in ("A", "B"):
        for direction in ("import", "export"):
            value = meter[f"{direction}_{element.lower()}"]
            rows.append([f"Element {element}", direction,
                         f"<td class=num>{text(None if value is None else f'{value:,.3f} kWh')}</td>",
                         when(meter["reads_at"])])
    return table(["Element", "Direction", "Last read", "Read at"], rows, "registers")


def _customers(db: Database, serial: str) -> str:
    return table(["Customer", "From", "To"], [
        [escape(link["customer_id"]), when(link["valid_from"]),
         when(link["valid_to"]) if link["valid_to"] else "<span class=muted>open</span>"]
        for link in customers.links_of_meter(db, serial)], "customer-links")


def _picker(serial: str, period: Period) -> str:
    base = f"/ui/meters/{escape(serial)}"

    def link(target: Period, label: str, current: bool = False) -> str:
        marker = " aria-current=true" if current else ""
        return (f"<a href='{base}?{escape(urlencode(target.query()))}#usage'{marker}>"
                f"{label}</a>")

    targets = {"day": Period("day", period.last, period.last),
               "week": choose_period("week", period.last - timedelta(days=6), None, None,
                                     period.last),
               "month": choose_period("month", period.last, None, None, period.last)}
    kinds = "".join(link(target, kind.capitalize(), current=kind == period.kind)
                    for kind, target in targets.items())
    custom = (f"<form method=get action='{base}#usage' class=picker>"
              "<input type=hidden name=period value=custom>"
              f"<label>From <input type=date name=from value='{period.first}' required></label>"
              f"<label>To <input type=date name=to value='{period.last}' required></label>"
              "<button>Show</button></form>")
    return (f"<nav class=picker id=period aria-label=Period>{kinds}"
            f"{link(period.shifted(False), '← Previous')}"
            f"<b id=period-label>{escape(period.label())}</b>"
            f"{link(period.shifted(True), 'Next →')}</nav>{custom}")


def _charts(db: Database, meter: Any, period: Period) -> str:
    start = local_midnight(period.first)
    end = local_midnight(period.last + timedelta(days=1))
    half_hourly = period.kind == "day"
    if half_hourly:
        count = int((end - start) / HALF_HOUR)  # 46 or 50 on the clocks' change days
        slots = [start + n * HALF_HOUR for n in range(count)]
    else:
        slots = [local_midnight(period.first + timedelta(days=n)) for n in range(period.days)]
    charts = []
    for direction in ("import", "export"):
        rows = usage(db, meter_id=meter, period_from=start, period_to=end,
                     group_by="hh" if half_hourly else "day", direction=direction)
        charts.append(usage_chart(rows, slots, chart_id=f"{direction}-chart",
                                  half_hourly=half_hourly,
                                  title=f"{direction.capitalize()}, kWh per "
                                        f"{'half hour' if half_hourly else 'day'}"))
    return "".join(charts)


def _tariffs(facts: MeterFacts) -> str:
    parts = []
    for label, value in (("Active", facts.tariffs_active), ("Future", facts.tariffs_future)):
        if value is None:
            continue
        if isinstance(value, dict):
            rows = "".join(f"<dt>{escape(str(key).replace('_', ' '))}</dt><dd>{text(item)}</dd>"
                           for key, item in value.items())
            parts.append(f"<h3>{label}</h3><dl class=facts>{rows}</dl>")
        else:
            parts.append(f"<h3>{label}</h3><p>{text(value)}</p>")
    return "".join(parts) or "<p id=tariffs>Not read yet.</p>"


def _health(facts: MeterFacts) -> str:
    return table(["At", "Health", "Why"], [
        [when(row["timestamp"]), escape(row["health"]),
         f"<td class='wrap bad'>{escape(row['details'] or '')}</td>"] for row in facts.health],
        "health-history")


def _events(facts: MeterFacts) -> str:
    return table(["At", "Event type", "Event set"], [
        [when(row["timestamp"]), escape(str(row["event_type"])), escape(str(row["event_set"]))]
        for row in facts.events], "events")
