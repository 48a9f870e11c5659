"""The console's charts (pygal SVG): a bar per row at its slot with its facts, the scale set by
usable values only, nothing drawn where nothing was measured."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from xml.etree import ElementTree

from flows.api.ui.charts import describe, line_chart, usage_chart
from flows.views import DayTotal, UsageRow

HALF_HOUR = timedelta(minutes=30)
DAY = datetime(2025, 3, 30, tzinfo=UTC)  # the clocks go forward: 46 half hours in London


def bars(html: str) -> list[ElementTree.Element]:
    svg = ElementTree.fromstring(html[html.index("<svg"):html.index("</svg>") + 6])
    return [group for group in svg.iter() if group.get("class") == "bar"]


def half_hour(n: int, kwh: str, flags: str = "") -> UsageRow:
    start = DAY + n * HALF_HOUR
    return UsageRow(start, start + HALF_HOUR, Decimal(kwh), flags)


def test_bars_carry_their_row_and_an_invalid_value_does_not_set_the_scale() -> None:
    slots = [DAY + n * HALF_HOUR for n in range(46)]
    rows = [half_hour(n, "0.250") for n in range(46) if n != 3]
    rows[10] = half_hour(10, "0.125", "derived")
    rows[20] = half_hour(21, "80.000", "spike")  # slot 20 left empty too
    html = usage_chart(rows, slots, chart_id="c", half_hourly=True, title="Import")
    drawn = bars(html)
    assert len(drawn) == 44  # 46 slots, 2 without a row
    by_start = {bar.get("data-start"): bar for bar in drawn}
    spike = by_start[(DAY + 21 * HALF_HOUR).isoformat()]
    assert spike.get("data-quality") == "invalid" and spike.get("data-kwh") == "80.000"
    assert "data-top='0.250'" in html  # the scale is the usable values'
    heights = {bar.get("data-quality"): float(bar.find("{*}rect").get("height"))  # type: ignore[union-attr]
               for bar in drawn}
    assert heights["invalid"] == heights["actual"]  # drawn to the top of the scale, not beyond
    assert by_start[(DAY + 10 * HALF_HOUR).isoformat()].get("data-quality") == "estimated"
    title = spike.find("{*}title")
    assert title is not None and "80.000 kWh, invalid, flags: spike" in (title.text or "")
    assert "<script" not in html and "Pygal" not in html


def test_nothing_measured_draws_no_bars() -> None:
    html = usage_chart([], [DAY + n * HALF_HOUR for n in range(46)], chart_id="c",
                       half_hourly=True, title="Export")
    assert bars(html) == [] and "data-bars='0'" in html and "46 without" in html


def test_a_days_hover_text_gives_the_quality_counts() -> None:
    row = UsageRow(DAY, DAY + timedelta(hours=23), Decimal("4.600"), total=DayTotal(
        wh=4600, actual=40, estimated=4, invalid=1, invalid_wh=9000), expected=46)
    text = describe(row)
    assert text.startswith("Sun 30 Mar 2025: 4.600 kWh, incomplete")
    assert "40 actual, 4 estimated, 1 invalid, 1 missing" in text and "9.000 kWh invalid" in text


def test_a_line_chart_without_points_says_so() -> None:
    assert "No balance recorded" in line_chart([], chart_id="b", title="Balance", unit="£")
    drawn = line_chart([(DAY, Decimal("4.50")), (DAY + HALF_HOUR, Decimal("4.25"))],
                       chart_id="b", title="Balance", unit="£")
    assert "<svg" in drawn and "<script" not in drawn
