"""The console's charts: SVG drawn on the server by pygal (a maintained plotting library on
PyPI, pure Python): real axes with ticks and units, and no script at all — the pages stay under
a no-script-from-elsewhere policy, print and work without JavaScript, and a chart of 1,500 bars
costs milliseconds. pygal's own tooltips need its script from a CDN, so each bar gets an SVG
``<title>`` instead (the browser shows it on hover) with the API's quality counts, and its
facts as ``data-`` attributes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from html import escape
from typing import Any
from xml.etree import ElementTree

import pygal
from pygal.style import Style

from flows.meterdata import LOCAL_ZONE
from flows.views import UsageRow

# Each quality's colour, and in what order the legend lists them.
QUALITIES = {"actual": "#1f6feb", "estimated": "#8cb8f5", "incomplete": "#d4a72c",
             "invalid": "#cf222e"}
_STYLE = Style(background="transparent", plot_background="#ffffff", foreground="#1f2328",
               foreground_strong="#1f2328", foreground_subtle="#d8dee4",
               colors=tuple(QUALITIES.values()), font_family="system-ui, sans-serif",
               label_font_size=13, major_label_font_size=13, legend_font_size=13,
               title_font_size=15)


def usage_chart(rows: Sequence[UsageRow], slots: Sequence[datetime], *, chart_id: str,
                half_hourly: bool, title: str) -> str:
    """Bars of kWh at ``slots`` (each bar's start; a slot without a row has no bar: missing),
    coloured by quality. The value axis is set by the usable values: an invalid one (a spike,
    a reversal) is drawn to the top of the scale and says its value, so one bad read does not
    flatten every other bar."""
    by_start = {row.start: row for row in rows}
    usable = [row.kwh for row in rows if row.quality != "invalid"]
    top = max([*usable, Decimal("0.1")])
    chart = pygal.StackedBar(
        style=_STYLE, js=[], disable_xml_declaration=True, width=1000, height=340,
        range=(0, float(top) * 1.05), include_x_axis=True, y_title="kWh",
        x_title=f"{'Half hour' if half_hourly else 'Day'} ({LOCAL_ZONE.key} time)",
        x_label_rotation=0, show_minor_x_labels=False, legend_at_bottom=True,
        legend_at_bottom_columns=4, truncate_legend=-1, truncate_label=-1, title=None,
        x_labels_major_every=_label_every(len(slots), half_hourly), no_data_text="No usage",
        value_formatter=lambda value: f"{value:.3f}")
    chart.x_labels = [_slot_label(slot, half_hourly) for slot in slots]
    cells: list[UsageRow | None] = []  # pygal draws every series at every slot, in this order
    for quality in QUALITIES:
        values: list[Any] = []
        for slot in slots:
            row = by_start.get(slot)
            shown = row if row is not None and row.quality == quality else None
            values.append(None if shown is None else float(min(max(shown.kwh, Decimal(0)), top)))
            cells.append(shown)
        chart.add(quality, values)
    tree = _titled(chart.render_tree(), title)
    drawn = _describe_bars(tree, cells)
    svg = ElementTree.tostring(tree, encoding="unicode")
    missing = sum(1 for slot in slots if slot not in by_start)
    summary = (f"{len(rows)} {'half hours' if half_hourly else 'days'} with usage"
               f"{f', {missing} without' if missing else ''}; scale to {top} kWh")
    return (f"<figure class=chart id='{chart_id}' data-bars='{drawn}' data-top='{top}'>"
            f"<figcaption><b>{escape(title)}</b> <span class=muted>{escape(summary)}</span>"
            f"</figcaption>{svg}</figure>")


def _describe_bars(tree: Any, cells: list[UsageRow | None]) -> int:
    """Give each bar its row's facts — a ``<title>`` (the hover text) and data attributes
    (start, kWh, quality) — and drop the empty ones pygal draws for the other series; the
    bars left."""
    drawn = 0
    if not any(cells):
        return drawn  # nothing at all: pygal draws no bars, only its "No usage"
    bars = [(parent, group) for parent in tree.iter("g") if parent.get("class") == "bars"
            for group in list(parent) if group.get("class") == "bar"]
    for (parent, group), row in zip(bars, cells, strict=True):
        if row is None:
            parent.remove(group)
            continue
        title = ElementTree.Element("title")
        title.text = describe(row)
        group.insert(0, title)
        group.set("data-start", row.start.isoformat())
        group.set("data-kwh", str(row.kwh))
        group.set("data-quality", row.quality)
        drawn += 1
    return drawn


def describe(row: UsageRow) -> str:
    """A bar's hover text: when, kWh and how it was measured (the API's quality counts)."""
    start = row.start.astimezone(LOCAL_ZONE)
    if row.total is None:  # a half hour
        end = row.end.astimezone(LOCAL_ZONE)
        flags = f", flags: {row.flags}" if row.flags else ""
        return (f"{start:%a %d %b %Y %H:%M}–{end:%H:%M %Z}: {row.kwh:.3f} kWh, "
                f"{row.quality}{flags}")
    total = row.total
    parts = [f"{total.actual} actual", f"{total.estimated} estimated",
             f"{total.invalid} invalid", f"{row.missing} missing"]
    invalid = f"; {row.invalid_kwh:.3f} kWh invalid, not counted" if total.invalid else ""
    partial = "; partial: the period cuts this day" if row.partial else ""
    return (f"{start:%a %d %b %Y}: {row.kwh:.3f} kWh, {row.quality} "
            f"(half hours: {', '.join(parts)}){invalid}{partial}")


def line_chart(points: Sequence[tuple[datetime, Decimal | int]], *, chart_id: str, title: str,
               unit: str) -> str:
    """A line of values over time (balance, signal quality, voltage), oldest to newest."""
    if not points:
        return f"<p id='{chart_id}'>No {escape(title.lower())} recorded.</p>"
    ordered = sorted(points)
    chart = pygal.DateTimeLine(
        style=_STYLE, js=[], disable_xml_declaration=True, width=1000, height=260,
        show_legend=False, y_title=unit, x_label_rotation=0, dots_size=2,
        x_value_formatter=lambda moment: moment.astimezone(LOCAL_ZONE).strftime("%d %b %H:%M"),
        truncate_label=-1, show_x_guides=False)
    chart.add(title, [(moment.astimezone(LOCAL_ZONE), float(value)) for moment, value in ordered])
    svg = ElementTree.tostring(_titled(chart.render_tree(), title), encoding="unicode")
    return (f"<figure class=chart id='{chart_id}'><figcaption><b>{escape(title)}</b> "
            f"<span class=muted>({escape(unit)}, last {len(ordered)})</span></figcaption>"
            f"{svg}</figure>")


def _titled(tree: Any, title: str) -> Any:
    """The chart's own ``<title>`` (pygal writes "Pygal") says what it shows; pygal's inline
    script (its tooltips' settings, for a script we do not load) goes."""
    for parent in list(tree.iter()):
        for child in list(parent):
            if child.tag == "script":
                parent.remove(child)
    found = tree.find("title")
    if found is not None:
        found.text = title
    return tree


def _slot_label(slot: datetime, half_hourly: bool) -> str:
    local = slot.astimezone(LOCAL_ZONE)
    return local.strftime("%H:%M") if half_hourly else local.strftime("%d %b")


def _label_every(count: int, half_hourly: bool) -> int:
    """Every how many slots a tick is labelled: every 3 hours of a day, about 10 days' labels."""
    if half_hourly:
        return 6
    return max(1, round(count / 10))
