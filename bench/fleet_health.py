"""Benchmark: fleet health (what `/fleet/health`, the dashboard's overview and `/metrics`
read) from the maintained tables, side by side with the old path (last seen from the CSQ
history, missing half hours by counting every interval of every register's days, "no usage"
by probing the intervals).

    python bench/fleet_health.py [--meters 10000] [--days 30] [--store sqlite|postgres]

The database holds ``--meters`` single-register meters with ``--days`` of half hours up to
today (1 % of them with a day's hole), the meter days the views keep for them, a day of hourly
signal-quality history and shadows (2 % unhealthy, some low balances and clock drift), written
set-based (this measures reads). Each path runs ``--runs`` times; their answers are checked to
agree on the counts and on the meters missing half hours.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from views_throughput import database  # a new SQLite or throwaway PostgreSQL database

from flows.db import Database, fleet, registry
from flows.db.fleet import CLOCK_DRIFT_S, LOW_BALANCE, OFFLINE_AFTER
from flows.meterdata import LOCAL_ZONE, local_midnight

HOLE_EVERY = 100  # every 100th meter misses a whole day


def fill(db: Database, meters: int, days: int, now: datetime) -> None:
    with db.transaction():
        for n in range(meters):
            registry.add_meter(db, f"EML{n:06d}", f"10.{n // 65536}.{n // 256 % 256}.{n % 256}",
                               "B1.w", None)
    today = now.astimezone(LOCAL_ZONE).date()
    first_day = today - timedelta(days=days)
    start = local_midnight(first_day)
    hole = today - timedelta(days=3)
    slots = int((now - start) / timedelta(minutes=30))
    holes = ("EXISTS (SELECT 1 FROM meter_registry m WHERE m.id = r.meter_id AND "
             f"CAST(substr(m.serial, 4) AS INTEGER) % {HOLE_EVERY} = 0)")
    with db.transaction():
        if db.engine == "postgres":
            db.execute(
                "INSERT INTO register_interval_hh (register_id, direction, timestamp, kwh, wh, "
                "flags, derived) SELECT r.register_id, 'import', :start + n * interval '30 minutes', "
                "0.1, 100, '', FALSE FROM meter_registers r CROSS JOIN generate_series(0, :last) n "
                f"WHERE NOT ({holes} AND ((:start + n * interval '30 minutes') AT TIME ZONE "
                "'Europe/London')::date = :hole)",
                {"start": start, "last": slots - 1, "hole": hole})
        else:
            db.execute(
                "WITH RECURSIVE slot(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM slot "
                "WHERE n < :last) INSERT INTO register_interval_hh (register_id, direction, "
                "timestamp, kwh, wh, flags, derived) SELECT r.register_id, 'import', "
                "strftime('%Y-%m-%dT%H:%M:%fZ', :start, '+' || (slot.n * 30) || ' minutes'), "
                "'0.100', 100, '', 0 FROM meter_registers r CROSS JOIN slot WHERE NOT ("
                f"{holes} AND strftime('%Y-%m-%dT%H:%M:%fZ', :start, '+' || (slot.n * 30) || "
                "' minutes') >= :hole_start AND strftime('%Y-%m-%dT%H:%M:%fZ', :start, '+' || "
                "(slot.n * 30) || ' minutes') < :hole_end)",
                {"start": start, "last": slots - 1, "hole_start": local_midnight(hole),
                 "hole_end": local_midnight(hole + timedelta(days=1))})
        # The meter days the views keep for those half hours (today's: up to now).
        db.execute(
            "INSERT INTO usage_meter_daily (meter_id, direction, day, wh, actual, estimated, "
            "invalid, invalid_wh) SELECT r.meter_id, 'import', d.day, 100 * count(i.timestamp), "
            "count(i.timestamp), 0, 0, 0 FROM meter_registers r JOIN local_days d "
            "ON d.day >= :first AND d.day <= :today JOIN register_interval_hh i "
            "ON i.register_id = r.register_id AND i.timestamp >= d.start_utc "
            "AND i.timestamp < d.end_utc GROUP BY r.meter_id, d.day",
            {"first": first_day, "today": today})
        # A day of hourly signal quality (the history the old path read last seen from).
        for hour in range(24):
            at = now - timedelta(hours=hour)
            db.execute("INSERT INTO meter_csq (meter_id, timestamp, csq) SELECT id, :at, 20 "
                       "FROM meter_registry", {"at": at})
        db.execute("UPDATE meter_shadows SET health = 'healthy', health_details = '', csq = 20, "
                   "csq_at = :at, balance = 12.5, clock_time_diff_seconds = 5", {"at": now})
        db.execute("UPDATE meter_shadows SET health = 'unhealthy', csq = NULL WHERE id IN "
                   "(SELECT id FROM meter_registry WHERE CAST(substr(serial, 4) AS INTEGER) "
                   "% 50 = 0)")
    if db.engine == "postgres":
        db.execute("ANALYZE")


def old_health(db: Database, now: datetime) -> dict[str, Any]:
    """The path before the maintained tables: the CSQ history, every interval."""
    rows = db.query("SELECT r.id, r.serial, r.hardware, s.health, s.health_details, "
                    "s.last_healthy_at, s.balance, s.balance_at, s.clock_time_diff_seconds "
                    "FROM meter_registry r LEFT JOIN meter_shadows s ON s.id = r.id "
                    "WHERE r.mode = 'active' ORDER BY r.serial")
    last_seen = {str(r["meter_id"]): r["last_csq_at"]
                 for r in db.query("SELECT meter_id, last_csq_at FROM meters_last_seen")}
    unhealthy = [r["serial"] for r in rows if r["health"] == "unhealthy"]
    offline = [r["serial"] for r in rows if last_seen.get(str(r["id"])) is None
               or now - last_seen[str(r["id"])] > OFFLINE_AFTER]
    low_balance = [r["serial"] for r in rows
                   if r["balance"] is not None and r["balance"] < LOW_BALANCE]
    drift = [r["serial"] for r in rows if r["clock_time_diff_seconds"] is not None
             and abs(r["clock_time_diff_seconds"]) >= CLOCK_DRIFT_S]
    since = (now - timedelta(days=7)).date().isoformat()
    missing = db.query(
        "SELECT r.serial, sum(m.missing) AS missing FROM register_interval_hh_missing m "
        "JOIN meter_registers g ON g.register_id = m.register_id "
        "JOIN meter_registry r ON r.id = g.meter_id "
        "WHERE m.day >= :since AND m.missing > 0 GROUP BY r.serial ORDER BY r.serial",
        {"since": since})
    with_usage = {r["serial"] for r in db.query(
        "SELECT DISTINCT r.serial FROM meter_registry r JOIN meter_registers g ON g.meter_id = r.id "
        "WHERE EXISTS (SELECT 1 FROM register_interval_hh i WHERE i.register_id = g.register_id)")}
    no_usage = [r["serial"] for r in rows if r["health"] == "healthy"
                and r["serial"] not in with_usage]
    return {"counts": {"unhealthy": len(unhealthy), "offline": len(offline),
                       "low_balance": len(low_balance), "clock_drift": len(drift),
                       "no_usage": len(no_usage)},
            "missing": [r["serial"] for r in missing]}


def timed(read: Callable[[], Any], runs: int) -> tuple[list[float], Any]:
    times, answer = [], None
    for _ in range(runs):
        started = time.perf_counter()
        answer = read()
        times.append(1000 * (time.perf_counter() - started))
    return times, answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--old-runs", type=int, default=1)
    args = parser.parse_args()
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as tmp, database(args.store, Path(tmp)) as db:
        started = time.perf_counter()
        fill(db, args.meters, args.days, now)
        filled = time.perf_counter() - started
        new_times, new = timed(lambda: fleet.health(db, now), args.runs)
        paths = [("maintained tables", new_times)]
        if args.old_runs:  # minutes per run at 10,000 meters: --old-runs 0 leaves it out
            old_times, old = timed(lambda: old_health(db, now), args.old_runs)
            counts = {name: new["counts"][name] for name in old["counts"]}
            missing = [m["serial"] for m in new["missing_half_hours"]]
            if counts != old["counts"] or missing != old["missing"]:
                raise SystemExit(f"the paths disagree: {counts} / {old['counts']}, "
                                 f"{len(missing)} / {len(old['missing'])} missing")
            paths.append(("old path", old_times))
        print(f"fleet health on {args.store}: {args.meters:,} meters x {args.days} days "
              f"(filled in {filled:.0f} s; {len(new['missing_half_hours'])} meters missing "
              "half hours)")
        for name, times in paths:
            ordered = sorted(times)
            p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
            print(f"  {name:20} p50 {statistics.median(times):10.1f} ms   p99 {p99:10.1f} ms")


if __name__ == "__main__":
    main()
