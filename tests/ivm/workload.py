"""A small daily-usage query and a worker process for the crash and concurrency tests.

    python -m tests.ivm.workload KIND TARGET insert START COUNT BATCH [1]
    python -m tests.ivm.workload KIND TARGET block

``insert`` adds reads START..START+COUNT-1 in iterations of BATCH reads, printing
``committed N`` after each commit; with a final ``1`` it first prints ``ready`` and waits for
a line on stdin. ``block`` starts an iteration whose user function then
waits forever (on stdin), so the parent can kill the process mid-iteration.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable

import flows.ivm as st


class Read(st.Data):
    meter: int
    day: int
    wh: int


class Daily(st.Data):
    meter: int
    day: int
    wh: int


BLOCKING_WH = -1
by_day = st.Index.pick(Daily, lambda d: d.day)
daily_cache = st.Cache[Daily]()


def checked(read: Read) -> Read:
    if read.wh == BLOCKING_WH:
        print("inside", flush=True)
        sys.stdin.read()  # blocks until the parent kills this process
    return read


def to_daily(p: st.Pair[int, tuple[int, int]]) -> Daily:
    return Daily(meter=p.right[0], day=p.right[1], wh=p.left)


def pick_wh(read: Read) -> int:
    return read.wh


def daily_usage(reads: st.ZSet[Read]) -> st.ZSet[Daily]:
    valid = st.map(reads, f=checked)
    totals = st.group_reduce_flatten(valid, by=st.Index.pick(Read, lambda r: (r.meter, r.day)),
                                     zero=int, pick_value=pick_wh)
    daily = st.map(totals, f=to_daily)
    daily_cache[daily](lambda a: st.integrate_indexed(a, indexes=(by_day,)))
    return daily


def make_reads(start: int, count: int) -> list[Read]:
    """Deterministic reads; read n goes to meter n % 7, day n % 5 (so writers share groups)."""
    return [Read(meter=n % 7, day=n % 5, wh=n) for n in range(start, start + count)]


def expected_daily(reads: Iterable[Read]) -> dict[Daily, int]:
    totals: Counter[tuple[int, int]] = Counter()
    for read in reads:
        totals[(read.meter, read.day)] += read.wh
    return {Daily(meter=m, day=d, wh=wh): 1 for (m, d), wh in totals.items()}


def open_store(kind: str, target: str, create: bool = False) -> st.Store:
    graph = st.compile(daily_usage)
    if kind == "sqlite":
        return st.StoreSQLite.from_graph(st.connection_sqlite(target), graph, create_tables=create)
    return st.StorePostgres.from_graph(st.connection_postgres(target), graph, create_tables=create)


def main() -> None:
    kind, target, mode, *args = sys.argv[1:]
    store = open_store(kind, target)
    (i_reads,) = st.actions(store, st.compile(daily_usage))
    if mode == "block":
        i_reads.insert(*make_reads(10_000, 50), Read(meter=0, day=0, wh=BLOCKING_WH))
        return
    start, count, batch, *wait = map(int, args)
    if wait:  # a start barrier, so that several writers really run at the same time
        print("ready", flush=True)
        sys.stdin.readline()
    done = 0
    for offset in range(start, start + count, batch):
        size = min(batch, start + count - offset)
        i_reads.insert(*make_reads(offset, size))
        done += size
        print(f"committed {done}", flush=True)


if __name__ == "__main__":
    main()
