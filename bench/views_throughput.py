"""Benchmark: profile-log half hours through the usage views, and one late day for one meter
against recomputing the daily table with SQL GROUP BY.

    python bench/views_throughput.py [--meters 1000] [--days 90] [--store sqlite|postgres]

Single-element meters, each linked to a customer; every half hour of every day is written to
`register_profile_hh` first (as the collector would), then `flows.views.update` applies them.
The late day: one meter's values for one day are held back, applied after everything else.
A sync: then the next half hour of every meter (each written in its own transaction).
The rebuild: `flows views rebuild` from the tables, against the GROUP BY.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flows.db import Database, connect, customers, history, migrate, registry
from flows.views import update

START = datetime(2025, 1, 1, tzinfo=UTC)
HALF_HOUR = timedelta(minutes=30)
RECOMPUTE_SQL = {
    "sqlite": (
        # SQLite has no time zones: the local day is the last local_days row starting at or
        # before the interval (an index seek per interval, not a range join).
        "SELECT c.customer_id, r.meter_id, (SELECT d.day FROM local_days d "
        "WHERE d.start_utc <= i.timestamp ORDER BY d.start_utc DESC LIMIT 1) AS day, "
        "sum(i.wh) AS wh FROM register_interval_hh i "
        "JOIN meter_registers r ON r.register_id = i.register_id "
        "JOIN customer_meters c ON c.meter_id = r.meter_id AND i.timestamp >= c.valid_from "
        "AND (c.valid_to IS NULL OR i.timestamp < c.valid_to) "
        "WHERE i.flags = '' GROUP BY 1, 2, 3"),
    "postgres": (
        "SELECT c.customer_id, r.meter_id, (i.timestamp AT TIME ZONE 'Europe/London')::date AS day, "
        "sum(i.wh) AS wh FROM register_interval_hh i "
        "JOIN meter_registers r ON r.register_id = i.register_id "
        "JOIN customer_meters c ON c.meter_id = r.meter_id AND i.timestamp >= c.valid_from "
        "AND (c.valid_to IS NULL OR i.timestamp < c.valid_to) "
        "WHERE i.flags = '' GROUP BY 1, 2, 3"),
}


@contextlib.contextmanager
def database(kind: str, directory: Path) -> Iterator[Database]:
    if kind == "sqlite":
        db = connect(f"sqlite:///{directory / 'views.db'}")
        migrate(db)
        yield db
        return
    from flows.devtools.postgres import TemporaryCluster

    cluster = TemporaryCluster()
    try:
        db = connect(cluster.url)
        migrate(db)
        yield db
        db.close()
    finally:
        cluster.stop()


Row = tuple[Any, datetime, int, int]


def fill(db: Database, meters: int, days: int, late_meter: str, late_day: datetime,
         values: list[list[Row]]) -> list[Row]:
    """Register the meters; every half hour of each (but the late day of one meter, returned)
    goes to ``values``."""
    held_back: list[Row] = []
    for n in range(meters):
        serial = f"EML{n:06d}"
        registry.add_meter(db, serial, f"10.{n // 65536}.{n // 256 % 256}.{n % 256}", "B1.w", None)
        customers.add_customer(db, f"C{n}")
        customers.link_meter(db, f"C{n}", serial, START)
        register = registry.register_id(db, serial)
        rows: list[Row] = []
        for half_hour in range(days * 48 + 1):
            stamp = START + half_hour * HALF_HOUR
            row = (register, stamp, 100_000 + half_hour * (50 + n % 7), 0)
            if serial == late_meter and late_day <= stamp < late_day + timedelta(days=1):
                held_back.append(row)
            else:
                rows.append(row)
        values.append(rows)
    return held_back


def write_values(db: Database, values: list[list[Row]], meters_per_transaction: int
                 ) -> float:
    """Write the values with `history.append_profile_values` (as the collector does), the
    values of this many meters in each transaction; rows per second."""
    started = time.perf_counter()
    for first in range(0, len(values), meters_per_transaction):
        rows = [row for meter in values[first:first + meters_per_transaction] for row in meter]
        with db.transaction():
            history.append_profile_values(db, rows)
    return sum(len(rows) for rows in values) / (time.perf_counter() - started)


def check_against_views(db: Database, recomputed: list[dict[str, Any]]) -> None:
    """The views' customer days must equal the SQL recomputation, row for row."""
    expected = {(row["customer_id"], str(row["meter_id"]), str(row["day"])): int(row["wh"])
                for row in recomputed}
    actual = {(row["customer_id"], str(row["meter_id"]), str(row["day"])): int(row["wh"])
              for row in db.query("SELECT customer_id, meter_id, day, wh FROM "
                                  "usage_customer_daily WHERE direction = 'import'")}
    if actual != expected:
        raise SystemExit(f"views differ from the SQL recomputation: {len(actual)} vs "
                         f"{len(expected)} days")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--batch", type=int, default=20_000)
    args = parser.parse_args()
    late_day = START + timedelta(days=args.days // 2)
    with tempfile.TemporaryDirectory() as tmp, database(args.store, Path(tmp)) as db:
        values: list[list[Row]] = []
        held_back = fill(db, args.meters, args.days, "EML000000", late_day, values)
        # Half the meters one transaction each (a collector's sync), half 50 to a transaction
        # (a bulk import).
        half = len(values) // 2
        per_meter = write_values(db, values[:half], 1)
        in_bulk = write_values(db, values[half:], 50)
        started = time.perf_counter()
        summary = update(db, batch=args.batch)
        applied = time.perf_counter() - started
        intervals = db.query("SELECT count(*) AS n FROM register_interval_hh")[0]["n"]
        with db.transaction():
            history.append_profile_values(db, held_back)
        started = time.perf_counter()
        update(db)
        late = time.perf_counter() - started
        # A fleet's sync: the next half hour of every meter, each meter in its own transaction.
        sync = [(register, stamp + HALF_HOUR, wh + 60, status)
                for register, stamp, wh, status in (rows[-1] for rows in values)]
        for row in sync:
            with db.transaction():
                history.append_profile_values(db, [row])
        started = time.perf_counter()
        update(db)
        synced = time.perf_counter() - started
        started = time.perf_counter()
        recomputed = db.query(RECOMPUTE_SQL[db.engine])
        recompute = time.perf_counter() - started
        check_against_views(db, recomputed)
        started = time.perf_counter()
        update(db, rebuild=True)
        rebuilt = time.perf_counter() - started
        check_against_views(db, recomputed)
        print(f"views on {args.store}: {args.meters} meters x {args.days} days "
              f"({summary.changes:,} profile values, {intervals:,} intervals)")
        print(f"{'profile values written per second, by meter':50}{per_meter:>10,.0f}")
        print(f"{'profile values written per second, in bulk':50}{in_bulk:>10,.0f}")
        print(f"{'views update, s':50}{applied:>10.1f}")
        print(f"{'intervals per second':50}{intervals / applied:>10,.0f}")
        print(f"{'one late day for one meter, ms':50}{1000 * late:>10.1f}")
        print(f"{'the next half hour of every meter (a sync), ms':50}{1000 * synced:>10.1f}")
        print(f"{'recompute daily table with SQL GROUP BY, ms':50}{1000 * recompute:>10.1f}")
        print(f"{'ratio':50}{recompute / late:>9.1f}x")
        print(f"{'views rebuild from the tables, s':50}{rebuilt:>10.1f}")
        print(f"{'rebuild / SQL GROUP BY':50}{rebuilt / recompute:>9.1f}x")


if __name__ == "__main__":
    main()
