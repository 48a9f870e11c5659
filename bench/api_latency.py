"""Benchmark: usage reads through the HTTP API, from the views' daily aggregates, side by side
with the old path (every half hour read from register_interval_hh and summed per request).

    python bench/api_latency.py [--meters 1000] [--days 365] [--requests 200]

The database (SQLite) holds ``--meters`` single-register meters, each linked to a customer, with
``--days`` of half hours from 1 January 2025, written set-based (this measures reads, not the
views). Two reads, each for random meters/customers, through a real uvicorn server:
one customer's days by day over a year, and one meter's 24 months by month. The server runs in
a process of its own (as `flows serve` does). The old path is the pre-aggregate code, served as
extra routes of the same app, so both go through the same HTTP stack; their answers are checked
to agree.
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from flows.api import ApiKeys, create_app
from flows.db import Database, connect, customers, migrate, registry
from flows.devtools.processes import free_port
from flows.meterdata import LOCAL_ZONE
from flows.views import quality
from flows.views.store import intervals

START = datetime(2025, 1, 1, tzinfo=UTC)
KEY = "bench-read-key-0123456789"


def fill(db: Database, meters: int, days: int) -> None:
    """Meters, links, half hours (set-based SQL) and the daily aggregates the views would hold."""
    for n in range(meters):
        serial = f"EML{n:06d}"
        registry.add_meter(db, serial, f"10.{n // 65536}.{n // 256 % 256}.{n % 256}", "B1.w", None)
        customers.add_customer(db, f"C{n}")
        customers.link_meter(db, f"C{n}", serial, START)
    half_hours = days * 48 - 1  # London is on GMT on 1 January: days start at UTC midnight
    with db.transaction():
        db.execute(
            "WITH RECURSIVE slot(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM slot WHERE n < :last) "
            "INSERT INTO register_interval_hh (register_id, direction, timestamp, kwh, wh, flags, "
            "derived) SELECT r.register_id, 'import', strftime('%Y-%m-%dT%H:%M:%fZ', :start, "
            "'+' || (slot.n * 30) || ' minutes'), '0.1', 100, '', 0 FROM meter_registers r "
            "CROSS JOIN slot", {"last": half_hours, "start": START})
        day_rows = db.query(
            "SELECT r.meter_id, c.customer_id, d.day, d.half_hours FROM meter_registers r "
            "JOIN customer_meters c ON c.meter_id = r.meter_id JOIN local_days d "
            "ON d.day >= :first AND d.day < :end",
            {"first": START.date(), "end": START.date() + timedelta(days=days)})
        db.executemany(
            "INSERT INTO usage_meter_daily (meter_id, direction, day, wh, actual, estimated, "
            "invalid, invalid_wh) VALUES (:m, 'import', :day, :wh, :n, 0, 0, 0)",
            [{"m": row["meter_id"], "day": row["day"], "wh": 100 * row["half_hours"],
              "n": row["half_hours"]} for row in day_rows])
        db.executemany(
            "INSERT INTO usage_customer_daily VALUES (:c, :m, 'import', :day, :wh, :n, 0, 0, 0)",
            [{"c": row["customer_id"], "m": row["meter_id"], "day": row["day"],
              "wh": 100 * row["half_hours"], "n": row["half_hours"]} for row in day_rows])


def old_usage(db: Database, start: datetime, end: datetime, group_by: str, **who: Any
              ) -> list[dict[str, Any]]:
    """The pre-aggregate path: every half hour of the period read and summed per request."""
    periods: dict[date, Decimal] = {}
    key_of = {"meter": "meter_id", "customer": "customer_id"}
    (name, value), = who.items()
    for stamp, wh, flags, derived in intervals.half_hours(db, start, end, (key_of[name], value)):
        day = stamp.astimezone(LOCAL_ZONE).date()
        key = day.replace(day=1) if group_by == "month" else day
        usable = quality(flags, derived) != "invalid"
        periods[key] = periods.get(key, Decimal(0)) + (Decimal(wh) / 1000 if usable else 0)
    return [{"interval_start": str(key), "consumption": str(kwh)}
            for key, kwh in sorted(periods.items(), reverse=True)]


def app_with_old_routes(url: str) -> Any:
    app = create_app(url, ApiKeys.parse(f"{KEY}=read"))

    @app.get("/old/customers/{customer}/usage")
    def old_customer(customer: str, period_from: datetime, period_to: datetime,
                     group_by: str) -> list[dict[str, Any]]:
        db = connect(url)
        try:
            return old_usage(db, period_from, period_to, group_by, customer=customer)
        finally:
            db.close()

    @app.get("/old/meters/{serial}/consumption")
    def old_meter(serial: str, period_from: datetime, period_to: datetime,
                  group_by: str) -> list[dict[str, Any]]:
        db = connect(url)
        try:
            return old_usage(db, period_from, period_to, group_by,
                             meter=registry.meter_id(db, serial))
        finally:
            db.close()

    return app


@contextmanager
def serving(url: str) -> Iterator[str]:
    """This script's server mode in a process of its own; its base URL."""
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", url, "--port", str(port)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        if "listening" not in server.stdout.readline():
            raise SystemExit("the benchmark's server did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(30)


def serve(url: str, port: int) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", port))
    listener.listen(128)  # connections queue from now on, before uvicorn accepts them
    print("listening", flush=True)
    uvicorn.Server(uvicorn.Config(app_with_old_routes(url), log_level="warning")).run(
        sockets=[listener])


def latencies(client: httpx.Client, make_path: Callable[[int], str], query: str, requests: int,
              meters: int) -> tuple[list[float], Any]:
    picks = random.Random(7)
    for n in range(3):  # warm up: the server's first requests open connections, fill caches
        client.get(make_path(n % meters) + query).raise_for_status()
    times, body = [], None
    for _ in range(requests):
        path = make_path(picks.randrange(meters)) + query
        started = time.perf_counter()
        response = client.get(path)
        times.append(1000 * (time.perf_counter() - started))
        response.raise_for_status()
        body = response.json()
    return times, body


def percentiles(times: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(times, n=100)
    return statistics.median(times), cuts[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--serve", metavar="URL", help=argparse.SUPPRESS)  # the server process
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    year = {"period_from": START.isoformat(),
            "period_to": (START + timedelta(days=args.days)).isoformat()}
    months = {"period_from": START.replace(year=START.year - 1).isoformat(),
              "period_to": START.replace(year=START.year + 1).isoformat()}
    reads = [
        (f"one customer's {args.days} days by day", "day", year,
         lambda n: f"/customers/C{n}/usage", lambda n: f"/old/customers/C{n}/usage"),
        ("one meter's 24 months by month", "month", months,
         lambda n: f"/meters/EML{n:06d}/consumption", lambda n: f"/old/meters/EML{n:06d}/consumption"),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'flows.db'}"
        db = connect(url)
        migrate(db)
        started = time.perf_counter()
        fill(db, args.meters, args.days)
        print(f"API latency on sqlite: {args.meters} meters x {args.days} days "
              f"(filled in {time.perf_counter() - started:.0f} s), {args.requests} requests each")
        print(f"{'read':40}{'path':>12}{'p50 ms':>10}{'p99 ms':>10}")
        with serving(url) as base, httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {KEY}"}, timeout=120) as client:
            for name, group_by, period, new_path, old_path in reads:
                query = "?" + "&".join(f"{k}={v}" for k, v in {**period, "group_by": group_by,
                                                               "page_size": 1000}.items())
                query = query.replace("+", "%2B")
                new_times, new_body = latencies(client, new_path, query, args.requests,
                                                args.meters)
                old_times, old_body = latencies(client, old_path, query, args.requests,
                                                args.meters)
                new_kwh = [Decimal(row["consumption"]) for row in new_body["results"]]
                if new_kwh != [Decimal(row["consumption"]) for row in old_body]:
                    raise SystemExit(f"{name}: the aggregates and the half hours disagree")
                for label, times in (("aggregates", new_times), ("half hours", old_times)):
                    p50, p99 = percentiles(times)
                    print(f"{name:40}{label:>12}{p50:>10.1f}{p99:>10.1f}")
        db.close()


if __name__ == "__main__":
    main()
