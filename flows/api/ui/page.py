"""The console's page frame and its formats, one of each: a page (navigation, "data as of",
an auto-refresh that can be turned off, log-out), a timestamp (the fleet's local zone, UTC on
hover, rewritten into the viewer's zone by `/ui/assets/console.js`), money (£ with two
decimals), a table (sortable headers, a horizontal scroll of its own on a phone)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse

from flows.api.auth import SESSION_COOKIE
from flows.meterdata import LOCAL_ZONE
from flows.views import Freshness

STYLE = """
*{box-sizing:border-box}body{font:15px system-ui,sans-serif;margin:0;color:#1f2328;background:#fff}
header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;padding:.6rem 1rem;
background:#0b3d91;color:#fff}header a{color:#fff}header nav{display:flex;gap:1rem;flex:1}
header form{margin:0}main{padding:0 1rem 2rem;max-width:1200px}
h1{font-size:1.4rem;margin:1rem 0 .5rem}h2{font-size:1.1rem;margin-top:1.6rem}
a{color:#0b5cad}.cards{display:flex;gap:.7rem;flex-wrap:wrap;padding:0;margin:0;list-style:none}
.card a{display:block;border:1px solid #c9d1d9;border-radius:6px;padding:.5rem .9rem;
min-width:8rem;text-decoration:none;color:inherit}.card a:hover,.card a:focus{border-color:#0b5cad}
.card b{display:block;font-size:1.6rem}.card.alert b{color:#b3261e}
.scroll{overflow-x:auto;max-width:100%}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #d8dee4;padding:.35rem .5rem;text-align:left;white-space:nowrap}
td.wrap{white-space:normal;min-width:12rem}th a{text-decoration:none}.num{text-align:right}
.bad{color:#b3261e}.muted{color:#57606a}.asof{color:#57606a;display:flex;flex-wrap:wrap;
gap:0 1.5rem;align-items:center}.asof p{margin:.4rem 0}
form.filters{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end;margin:.6rem 0}
form.filters label{display:flex;flex-direction:column;font-size:.85rem}
input,select,button{font:inherit;padding:.25rem .4rem}.pages{display:flex;gap:1rem;margin:.6rem 0}
.chart svg{width:100%;height:auto}.picker{display:flex;flex-wrap:wrap;gap:.6rem;align-items:center}
.picker a[aria-current]{font-weight:bold;text-decoration:none;color:inherit}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dl.facts dt{color:#57606a}
dl.facts dd{margin:0;overflow-wrap:anywhere}
"""
REFRESH_S = 60  # lists and the overview reload themselves (an ops screen on the wall)
CONSOLE_JS = (Path(__file__).parent / "console.js").read_text()
CONSOLE_JS_VERSION = hashlib.sha256(CONSOLE_JS.encode()).hexdigest()[:12]


def logout_token(session: str) -> str:
    """The logout form's token: known only to whoever holds the (HttpOnly) session cookie."""
    return hashlib.sha256(b"logout:" + session.encode()).hexdigest()[:32]


def page(request: Request, title: str, body: str, *, fresh: Freshness | None = None,
         status: int = 200, logged_in: bool = True, refresh: bool = False) -> HTMLResponse:
    """A whole page: the header (navigation, log-out), "data as of" (the views' position
    time) when the views' ``fresh``-ness is given, and ``body``."""
    # Reloaded by console.js, with a switch to stop it (a timed meta refresh cannot be).
    refresher = (f"<label class=refresh><input type=checkbox id=auto-refresh "
                 f"data-seconds={REFRESH_S} checked> Refresh every {REFRESH_S} s</label>"
                 if refresh else "")
    nav = ""
    if logged_in:
        token = logout_token(request.cookies.get(SESSION_COOKIE, ""))
        nav = ("<nav aria-label=Main><a href='/'>Fleet</a><a href='/ui/meters'>Meters</a></nav>"
               f"<form method=post action=/logout><input type=hidden name=csrf value='{token}'>"
               "<button>Log out</button></form>")
    as_of = (f"<div class=asof><p id=data-as-of>{data_as_of(fresh)}</p>{refresher}</div>"
             if fresh is not None else "")
    return HTMLResponse(
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)} · Flows</title><style>{STYLE}</style>"
        f"<script src='/ui/assets/console.js?v={CONSOLE_JS_VERSION}' defer></script></head>"
        f"<body><header><a href='/'><b>Flows</b></a>{nav}</header>"
        f"<main>{as_of}{body}</main></body></html>", status_code=status)


def data_as_of(fresh: Freshness) -> str:
    waiting = f" ({fresh.lag_changes:,} changes waiting)" if fresh.lag_changes else ""
    return f"Usage data as of {when(fresh.data_as_of)}{waiting}."


def when(value: datetime | None, *, date_only: bool = False) -> str:
    """A timestamp as the console shows every one: the fleet's local time, UTC on hover
    (rewritten into the viewer's zone in the browser)."""
    if value is None:
        return "<span class=muted>never</span>"
    utc = value.astimezone(UTC)
    local = utc.astimezone(LOCAL_ZONE)
    shown = local.strftime("%d %b %Y" if date_only else "%d %b %Y %H:%M %Z")
    iso = utc.isoformat().replace("+00:00", "Z")
    kind = " data-date" if date_only else ""
    return (f"<time datetime='{iso}' title='{utc.strftime('%Y-%m-%d %H:%M:%S UTC')}'{kind}>"
            f"{escape(shown)}</time>")


def money(value: Decimal | float | str | None) -> str:
    """£ with two decimals (a prepay balance may be negative: emergency credit)."""
    if value is None:
        return "<span class=muted>—</span>"
    pounds = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"−£{-pounds:,}" if pounds < 0 else f"£{pounds:,}"


def text(value: Any) -> str:
    return "<span class=muted>—</span>" if value is None or value == "" else escape(str(value))


def meter_link(serial: str) -> str:
    return f"<a href='/ui/meters/{escape(serial)}'>{escape(serial)}</a>"


def table(headers: Sequence[str | tuple[str, str]], rows: Sequence[Sequence[str]], table_id: str,
          caption: str = "", sorting: Mapping[str, Any] | None = None) -> str:
    """A table; a header given as (label, sort key) links to the list sorted by it (again:
    the other way) when ``sorting`` (the list's query: sort, order, ...) is given."""
    if not rows:
        return f"<p id='{table_id}'>None.</p>"
    cells = []
    for header in headers:
        label, key = header if isinstance(header, tuple) else (header, "")
        if key and sorting is not None:
            current = sorting.get("sort") == key
            descending = current and sorting.get("order") != "desc"
            query = urlencode({**{k: v for k, v in sorting.items() if v not in (None, "")},
                               "sort": key, "order": "desc" if descending else "asc", "page": 1})
            arrow = (" ▲" if sorting.get("order") != "desc" else " ▼") if current else ""
            sort_state = (f" aria-sort={'descending' if sorting.get('order') == 'desc' else 'ascending'}"
                          if current else "")
            cells.append(f"<th scope=col{sort_state}><a href='?{escape(query)}'>{escape(label)}"
                         f"{arrow}</a></th>")
        else:
            cells.append(f"<th scope=col>{escape(label)}</th>")
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" if not cell.startswith("<td")
                                     else cell for cell in row) + "</tr>" for row in rows)
    caption_html = f"<caption class=muted>{escape(caption)}</caption>" if caption else ""
    return (f"<div class=scroll><table id='{table_id}'>{caption_html}<thead><tr>{''.join(cells)}"
            f"</tr></thead><tbody>{body}</tbody></table></div>")
