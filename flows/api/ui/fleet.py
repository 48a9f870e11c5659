"""The console's fleet pages: ``/`` (fleet health: a card per state, each a link to its list;
what the views have quarantined) and ``/ui/meters`` (a list of meters in one state, filtered,
searched, sorted and paged, with the total)."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from flows.api.connections import Db
from flows.api.ui.page import meter_link, money, page, table, text, when
from flows.db import fleet
from flows.db.fleet import STATES
from flows.db.fleet_lists import HEALTH_FILTERS, ListError, filter_options, meter_list
from flows.views import Freshness, freshness, quarantined

PAGE_SIZE = 50
# The cards, in order: (state, label, whether a non-zero count is bad news).
CARDS = [("active", "Active meters", False), ("healthy", "Healthy", False),
         ("unhealthy", "Unhealthy", True), ("offline", "Offline (3 h+)", True),
         ("never_synced", "Never synced", True), ("low_balance", "Low balance", True),
         ("clock_drift", "Clock drift", True), ("missing_half_hours", "Missing half hours", True),
         ("no_usage", "No usage at all", True)]
TITLES = {state: label for state, label, _ in CARDS}


def overview(request: Request, db: Db) -> HTMLResponse:
    now, fresh = datetime.now(UTC), freshness(db)  # one reading of the views for the page
    counts = {**fleet.counts(db, now)["counts"],
              "missing_half_hours": len(request.app.state.missing(db, now, fresh))}
    cards = "".join(
        f"<li class='card{' alert' if bad and counts[state] else ''}' data-count='{state}'>"
        f"<a href='/ui/meters?state={state}'><b>{counts[state]:,}</b>{escape(label)}</a></li>"
        for state, label, bad in CARDS)
    unhealthy = table(["Meter", "Why", "Last healthy", "Last seen"], [
        [meter_link(m["serial"]), f"<td class='wrap bad'>{escape(m['health_details'] or '')}</td>",
         when(m["last_healthy_at"]), when(m["last_seen_at"])]
        for m in meter_list(db, "unhealthy", limit=10, now=now).rows], "unhealthy")
    low = table(["Meter", "Balance", "At"], [
        [meter_link(m["serial"]), money(m["balance"]), when(m["balance_at"])]
        for m in meter_list(db, "low_balance", sort="balance", limit=10, now=now).rows],
        "low-balance")
    body = (f"<h1>Fleet health</h1><ul class=cards id=counts>{cards}</ul>"
            f"{_views_problems(request, fresh)}{_quarantine(db)}"
            f"<h2>Unhealthy meters</h2>{unhealthy}{_more('unhealthy', counts)}"
            f"<h2>Lowest balances</h2>{low}{_more('low_balance', counts)}")
    return page(request, "Fleet health", body, fresh=fresh, refresh=True)


def _more(state: str, counts: dict[str, int]) -> str:
    if counts[state] <= 10:
        return ""
    return f"<p><a href='/ui/meters?state={state}'>All {counts[state]:,} →</a></p>"


def _views_problems(request: Request, fresh: Freshness) -> str:
    """Why usage may be stale or incomplete: meters quarantined, the views lagging."""
    problems = fresh.problems(request.app.state.stale_after_s)
    return "".join(f"<p class=bad data-problem>{escape(problem)}</p>" for problem in problems)


def _quarantine(db: Db) -> str:
    held = quarantined(db)
    if not held:
        return ""
    return "<h2>Quarantined by the views</h2>" + table(["Meter", "Since", "Why"], [
        [meter_link(row.serial) if row.serial else escape(str(row.meter_id)),
         when(row.quarantined_at), f"<td class='wrap bad'>{escape(row.error)}</td>"]
        for row in held], "quarantine")


def meters_page(
    request: Request, db: Db,
    state: Annotated[str, Query(max_length=40)] = "active",
    esco: Annotated[str | None, Query(max_length=64)] = None,
    hardware: Annotated[str | None, Query(max_length=64)] = None,
    health: Annotated[str | None, Query(max_length=40)] = None,
    q: Annotated[str | None, Query(max_length=64, description="part of the serial")] = None,
    sort: Annotated[str, Query(max_length=40)] = "serial",
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "asc",
    page_number: Annotated[int, Query(alias="page", ge=1, le=1_000_000)] = 1,
    size: Annotated[int, Query(ge=1, le=500)] = PAGE_SIZE,
) -> HTMLResponse:
    filters = {"state": state, "esco": esco or None, "hardware": hardware or None,
               "health": health or None, "q": (q or "").strip() or None}
    try:
        found = meter_list(db, state, esco=filters["esco"], hardware=filters["hardware"],
                           health=filters["health"], search=filters["q"], sort=sort,
                           descending=order == "desc", offset=(page_number - 1) * size,
                           limit=size, now=datetime.now(UTC))
    except ListError as error:
        raise HTTPException(422, str(error)) from None
    query = {**filters, "sort": sort, "order": order,
             "size": size if size != PAGE_SIZE else None}
    headers: list[str | tuple[str, str]] = [
        ("Meter", "serial"), ("Esco", "esco"), ("Hardware", "hardware"), ("Health", "health"),
        "Unhealthy since", ("Last healthy", "last_healthy"), ("Last seen", "last_seen"),
        ("Balance", "balance"), ("Clock drift", "clock_drift")]
    missing = state == "missing_half_hours" or sort == "missing"
    if missing:
        headers.append(("Missing half hours (7 days)", "missing"))
    headers.append("Details")
    rows = [_row(meter, missing) for meter in found.rows]
    first = (page_number - 1) * size + 1
    shown = (f"{first:,}–{first + len(rows) - 1:,} of {found.total:,}" if rows
             else f"0 of {found.total:,}")
    title = TITLES.get(state, state)
    body = (f"<h1>{escape(title)}</h1>{_filters(db, {**filters, 'size': query['size']}, sort, order)}"
            f"<p id=total data-total='{found.total}'>{found.total:,} meters · showing {shown}</p>"
            f"{table(headers, rows, 'meters', sorting=query)}"
            f"{_pages(query, page_number, found.total, size)}")
    return page(request, title, body, fresh=freshness(db), refresh=True)


def _row(meter: dict[str, Any], missing: bool) -> list[str]:
    drift = meter["clock_time_diff_seconds"]
    cells = [meter_link(meter["serial"]), text(meter["esco"]), text(meter["hardware"]),
             text(meter["health"] or "never synced"), when(meter["unhealthy_since"])
             if meter["health"] == "unhealthy" else text(None),
             when(meter["last_healthy_at"]), when(meter["last_seen_at"]),
             f"<td class=num>{money(meter['balance'])}</td>",
             f"<td class=num>{text(None if drift is None else f'{drift:+,} s')}</td>"]
    if missing:
        cells.append(f"<td class=num>{meter['missing']:,}</td>")
    cells.append(f"<td class='wrap bad'>{escape(meter['health_details'] or '')}</td>")
    return cells


def _filters(db: Db, filters: dict[str, Any], sort: str, order: str) -> str:
    options = filter_options(db)

    def select(name: str, label: str, choices: list[tuple[str, str]], any_choice: bool = True
               ) -> str:
        offered = [("", "any"), *choices] if any_choice else choices
        items = "".join(f"<option value='{escape(value)}'"
                        f"{' selected' if filters.get(name) == value else ''}>{escape(shown)}"
                        "</option>" for value, shown in offered)
        return f"<label>{label}<select name={name}>{items}</select></label>"

    return ("<form class=filters method=get action=/ui/meters role=search>"
            + select("state", "State", [(state, TITLES[state]) for state in STATES],
                     any_choice=False)
            + select("esco", "Esco", [(code, code) for code in options["esco"]])
            + select("hardware", "Hardware", [(kind, kind) for kind in options["hardware"]])
            + select("health", "Health", [(kind, kind.replace("_", " ")) for kind in HEALTH_FILTERS])
            + f"<label>Serial<input type=search name=q value='{escape(filters['q'] or '')}' "
              "placeholder='part of a serial'></label>"
            + f"<input type=hidden name=sort value='{escape(sort)}'>"
            + f"<input type=hidden name=order value='{escape(order)}'>"
            + (f"<input type=hidden name=size value='{filters['size']}'>" if filters.get("size")
               else "")
            + "<button>Show</button></form>")


def _pages(query: dict[str, Any], number: int, total: int, size: int) -> str:
    last = max(1, -(-total // size))
    kept = {key: value for key, value in query.items() if value not in (None, "")}

    def link(to: int, label: str, rel: str) -> str:
        return f"<a rel={rel} href='?{escape(urlencode({**kept, 'page': to}))}'>{label}</a>"

    parts = [link(number - 1, "← Previous", "prev") if number > 1 else "",
             f"<span>Page {number:,} of {last:,}</span>",
             link(number + 1, "Next →", "next") if number < last else ""]
    return f"<nav class=pages aria-label=Pages>{''.join(parts)}</nav>"
