"""flows.ivm: incremental view maintenance (DBSP) with the `stepping` API.

    import flows.ivm as st

    graph = st.compile(query)
    store = st.StorePython.from_graph(graph)
    i_users, i_reads = st.actions(store, graph)
    i_reads.insert(read)          # one iteration: returns the output changes

This package imports nothing else from `flows`, so it can be used on its own.
"""

from flows.ivm.cache import Cache
from flows.ivm.compile import (
    at_compile_time,
    compile,  # noqa: A004 - stepping's name
    compile_lazy,
    compile_typeof,
)
from flows.ivm.data import EMPTY, Data, Empty, Pair
from flows.ivm.draw import write_png
from flows.ivm.errors import CompileError, InputTypeError, IvmError, RemoveError, StoreError
from flows.ivm.graph import Graph
from flows.ivm.index import Index
from flows.ivm.operators import (
    Grouped,
    add,
    add3,
    count,
    delay,
    delay_indexed,
    differentiate,
    distinct,
    filter,  # noqa: A004 - stepping's name
    first_n,
    flatten,
    group,
    group_reduce_flatten,
    haitch,
    identity_print,
    integrate,
    integrate_delay,
    integrate_indexed,
    join,
    make_scalar,
    make_set,
    map,  # noqa: A004 - stepping's name
    map_many,
    neg,
    outer_join,
    per_group,
    reduce,
    transitive_closure,
)
from flows.ivm.run import Action, Time, actions, batched, iteration
from flows.ivm.sql.postgres import ConnPostgres, StorePostgres, ZSetPostgres, connection_postgres
from flows.ivm.sql.sqlite import ConnSQLite, StoreSQLite, ZSetSQLite, connection_sqlite
from flows.ivm.sql.store import SqlStore as StoreSQL
from flows.ivm.store import CachedZSet, Store, StorePython
from flows.ivm.zset import MATCH_ALL, ZSet, ZSetPython

__all__ = [
    "EMPTY", "MATCH_ALL", "Action", "Cache", "CachedZSet", "CompileError", "ConnPostgres",
    "ConnSQLite", "Data", "Empty", "Graph", "Grouped", "Index", "InputTypeError", "IvmError",
    "Pair", "RemoveError", "Store", "StoreError", "StorePostgres", "StorePython", "StoreSQL",
    "StoreSQLite", "Time", "ZSet", "ZSetPostgres", "ZSetPython", "ZSetSQLite", "actions", "add",
    "add3", "at_compile_time", "batched", "compile", "compile_lazy", "compile_typeof",
    "connection_postgres", "connection_sqlite", "count", "delay", "delay_indexed",
    "differentiate", "distinct", "filter", "first_n", "flatten", "group", "group_reduce_flatten",
    "haitch", "identity_print", "integrate", "integrate_delay", "integrate_indexed",
    "iteration", "join", "make_scalar", "make_set", "map", "map_many", "neg", "outer_join",
    "per_group", "reduce", "transitive_closure", "write_png",
]
