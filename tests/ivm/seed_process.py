"""Run as ``python -m tests.ivm.seed_process sqlite|postgres TARGET [remove]``: opens the seed's
store from another process (``create_tables=False``), optionally removes the seed's third read,
and prints the cache rows for 2023-01-02 and 2023-01-03 as JSON lines."""

from __future__ import annotations

import json
import sys
from datetime import date

import flows.ivm as st
from tests.ivm import test_seed_meter_reads as seed


def main() -> None:
    kind, target, *rest = sys.argv[1:]
    graph = st.compile(seed.query)
    if kind == "sqlite":
        store: st.Store = st.StoreSQLite.from_graph(st.connection_sqlite(target), graph,
                                                    create_tables=False)
    else:
        store = st.StorePostgres.from_graph(st.connection_postgres(target), graph,
                                            create_tables=False)
    if rest == ["remove"]:
        _, _, i_reads = st.actions(store, graph)
        i_reads.remove(seed.half_hourly_reads_1[2])
    days = frozenset((date(2023, 1, 2), date(2023, 1, 3)))
    for day, usage, count in seed.daily_cache.zset(store).iter_by_index(seed.index_daily, days):
        print(json.dumps([day.isoformat(), usage.value, count]))


if __name__ == "__main__":
    main()
