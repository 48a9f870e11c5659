"""flows.ivm as a drop-in for stepping 0.0.3: its public names, DBSP weights on `iteration`,
caches that compare as Z-sets, Z-set values in every store. The examples follow stepping's
documentation (our own copies, not its source)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

import flows.ivm as st
from tests.ivm.stores import StoreMaker

# stepping 0.0.3's public names (its `stepping/__init__.py`).
STEPPING_NAMES = {
    "Cache", "ConnPostgres", "ConnSQLite", "Data", "Empty", "Graph", "Index", "Pair", "Store",
    "StorePostgres", "StorePython", "StoreSQL", "StoreSQLite", "Time", "ZSet", "ZSetPostgres",
    "ZSetPython", "ZSetSQLite", "actions", "add", "add3", "at_compile_time", "batched",
    "compile", "compile_lazy", "compile_typeof", "connection_postgres", "connection_sqlite",
    "count", "delay", "delay_indexed", "differentiate", "distinct", "filter", "first_n",
    "flatten", "group", "group_reduce_flatten", "haitch", "identity_print", "integrate",
    "integrate_delay", "integrate_indexed", "iteration", "join", "make_scalar", "make_set",
    "map", "map_many", "neg", "outer_join", "per_group", "reduce", "transitive_closure",
    "write_png",
}
KINDS = ["python", "sqlite", "postgres"]


def stores(request: pytest.FixtureRequest, kind: str) -> StoreMaker:
    maker: StoreMaker = request.getfixturevalue(f"{kind}_stores")
    return maker


def test_every_public_name_of_stepping_is_here() -> None:
    assert STEPPING_NAMES <= set(st.__all__)
    assert all(hasattr(st, name) for name in STEPPING_NAMES)


def scalars(a: st.ZSet[int]) -> tuple[st.ZSet[int], st.ZSet[int]]:
    scalar = st.make_scalar(a, zero=int)
    return st.make_set(scalar), st.make_set(st.delay(st.delay(scalar)))


@pytest.mark.parametrize("kind", KINDS)
def test_scalar_streams_one_value_per_iteration(request: pytest.FixtureRequest, kind: str) -> None:
    graph = st.compile(scalars)
    maker = stores(request, kind)
    store = maker.new(graph)

    def call(*values: int) -> list[dict[int, int]]:
        (numbers,) = st.actions(store, graph)
        return [z.to_dict() for z in numbers.insert(*values)]

    assert call(5) == [{5: 1}, {0: 1}]  # a delay of a scalar starts at zero()
    assert call(7) == [{7: 1}, {0: 1}]
    with pytest.raises(st.IvmError, match=r"make_scalar .* one value with count 1.*got \{1: 1, 2: 1\}"):
        call(1, 2)
    store = maker.reopen(graph) or store  # the delays' values are stored
    idle = [z.to_dict() for z in st.iteration(store, graph, (st.ZSetPython(),))]
    assert idle == [{0: 1}, {5: 1}]  # no change: zero(); the failed call changed nothing
    assert call(3) == [{3: 1}, {7: 1}]


def test_scalar_streams_go_only_to_make_set_and_delay() -> None:
    def mapped(a: st.ZSet[int]) -> st.ZSet[int]:
        return st.map(st.make_scalar(a, zero=int), f=lambda x: x)  # type: ignore[arg-type]

    def returned(a: st.ZSet[int]) -> int:
        return st.make_scalar(a, zero=int)

    def set_of_zset(a: st.ZSet[int]) -> st.ZSet[st.ZSet[int]]:
        return st.make_set(a)

    with pytest.raises(st.CompileError, match=r"st\.map got a scalar stream"):
        st.compile(mapped)
    with pytest.raises(st.CompileError, match=r"return st\.make_set\(scalar\)"):
        st.compile(returned)
    def in_groups(a: st.ZSet[int]) -> st.ZSet[Any]:
        grouped = st.group(a, by=st.Index.identity(int))
        return st.flatten(st.per_group[grouped](
            lambda g: st.make_set(st.make_scalar(g, zero=int))))

    with pytest.raises(st.CompileError, match=r"st\.make_set takes a scalar stream"):
        st.compile(set_of_zset)
    with pytest.raises(st.CompileError, match=r"not inside st\.per_group"):
        st.compile(in_groups)


class Row(st.Data):
    k: int
    v: int


by_k = st.Index.pick(Row, lambda r: r.k)
rows_cache = st.Cache[Row]()


def integrated(a: st.ZSet[str]) -> st.ZSet[str]:
    return st.integrate(a)


@pytest.mark.parametrize("kind", KINDS)
def test_iteration_takes_any_weights_and_actions_keep_their_checks(
        request: pytest.FixtureRequest, kind: str) -> None:
    graph = st.compile(integrated)
    store = stores(request, kind).new(graph)
    (out,) = st.iteration(store, graph, (st.ZSetPython({"b": -1}),))
    assert list(out.iter()) == [("b", -1)]  # DBSP: a Z-set, negative weights and all
    (out,) = st.iteration(store, g=graph, inputs=(st.ZSetPython({"b": 2, "c": 1}),))
    assert out == st.ZSetPython({"b": 1, "c": 1})
    (action,) = st.actions(store, g=graph)
    with pytest.raises(st.RemoveError, match="cannot remove 'd'"):
        action.remove("d")  # an action refuses to remove what the input does not hold


def cached(a: st.ZSet[Row]) -> st.ZSet[Row]:
    rows_cache[a](lambda z: st.integrate_indexed(z, indexes=(by_k,)))
    return st.distinct(a)


@pytest.mark.parametrize("kind", KINDS)
def test_a_cache_is_a_zset_like_any_other(request: pytest.FixtureRequest, kind: str) -> None:
    graph = st.compile(cached)
    store = stores(request, kind).new(graph)
    (action,) = st.actions(store, graph)
    action.insert(Row(k=1, v=10), Row(k=2, v=20), Row(k=1, v=10))
    zset = rows_cache.zset(store)
    expected = st.ZSetPython({Row(k=1, v=10): 2, Row(k=2, v=20): 1})
    assert zset == expected and expected == zset and zset.to_python() == expected
    assert zset != st.ZSetPython({Row(k=1, v=10): 1})
    expected_type = {"python": st.CachedZSet, "sqlite": st.ZSetSQLite,
                     "postgres": st.ZSetPostgres}[kind]
    assert isinstance(zset, expected_type)
    shown = str(zset).splitlines()
    assert shown[0] == f"<{type(zset).__name__}>"
    assert [cell.strip() for cell in shown[2].split("│")[1:-1]] == ["_count_", "k", "v"]
    assert sorted(line.split("│")[1].strip() for line in shown[4:-1]) == ["1", "2"]


def distinct_by_haitch(a: st.ZSet[int]) -> tuple[st.ZSet[int], st.ZSet[int]]:
    return st.haitch(st.integrate_delay(a), a), st.distinct(a)


@pytest.mark.parametrize("kind", KINDS)
def test_haitch_of_the_integral_is_distinct(request: pytest.FixtureRequest, kind: str) -> None:
    graph = st.compile(distinct_by_haitch)
    store = stores(request, kind).new(graph)
    (action,) = st.actions(store, graph)
    for step in ([1, 1, 2], [3], [1], [2, 3]):
        by_haitch, by_distinct = action.insert(*step)
        assert by_haitch == by_distinct
    for step in ([1], [1, 1], [2, 3], [3, 2]):
        by_haitch, by_distinct = action.remove(*step)
        assert by_haitch == by_distinct
    assert by_haitch == st.ZSetPython({2: -1, 3: -1})


def linear_helpers(a: st.ZSet[int], b: st.ZSet[int], c: st.ZSet[int]) -> tuple[
        st.ZSet[int], st.ZSet[int], st.ZSet[int]]:
    with st.at_compile_time:
        assert st.compile_typeof(a) == st.ZSet[int]
    summed = st.add3(a, b, st.identity_print(c))
    return summed, st.integrate_delay(summed), st.delay_indexed(summed, indexes=())


def test_linear_helpers(capsys: pytest.CaptureFixture[str]) -> None:
    lazy = st.compile_lazy(linear_helpers)
    assert capsys.readouterr().out == ""  # compiled on first use, not before
    graph = lazy()
    assert "Stream" in capsys.readouterr().out and lazy() is graph
    store = st.StorePython.from_graph(graph)
    inputs = (st.ZSetPython({1: 1}), st.ZSetPython({2: 1}), st.ZSetPython({3: 1}))
    summed, before, delayed = st.iteration(store, graph, inputs)
    assert summed == st.ZSetPython({1: 1, 2: 1, 3: 1}) and before == st.ZSetPython()
    summed, before, delayed = st.iteration(store, graph, (st.ZSetPython({1: 1}), *inputs[1:]))
    assert before == st.ZSetPython({1: 1, 2: 1, 3: 1}) == delayed
    assert list(st.batched(range(5), 2)) == [[0, 1], [2, 3], [4]]


def test_connections_take_steppings_parameter_names(tmp_path: Path) -> None:
    conn: st.ConnSQLite = st.connection_sqlite(db_url=tmp_path / "s.db")
    store = st.StoreSQLite.from_graph(conn, st.compile(integrated), create_tables=True)
    assert isinstance(store, st.StoreSQL) and isinstance(conn, sqlite3.Connection)


def zset_values(a: st.ZSet[st.ZSetPython[int]]) -> st.ZSet[st.ZSetPython[int]]:
    return st.integrate(a)


def test_equal_zset_values_are_one_row_whatever_their_order(tmp_path: Path) -> None:
    conn = st.connection_sqlite(tmp_path / "z.db")
    graph = st.compile(zset_values)
    store = st.StoreSQLite.from_graph(conn, graph, create_tables=True)
    (action,) = st.actions(store, graph)
    action.insert(st.ZSetPython({1: 1, 2: -1}), st.ZSetPython({2: -1, 1: 1}))
    tables = [name for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'zset_values%'")]
    rows: list[Any] = []
    for table in tables:
        rows += conn.execute(f"SELECT value, count FROM {table}").fetchall()
    assert ('{"$zset":[[1,1],[2,-1]]}', 2) in rows


def test_write_png_draws_the_query(tmp_path: Path) -> None:
    target = tmp_path / "drawn" / "query.png"
    st.write_png(st.compile(distinct_by_haitch), str(target))
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
