"""Benchmark: the seed's daily-usage query (users ⋈ meters ⋈ half-hourly reads → daily sum).

Runs on ``flows.ivm`` and, with ``--vs-stepping``, on the ``stepping`` package from PyPI (in a
separate virtual environment, ``bench/.venv-stepping``) with identical data, side by side:

    python bench/ivm_meter_reads.py --store python|sqlite|postgres [--vs-stepping]

Scenarios, each on a fresh store: reads in time order (a batch of 1,000 is one half hour across
the fleet, touching 1,000 daily groups) and in meter order, in batches of 1,000; one read per
call; a 48-read batch after 0, half and all reads are stored; removing and replacing one read;
``iter_by_index`` for one date; store size on disk. PostgreSQL runs on
``--postgres-url``/``FLOWS_BENCH_DATABASE_URL``, or on a throwaway local cluster.

This file must import under both engines (stepping's venv has no flows).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

ENGINE = os.environ.get("BENCH_ENGINE", "flows")
if ENGINE == "stepping":
    import stepping as st
else:
    import flows.ivm as st  # type: ignore[no-redef]

STEPPING_VERSION = "0.0.3"
BENCH_DIR = Path(__file__).resolve().parent
STEPPING_VENV = BENCH_DIR / ".venv-stepping"


class User(st.Data):
    user_id: int
    name: str


class Meter(st.Data):
    meter_id: UUID
    user_id: int


class HalfHourlyMeterRead(st.Data):
    meter_id: UUID
    timestamp: datetime
    value: float


class UserMeter(User, Meter): ...


class UserMeterRead(User, Meter, HalfHourlyMeterRead):
    date: date


class DailyUsage(st.Data):
    user_id: int
    meter_id: UUID
    date: date
    value: float


def make_user_meter(p: st.Pair[User, Meter]) -> UserMeter:
    return UserMeter(user_id=p.left.user_id, name=p.left.name, meter_id=p.right.meter_id)


def with_date(p: st.Pair[UserMeter, HalfHourlyMeterRead]) -> UserMeterRead:
    return UserMeterRead(
        user_id=p.left.user_id,
        name=p.left.name,
        meter_id=p.left.meter_id,
        timestamp=p.right.timestamp,
        value=p.right.value,
        date=p.right.timestamp.date(),
    )


def to_daily(p: st.Pair[float, tuple[int, UUID, date]]) -> DailyUsage:
    user_id, meter_id, day = p.right
    return DailyUsage(user_id=user_id, meter_id=meter_id, date=day, value=p.left)


def pick_value(u: UserMeterRead) -> float:
    return u.value


index_daily = st.Index.pick(DailyUsage, lambda d: d.date)
daily_cache = st.Cache[DailyUsage]()


def query(
    users: st.ZSet[User],
    meters: st.ZSet[Meter],
    reads: st.ZSet[HalfHourlyMeterRead],
) -> st.ZSet[DailyUsage]:
    join_meters = st.join(
        users,
        meters,
        on_left=st.Index.pick(User, lambda u: u.user_id),
        on_right=st.Index.pick(Meter, lambda m: m.user_id),
    )
    join_meters_flat = st.map(join_meters, f=make_user_meter)
    join_reads = st.join(
        join_meters_flat,
        reads,
        on_left=st.Index.pick(UserMeter, lambda p: p.meter_id),
        on_right=st.Index.pick(HalfHourlyMeterRead, lambda m: m.meter_id),
    )
    merged = st.map(join_reads, f=with_date)
    grouped = st.group_reduce_flatten(
        merged,
        by=st.Index.pick(UserMeterRead, lambda f: (f.user_id, f.meter_id, f.date)),
        zero=float,
        pick_value=pick_value,
    )
    as_daily = st.map(grouped, f=to_daily)
    _ = daily_cache[as_daily](lambda a: st.integrate_indexed(a, indexes=(index_daily,)))
    return as_daily


def make_registry(n_meters: int) -> tuple[list[User], list[Meter]]:
    users = [User(user_id=i, name=f"user {i}") for i in range(n_meters)]
    meters = [Meter(meter_id=UUID(int=i + 1), user_id=i) for i in range(n_meters)]
    return users, meters


START = datetime(2023, 1, 1)


def make_read(n: int, n_meters: int) -> HalfHourlyMeterRead:
    """Read n in time order: one half hour across the fleet per n_meters reads."""
    return HalfHourlyMeterRead(
        meter_id=UUID(int=(n % n_meters) + 1),
        timestamp=START + timedelta(minutes=30 * (n // n_meters)),
        value=float((n * 7) % 13) * 0.25,
    )


def time_order(n_meters: int, n_reads: int) -> list[HalfHourlyMeterRead]:
    return [make_read(n, n_meters) for n in range(n_reads)]


def meter_order(n_meters: int, n_reads: int) -> list[HalfHourlyMeterRead]:
    return sorted(time_order(n_meters, n_reads), key=lambda r: (r.meter_id, r.timestamp))


def later_reads(n_meters: int, n_reads: int, meter: int, count: int) -> list[HalfHourlyMeterRead]:
    """``count`` reads of one meter after everything in the workload (a day's 48 half hours)."""
    after = START + timedelta(minutes=30 * (n_reads // n_meters + 48 * (meter + 1)))
    return [HalfHourlyMeterRead(meter_id=UUID(int=meter + 1),
                                timestamp=after + timedelta(minutes=30 * i), value=0.5)
            for i in range(count)]


# Stores ----------------------------------------------------------------------------------


def open_store(kind: str, target: str, graph: Any, stack: contextlib.ExitStack) -> Any:
    if kind == "python":
        return st.StorePython.from_graph(graph)
    if ENGINE == "stepping":
        from stepping.zset.sql import postgres as stepping_postgres
        from stepping.zset.sql import sqlite as stepping_sqlite

        if kind == "sqlite":
            conn = stack.enter_context(stepping_sqlite.connection(Path(target)))
            return st.StoreSQLite.from_graph(conn, graph, create_tables=True)
        # stepping keeps one global pool for the first URL it saw: start a new one per store.
        stepping_postgres._pool = None
        conn = stack.enter_context(stepping_postgres.connection(target))
        return st.StorePostgres.from_graph(conn, graph, create_tables=True)
    if kind == "sqlite":
        conn = st.connection_sqlite(target)
        stack.callback(conn.close)
        return st.StoreSQLite.from_graph(conn, graph, create_tables=True)
    conn = st.connection_postgres(target)
    stack.callback(conn.close)
    return st.StorePostgres.from_graph(conn, graph, create_tables=True)


def timed(f: Any) -> float:
    started = time.perf_counter()
    f()
    return time.perf_counter() - started


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# Scenarios: each returns its figures; `targets` gives each one a fresh database. -------


def registered_store(kind: str, target: str, n_meters: int,
                     stack: contextlib.ExitStack) -> tuple[Any, Any]:
    """A fresh store of the seed query holding the users and meters; its reads action."""
    graph = st.compile(query)
    store = open_store(kind, target, graph, stack)
    i_users, i_meters, i_reads = st.actions(store, graph)
    users, meters = make_registry(n_meters)
    i_users.insert(*users)
    i_meters.insert(*meters)
    return store, i_reads


def scenario_time_order(kind: str, target: str, n_meters: int, n_reads: int,
                        batch: int) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        store, i_reads = registered_store(kind, target, n_meters, stack)
        reads = time_order(n_meters, n_reads)
        # The harness's own 100,000 reads live for the whole run: out of the garbage
        # collector's walks (else a full collection over them, ~70 ms, lands in a lookup).
        gc.collect()
        gc.freeze()
        out: dict[str, Any] = {}
        out["batch48_after_0_ms"] = 1000 * timed(
            lambda: i_reads.insert(*later_reads(n_meters, n_reads, 0, 48)))
        elapsed = 0.0
        for offset in range(0, len(reads), batch):
            chunk = reads[offset:offset + batch]
            elapsed += timed(lambda chunk=chunk: i_reads.insert(*chunk))
            if offset + batch == len(reads) // 2:
                out["batch48_after_half_ms"] = 1000 * timed(
                    lambda: i_reads.insert(*later_reads(n_meters, n_reads, 1, 48)))
        out["time_order_reads_per_s"] = len(reads) / elapsed
        out["batch48_after_all_ms"] = 1000 * timed(
            lambda: i_reads.insert(*later_reads(n_meters, n_reads, 2, 48)))
        removes = [1000 * timed(lambda r=reads[n]: i_reads.remove(r)) for n in range(0, 50, 10)]
        replaces = [1000 * timed(lambda r=reads[n]: i_reads.replace(
            r, HalfHourlyMeterRead(meter_id=r.meter_id, timestamp=r.timestamp, value=r.value + 1)))
            for n in range(1, 51, 10)]
        out["remove_one_ms"] = statistics.median(removes)
        out["replace_one_ms"] = statistics.median(replaces)
        day = reads[len(reads) // 2].timestamp.date()
        cache = daily_cache.zset(store)

        def lookup_times() -> tuple[list[float], list[Any]]:
            times, rows = [], []
            for _ in range(60):
                started = time.perf_counter()
                rows = list(cache.iter_by_index(index_daily, frozenset((day,))))
                times.append(1000 * (time.perf_counter() - started))
            return times, rows

        lookups, rows = lookup_times()
        out["lookup_rows"] = len(rows)
        out["lookup_median_ms"] = statistics.median(lookups)
        out["lookup_p99_ms"] = percentile(lookups, 99)
        out["day_total"] = round(sum(row[1].value for row in rows), 6)
        if kind == "postgres":  # as after autovacuum: rewritten rows leave dead versions behind
            import psycopg

            with psycopg.connect(target, autocommit=True) as admin:
                admin.execute("VACUUM ANALYZE")
            out["lookup_vacuumed_median_ms"] = statistics.median(lookup_times()[0])
    return out


def scenario_meter_order(kind: str, target: str, n_meters: int, n_reads: int,
                         batch: int) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        _, i_reads = registered_store(kind, target, n_meters, stack)
        reads = meter_order(n_meters, n_reads)
        elapsed = sum(timed(lambda offset=offset: i_reads.insert(*reads[offset:offset + batch]))
                      for offset in range(0, len(reads), batch))
    return {"meter_order_reads_per_s": len(reads) / elapsed}


def scenario_one_per_call(kind: str, target: str, n_meters: int, n_reads: int,
                          batch: int) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        _, i_reads = registered_store(kind, target, n_meters, stack)
        reads = time_order(n_meters, min(n_reads, 2000))
        samples = [timed(lambda r=r: i_reads.insert(r)) for r in reads]
    return {"one_per_call_reads_per_s": len(samples) / sum(samples),
            "one_per_call_median_ms": 1000 * statistics.median(samples)}


SCENARIOS = {"time": scenario_time_order, "meter": scenario_meter_order,
             "single": scenario_one_per_call}


def run_engine(kind: str, targets: dict[str, str], n_meters: int, n_reads: int,
               batch: int) -> dict[str, Any]:
    """Every scenario on this process's engine; ``targets``: scenario → database."""
    out: dict[str, Any] = {"engine": ENGINE}
    for name, scenario in SCENARIOS.items():
        out.update(scenario(kind, targets.get(name, ""), n_meters, n_reads, batch))
    return out


def run_stepping(kind: str, targets: dict[str, str], n_meters: int, n_reads: int,
                 batch: int) -> dict[str, Any]:
    python = ensure_stepping_venv()
    completed = subprocess.run(
        [str(python), __file__, "--json", "--store", kind, "--targets", json.dumps(targets),
         "--meters", str(n_meters), "--reads", str(n_reads), "--batch", str(batch)],
        env={**os.environ, "BENCH_ENGINE": "stepping"},
        capture_output=True, text=True,
    )
    if completed.returncode != 0:
        sys.exit(f"stepping failed:\n{completed.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def ensure_stepping_venv() -> Path:
    python = STEPPING_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(STEPPING_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"stepping=={STEPPING_VERSION}"],
            check=True,
        )
    return python


# Databases: a fresh one per engine and scenario. --------------------------------------


class Databases:
    def __init__(self, kind: str, postgres_url: str | None) -> None:
        self.kind = kind
        self.stack = contextlib.ExitStack()
        self.directory = Path(self.stack.enter_context(tempfile.TemporaryDirectory()))
        self.server_url = postgres_url
        if kind == "postgres" and not self.server_url:
            from flows.devtools.postgres import TemporaryCluster

            cluster = TemporaryCluster()
            self.stack.callback(cluster.stop)
            self.server_url = cluster.url

    def targets(self, engine: str) -> dict[str, str]:
        return {name: self.new(f"{engine}_{name}") for name in SCENARIOS}

    def new(self, name: str) -> str:
        if self.kind == "sqlite":
            return str(self.directory / f"{name}.db")
        if self.kind == "python":
            return ""
        import psycopg
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        assert self.server_url is not None
        with psycopg.connect(self.server_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS bench_{name}")
            admin.execute(f"CREATE DATABASE bench_{name}")
        params = conninfo_to_dict(self.server_url)
        params["dbname"] = f"bench_{name}"
        return make_conninfo(**params)

    def size_mb(self, target: str) -> float:
        if self.kind == "sqlite":
            # The data, after moving what is still in the write-ahead log into the database
            # (the WAL is a bounded transient: see flows.ivm.sql.sqlite.Checkpointer).
            import sqlite3

            with contextlib.closing(sqlite3.connect(target)) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            files = [Path(target), Path(target + "-wal")]
            return sum(f.stat().st_size for f in files if f.exists()) / 1e6
        if self.kind == "postgres":
            import psycopg

            with psycopg.connect(target) as conn:
                row = conn.execute("SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                                   "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE "
                                   "n.nspname NOT IN ('pg_catalog', 'information_schema') AND "
                                   "c.relkind IN ('r', 'm')").fetchone()
            return float(row[0] or 0) / 1e6 if row else 0.0
        return float("nan")


# Report -----------------------------------------------------------------------------------

ROWS = [
    ("time order, in batches (reads/s)", "time_order_reads_per_s", "{:,.0f}", True),
    ("meter order, in batches (reads/s)", "meter_order_reads_per_s", "{:,.0f}", True),
    ("one read per call (reads/s)", "one_per_call_reads_per_s", "{:,.0f}", True),
    ("one read per call, median (ms)", "one_per_call_median_ms", "{:.2f}", False),
    ("48 reads after 0 stored (ms)", "batch48_after_0_ms", "{:.1f}", False),
    ("48 reads after half stored (ms)", "batch48_after_half_ms", "{:.1f}", False),
    ("48 reads after all stored (ms)", "batch48_after_all_ms", "{:.1f}", False),
    ("remove one read, median (ms)", "remove_one_ms", "{:.2f}", False),
    ("replace one read, median (ms)", "replace_one_ms", "{:.2f}", False),
    ("one date, iter_by_index median (ms)", "lookup_median_ms", "{:.2f}", False),
    ("one date, iter_by_index p99 (ms)", "lookup_p99_ms", "{:.2f}", False),
    ("one date, after VACUUM, median (ms)", "lookup_vacuumed_median_ms", "{:.2f}", False),
    ("rows for one date", "lookup_rows", "{}", None),
    ("store size after all reads (MB)", "size_mb", "{:.1f}", None),
]


def report(kind: str, results: list[dict[str, Any]]) -> str:
    names = [f"{r['engine']} {kind}" for r in results]
    lines = [f"{'':<38}" + "".join(f"{n:>20}" for n in names)
             + (f"{'ratio':>10}" if len(results) == 2 else "")]
    for label, key, fmt, higher_is_better in ROWS:
        values = [r.get(key) for r in results]
        if all(v is None for v in values):
            continue
        cells = "".join(f"{fmt.format(v) if v is not None else '-':>20}" for v in values)
        ratio = ""
        if len(results) == 2 and higher_is_better is not None and all(values):
            first, second = float(values[0]), float(values[1])  # type: ignore[arg-type]
            ratio = f"{(first / second if higher_is_better else second / first):>9.1f}x"
        lines.append(f"{label:<38}{cells}{ratio}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["python", "sqlite", "postgres"], default="python")
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--reads", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--vs-stepping", action="store_true")
    parser.add_argument("--postgres-url", default=os.environ.get("FLOWS_BENCH_DATABASE_URL"))
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--targets", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.json:  # one engine's figures, for the parent process
        targets = json.loads(args.targets)
        print(json.dumps(run_engine(args.store, targets, args.meters, args.reads, args.batch)))
        return

    print(f"seed query on {args.store}: {args.meters} users and meters, {args.reads:,} "
          f"half-hourly reads, batches of {args.batch}", flush=True)
    with contextlib.ExitStack() as stack:
        databases = Databases(args.store, args.postgres_url)
        stack.enter_context(databases.stack)
        results = []
        engines = ["flows", "stepping"] if args.vs_stepping else ["flows"]
        for engine in engines:
            targets = databases.targets(engine)
            run = run_engine if engine == "flows" else run_stepping
            result = run(args.store, targets, args.meters, args.reads, args.batch)
            result["engine"] = "flows.ivm" if engine == "flows" else "stepping"
            result["size_mb"] = databases.size_mb(targets["time"])
            results.append(result)
            print(json.dumps(result), file=sys.stderr, flush=True)  # kept if a later run fails
        print(report(args.store, results))
        if len(results) == 2 and results[0]["day_total"] != results[1]["day_total"]:
            sys.exit(f"engines disagree on one day's total: {results[0]['day_total']} != "
                     f"{results[1]['day_total']}")


if __name__ == "__main__":
    main()
