"""Benchmark: a fleet at scale on one PostgreSQL — the next half hour of every meter written as
the collectors write it and applied by 1, 2 and 4 feeders side by side; the database's size
per meter-year and its biggest tables; usage reads through the API at that size.

    python bench/fleet_scale.py [--meters 100000] [--days 7] [--feeders 1 2 4] [--writers 2]

A throwaway PostgreSQL cluster holds ``--meters`` single-register meters (an esco per 10,000,
each meter linked to a customer) with ``--days`` of half-hourly profile values and a daily
register read, and the views of them, generated set-based: the registry through its triggers,
the history and the half hours directly (triggers off: this measures what comes after), the
daily rows by one GROUP BY; the views' positions then at the change log's end. A sample of
meters is computed again by the feeder's rules and refreshed by its aggregates, which must
find nothing to change. (7 days by default: 30 days of 100,000 meters are 144M rows in each of
the two big tables, ~25 minutes to generate here and ~40 GB.) Then, for each feeder count in
``--feeders``: that many `flows views follow` processes start and settle on the shards; the
next half hour of every meter is written as the collectors write it
(`history.append_profile_values` per meter, 500 meters per transaction, by ``--writers``
connections at once); the time from the first write until every shard has applied it is the
lag of that half hour. Then the tables' sizes (and growth over the cycles) and the API's
usage reads (`flows serve`: a customer's month by day, a meter's), ``--requests`` each.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from api_latency import latencies, percentiles  # random meters' reads, p50 and p99

from flows.db import Database, connect, history, migrate
from flows.devtools.postgres import TemporaryCluster
from flows.devtools.processes import FLOWS_COMMAND, free_port
from flows.views.changes import ValueEnds, compute, value_days
from flows.views.shards import owners
from flows.views.store import aggregates, position

HALF_HOUR = timedelta(minutes=30)
METERS_PER_ESCO = 10_000
METERS_PER_TRANSACTION = 500  # as a collector's group commit
KEY = "bench-key"
SERVER_SETTINGS = {"shared_buffers": "'2GB'", "max_wal_size": "'16GB'", "work_mem": "'64MB'",
                   "maintenance_work_mem": "'1GB'", "checkpoint_timeout": "'30min'"}
# Each meter's Wh per half hour: from its register id, the same in SQL and here.
RATE_SQL = "(20 + get_byte(uuid_send(r.register_id), 0) % 50)"


def timed(what: str) -> Any:
    @contextmanager
    def timer() -> Iterator[None]:
        started = time.perf_counter()
        yield
        print(f"  {what}: {time.perf_counter() - started:.1f} s", flush=True)
    return timer()


def generate(db: Database, meters: int, days: int, start: datetime) -> None:
    slots = days * 48
    escos = max(1, -(-meters // METERS_PER_ESCO))
    params = {"meters": meters, "escos": escos, "start": start, "slots": slots, "days": days}
    with timed(f"registry: {meters:,} meters, {escos} escos, customers"), db.transaction():
        db.execute("INSERT INTO escos (id, code, name) SELECT gen_random_uuid(), 'E' || e, "
                   "'Esco ' || e FROM generate_series(0, :escos - 1) e", params)
        db.execute("INSERT INTO meter_registry (id, serial, ip_address, hardware, esco) SELECT "
                   "gen_random_uuid(), 'EML' || lpad(n::text, 7, '0'), ('10.0.0.0'::inet + n), "
                   "'B1.w', (SELECT id FROM escos WHERE code = 'E' || (n % :escos)) "
                   "FROM generate_series(0, :meters - 1) n", params)
        db.execute("INSERT INTO meter_registers (register_id, meter_id, element) "
                   "SELECT gen_random_uuid(), id, 'A' FROM meter_registry", params)
        db.execute("INSERT INTO customers (id, name) SELECT 'C' || substr(serial, 4), serial "
                   "FROM meter_registry", params)
    with timed("links"), db.transaction():
        # New links cannot overlap: their trigger (a lock per link, too many for one
        # transaction at this size) is not needed.
        db.execute("SET LOCAL session_replication_role = replica")
        db.execute("INSERT INTO customer_meters (customer_id, meter_id, valid_from) "
                   "SELECT 'C' || substr(serial, 4), id, :start FROM meter_registry", params)
    # The history and the views' half hours as they are (no triggers: no change log), on two
    # connections at once; the cross join runs register by register (the keys' order).
    history_sql = {
        f"profile values: {meters * (slots + 1):,}": (
            "INSERT INTO register_profile_hh (register_id, timestamp, cumulative_wh, status) "
            f"SELECT r.register_id, :start + k * interval '30 minutes', 100000 + k * {RATE_SQL}, "
            "0 FROM meter_registers r CROSS JOIN generate_series(0, :slots) k"),
        f"half hours: {meters * slots:,}; register reads: {meters * days:,}": (
            "INSERT INTO register_interval_hh (register_id, direction, timestamp, kwh, wh, flags, "
            f"derived) SELECT r.register_id, 'import', :start + k * interval '30 minutes', "
            f"{RATE_SQL} / 1000.0, {RATE_SQL}, '', FALSE FROM meter_registers r CROSS JOIN "
            "generate_series(0, :slots - 1) k; "
            "INSERT INTO register_import (register_id, timestamp, read) SELECT r.register_id, "
            ":start + d * interval '1 day' + interval '30 minutes', (100000 + (d * 48 + 1) * "
            f"{RATE_SQL}) / 1000.0 FROM meter_registers r CROSS JOIN generate_series(0, :days - 1) d"),
    }

    def run(what: str, sql: str) -> None:
        with timed(what), connect(db.url) as writer, writer.transaction():
            writer.execute("SET LOCAL session_replication_role = replica")
            for statement in sql.split("; "):
                writer.execute(statement, params)

    threads = [threading.Thread(target=run, args=item) for item in history_sql.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with timed("daily rows (one GROUP BY; checked against the feeder's refresh after)"), \
            db.transaction():
        # Every half hour is an actual reading (flags '', not derived), and every link covers
        # whole local days: a customer's day is its meter's.
        db.execute("INSERT INTO usage_meter_daily (meter_id, direction, day, wh, actual, "
                   "estimated, invalid, invalid_wh, esco) SELECT r.meter_id, 'import', "
                   "(i.timestamp AT TIME ZONE 'Europe/London')::date, sum(i.wh), count(*), 0, 0, "
                   "0, min(m.esco::text)::uuid FROM register_interval_hh i JOIN meter_registers r "
                   "ON r.register_id = i.register_id JOIN meter_registry m ON m.id = r.meter_id "
                   "GROUP BY 1, 3", params)
        db.execute("INSERT INTO usage_customer_daily (customer_id, meter_id, direction, day, wh, "
                   "actual, estimated, invalid, invalid_wh) SELECT c.customer_id, u.meter_id, "
                   "u.direction, u.day, u.wh, u.actual, 0, 0, 0 FROM usage_meter_daily u JOIN "
                   "customer_meters c ON c.meter_id = u.meter_id", params)
        db.execute("INSERT INTO usage_esco_daily (esco, direction, day, wh, actual, estimated, "
                   "invalid, invalid_wh, meters) SELECT esco, direction, day, sum(wh), "
                   "sum(actual), 0, 0, 0, count(*) FROM usage_meter_daily GROUP BY 1, 2, 3", params)
        newest = int(db.query("SELECT coalesce(max(seq), 0) AS n FROM register_value_changes")
                     [0]["n"])
        position.write_positions(db, {position.shard_feed(shard): newest
                                      for shard in range(position.shard_count(db))})
    with timed("analyze"):
        db.execute("ANALYZE")


def check_sample(db: Database, start: datetime, days: int, sample: int = 20) -> None:
    """The feeder's rules, run again over a sample of meters' whole history, find nothing to
    write: the generated half hours are what Flows would have made."""
    registers = [row["register_id"] for row in db.query(
        "SELECT register_id FROM meter_registers ORDER BY register_id LIMIT :n", {"n": sample})]
    end = start + timedelta(days=days)
    windows = {(source, register): (start, end) for register in registers
               for source in ("profile", "reads")}
    ends = ValueEnds(db, registers)
    writes = compute(db, value_days(db, windows, ends), ends)
    try:
        if writes.days:  # the register days whose half hours the rules would change
            raise SystemExit(f"the generated half hours differ from the rules' on "
                             f"{sum(map(len, writes.days.values()))} register days")
    finally:
        writes.close()
    meter_rows = {row["meter_id"] for row in db.query(
        "SELECT meter_id FROM meter_registers WHERE register_id = ANY(:r)", {"r": registers})}
    tables = [aggregate.table for aggregate in aggregates.AGGREGATES]
    esco = db.query("SELECT esco FROM meter_registry WHERE id = :m",
                    {"m": next(iter(meter_rows))})[0]["esco"]

    def held() -> list[list[dict[str, Any]]]:
        return [db.query(f"SELECT * FROM {table} WHERE "
                         + ("esco = :e" if table == "usage_esco_daily" else "meter_id = ANY(:m)")
                         + " ORDER BY 1, 2, 3, 4", {"m": list(meter_rows), "e": esco})
                for table in tables]

    generated = held()
    every_day = {start.date() + timedelta(days=d) for d in range(-1, days + 1)}
    with db.transaction():
        aggregates.refresh(db, {meter: every_day for meter in meter_rows})
    if held() != generated:
        raise SystemExit("the generated daily rows differ from the feeder's refresh")


def write_next_half_hour(url: str, registers: list[tuple[Any, int]], slot: int, start: datetime,
                         writers: int) -> float:
    """The half hour ``slot`` of every register written as collectors write it, by ``writers``
    connections at once; the seconds it took."""
    stamp = start + slot * HALF_HOUR

    def write(part: list[tuple[Any, int]]) -> None:
        with connect(url) as db:
            for first in range(0, len(part), METERS_PER_TRANSACTION):
                with db.transaction():
                    for register, rate in part[first:first + METERS_PER_TRANSACTION]:
                        history.append_profile_values(db, [(register, stamp, 100_000 + slot * rate, 0)])

    threads = [threading.Thread(target=write, args=(registers[n::writers],)) for n in range(writers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


@contextmanager
def feeders(url: str, count: int, shards: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    processes = [subprocess.Popen([*FLOWS_COMMAND, "views", "follow", "--poll", "1", "--database",
                                   url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for _ in range(count)]
    try:
        with connect(url) as db:
            deadline = time.monotonic() + 120
            while True:  # settled: every shard owned, by as many sessions as feeders
                owned = owners(db)
                if len(owned) == shards and len(set(owned.values())) == count:
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"{count} feeders did not settle on the shards")
                time.sleep(0.2)
        yield processes
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(60)


def caught_up_after(db: Database, shards: int, newest: int) -> float:
    """Seconds until every shard has applied change ``newest``."""
    started = time.perf_counter()
    while min(position.shard_positions(db, range(shards)).values()) < newest:
        if time.perf_counter() - started > 3600:
            raise SystemExit("the views did not catch up within an hour")
        time.sleep(0.05)
    return time.perf_counter() - started


TABLES = ("register_profile_hh", "register_import", "register_interval_hh",
          "register_value_changes", "usage_meter_daily", "usage_customer_daily",
          "usage_esco_daily", "meter_registry", "meter_shadows")


def sizes(db: Database) -> dict[str, int]:
    """Bytes of each table with its indexes and partitions."""
    found = {}
    for table in TABLES:
        found[table] = int(db.query(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) AS bytes FROM pg_class c "
            "WHERE c.oid = CAST(:t AS regclass) OR c.oid IN (SELECT inhrelid FROM pg_inherits "
            "WHERE inhparent = CAST(:t AS regclass))", {"t": f"flows.{table}"})[0]["bytes"])
    return found


@contextmanager
def api(url: str) -> Iterator[httpx.Client]:
    port = free_port()
    server = subprocess.Popen([*FLOWS_COMMAND, "serve", "--database", url, "--port", str(port),
                               "--api-keys", f"{KEY}=read"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60,
                          headers={"Authorization": f"Bearer {KEY}"}) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    client.get("/healthz").raise_for_status()
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise SystemExit("flows serve did not start") from None
                    time.sleep(0.1)
            yield client
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--feeders", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    started = time.perf_counter()
    start = (datetime.now(UTC) - timedelta(days=args.days + 1)).replace(
        hour=0, minute=0, second=0, microsecond=0)
    cluster = TemporaryCluster()
    try:
        with connect(cluster.url) as admin:
            for name, value in SERVER_SETTINGS.items():
                admin.execute(f"ALTER SYSTEM SET {name} = {value}")
        cluster.restart()
        db = connect(cluster.url)
        migrate(db)
        shards = position.shard_count(db)
        print(f"fleet scale on PostgreSQL ({os.cpu_count()} cores): {args.meters:,} meters x "
              f"{args.days} days, {shards} shards", flush=True)
        generate(db, args.meters, args.days, start)
        check_sample(db, start, args.days)
        before = sizes(db)
        registers = [(row["register_id"], int(row["rate"])) for row in db.query(
            f"SELECT r.register_id, {RATE_SQL} AS rate FROM meter_registers r")]
        random.Random(5).shuffle(registers)  # meters report in no particular order
        slot = args.days * 48
        print(f"{'feeders':>8}{'write s':>9}{'rows/s':>10}{'lag s':>8}{'intervals/s':>13}"
              f"{'after write s':>15}", flush=True)
        for count in args.feeders:
            slot += 1
            with feeders(cluster.url, count, shards):
                write_s = write_next_half_hour(cluster.url, registers, slot, start, args.writers)
                newest = int(db.query("SELECT max(seq) AS n FROM register_value_changes")[0]["n"])
                after_s = caught_up_after(db, shards, newest)
            lag_s = write_s + after_s
            print(f"{count:>8}{write_s:>9.1f}{len(registers) / write_s:>10,.0f}{lag_s:>8.1f}"
                  f"{len(registers) / lag_s:>13,.0f}{after_s:>15.1f}", flush=True)
        after = sizes(db)
        years = args.meters * (args.days * 48 + len(args.feeders)) / 48 / 365
        total = sum(after.values())
        print(f"database: {total / 2**30:.1f} GiB, {total / years / 2**20:.1f} MiB per meter-year "
              "of half hours")
        for table in sorted(after, key=after.__getitem__, reverse=True)[:6]:
            grown = after[table] - before[table]
            print(f"  {table:24}{after[table] / 2**20:>10,.0f} MiB  (+{grown / 2**20:,.1f} MiB "
                  f"over {len(args.feeders)} half hours of every meter)")
        month = {"period_from": (start + timedelta(days=1)).isoformat(),
                 "period_to": (start + timedelta(days=min(31, args.days))).isoformat()}
        with api(cluster.url) as client:
            for name, make, group_by in (
                    ("a customer's month by day", lambda n: f"/customers/C{n:07d}/usage", "day"),
                    ("a meter's month by day", lambda n: f"/meters/EML{n:07d}/consumption", "day")):
                query = "?" + "&".join(f"{k}={v}" for k, v in {**month, "group_by": group_by}.items())
                times, _ = latencies(client, make, query.replace("+", "%2B"), args.requests,
                                     args.meters)
                p50, p99 = percentiles(times)
                print(f"  API {name:30} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms")
        db.close()
    finally:
        cluster.stop()
    print(f"whole run: {(time.perf_counter() - started) / 60:.1f} min")


if __name__ == "__main__":
    main()
