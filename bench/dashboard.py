"""Benchmark: the ops console over HTTP at fleet scale — a real `flows serve` on a database of
``--meters`` meters with ``--days`` of half hours and the meter days the views keep (filled as
bench/fleet_health.py fills it), each page and endpoint asked ``--runs`` times in turn by one
client (after two warm-up rounds); p50 and p99 of the whole request.

    python bench/dashboard.py [--meters 10000] [--days 30] [--store sqlite|postgres] [--runs 40]

The acceptance bar (issue #29): the fleet page, /fleet/health and /metrics p50 < 300 ms and
p99 < 1 s; a meter page < 300 ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from fleet_health import fill  # the same fleet, written set-based
from views_throughput import database  # a new SQLite or throwaway PostgreSQL database

from flows.devtools.processes import serve_flows

KEY = "bench-read-key-0123456789"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--database", help="an already filled database (skips the fill; "
                                           "e.g. to compare trees on the same data)")
    args = parser.parse_args()
    if args.database:
        run(args, args.database, 0.0)
        return
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as tmp, database(args.store, Path(tmp)) as db:
        started = time.perf_counter()
        fill(db, args.meters, args.days, now)
        filled = time.perf_counter() - started
        run(args, db.url, filled)


def run(args: argparse.Namespace, url: str, filled: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        meter = f"EML{args.meters // 2:06d}"
        paths = {
            "fleet page /": "/",
            "/fleet/health": "/fleet/health",
            "/metrics": "/metrics",
            "list: unhealthy": "/ui/meters?state=unhealthy",
            "list: all, by balance": "/ui/meters?sort=balance&order=desc",
            "list: search": "/ui/meters?q=00012",
            "list: last page": f"/ui/meters?page={max(1, args.meters // 50)}",
            "meter page (week)": f"/ui/meters/{meter}",
            "meter page (day)": f"/ui/meters/{meter}?period=day",
            "meter page (month)": f"/ui/meters/{meter}?period=month",
        }
        log = Path(tmp) / "serve.log"
        server, base = serve_flows(["--database", url, "--api-keys", f"{KEY}=read"], log)
        try:
            times = measure(base, paths, args.runs)
        finally:
            server.terminate()
            server.wait(timeout=30)
            if "Traceback" in log.read_text():
                print(log.read_text()[-3000:])
    print(f"console over HTTP on {args.store}: {args.meters:,} meters x {args.days} days "
          f"(filled in {filled:.0f} s), {args.runs} runs each")
    print(f"{'':28}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for label, samples in times.items():
        ordered = sorted(samples)
        p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
        print(f"{label:28}{statistics.median(ordered):>10.1f}{p99:>10.1f}{ordered[-1]:>10.1f}")


def measure(base: str, paths: dict[str, str], runs: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {label: [] for label in paths}
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {KEY}"},
                      timeout=60) as client:
        for round_number in range(runs + 2):
            for label, path in paths.items():
                started = time.perf_counter()
                answer = client.get(path)
                elapsed = 1000 * (time.perf_counter() - started)
                answer.raise_for_status()
                if round_number >= 2:  # two warm-up rounds
                    times[label].append(elapsed)
    return times


if __name__ == "__main__":
    main()
