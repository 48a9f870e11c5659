"""Benchmark: the seed's daily-usage query (users ⋈ meters ⋈ half-hourly reads → daily sum).

Runs on ``flows.ivm`` (``--store python``) and, with ``--vs-stepping``, on the ``stepping``
package from PyPI in a separate virtual environment (``bench/.venv-stepping``) with identical
data, then prints both side by side.

    python bench/ivm_meter_reads.py --store python --vs-stepping

This file must import under both engines: it only imports ``flows`` when asked to run it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
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


def make_data(
    n_meters: int, n_reads: int
) -> tuple[list[User], list[Meter], list[HalfHourlyMeterRead]]:
    users = [User(user_id=i, name=f"user {i}") for i in range(n_meters)]
    meters = [Meter(meter_id=UUID(int=i + 1), user_id=i) for i in range(n_meters)]
    start = datetime(2023, 1, 1)
    # Time order: each batch of n_meters reads is one half hour across the whole fleet.
    reads = [
        HalfHourlyMeterRead(
            meter_id=UUID(int=(n % n_meters) + 1),
            timestamp=start + timedelta(minutes=30 * (n // n_meters)),
            value=float((n * 7) % 13) * 0.25,
        )
        for n in range(n_reads)
    ]
    return users, meters, reads


def run(n_meters: int, n_reads: int, batch: int) -> dict[str, Any]:
    users, meters, reads = make_data(n_meters, n_reads)
    graph = st.compile(query)
    store = st.StorePython.from_graph(graph)
    i_users, i_meters, i_reads = st.actions(store, graph)

    started = time.perf_counter()
    i_users.insert(*users)
    i_meters.insert(*meters)
    registry_s = time.perf_counter() - started

    started = time.perf_counter()
    for offset in range(0, len(reads), batch):
        i_reads.insert(*reads[offset : offset + batch])
    reads_s = time.perf_counter() - started

    some_day = reads[0].timestamp.date()
    rows = list(daily_cache.zset(store).iter_by_index(index_daily, frozenset((some_day,))))
    total = sum(row[1].value for row in rows)
    return {
        "engine": ENGINE,
        "reads": len(reads),
        "registry_s": registry_s,
        "reads_s": reads_s,
        "reads_per_s": len(reads) / reads_s,
        "rows_day_1": len(rows),
        "total_day_1": total,
    }


def ensure_stepping_venv() -> Path:
    python = STEPPING_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(STEPPING_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"stepping=={STEPPING_VERSION}"],
            check=True,
        )
    return python


def run_stepping(n_meters: int, n_reads: int, batch: int) -> dict[str, Any]:
    python = ensure_stepping_venv()
    completed = subprocess.run(
        [str(python), __file__, "--json", "--meters", str(n_meters), "--reads", str(n_reads),
         "--batch", str(batch)],
        env={**os.environ, "BENCH_ENGINE": "stepping"},
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["python"], default="python")
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--reads", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--vs-stepping", action="store_true")
    parser.add_argument("--json", action="store_true", help="print one JSON line (internal)")
    args = parser.parse_args()

    result = run(args.meters, args.reads, args.batch)
    if args.json:
        print(json.dumps(result))
        return
    results = [result]
    if args.vs_stepping:
        results.append(run_stepping(args.meters, args.reads, args.batch))
    print(f"seed query, store={args.store}: {args.meters} users, {args.meters} meters, "
          f"{args.reads} reads in batches of {args.batch}")
    print(f"{'engine':<10} {'registry s':>10} {'reads s':>9} {'reads/s':>10} {'day-1 rows':>10}")
    for r in results:
        print(f"{r['engine']:<10} {r['registry_s']:>10.2f} {r['reads_s']:>9.2f} "
              f"{r['reads_per_s']:>10,.0f} {r['rows_day_1']:>10}")
    if len(results) == 2:
        if results[0]["total_day_1"] != results[1]["total_day_1"]:
            sys.exit(f"engines disagree: {results[0]['total_day_1']} != {results[1]['total_day_1']}")
        print(f"flows.ivm / stepping: {results[0]['reads_per_s'] / results[1]['reads_per_s']:.1f}x")


if __name__ == "__main__":
    main()
