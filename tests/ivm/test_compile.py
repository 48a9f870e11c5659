"""`st.compile`: graphs from plain query functions, stable names, clear errors naming the line."""

from __future__ import annotations

import cProfile
import inspect
from typing import Any

import pytest

import flows.ivm as st
from tests.ivm import test_seed_meter_reads as seed


def line_of(func: Any, text: str) -> str:
    """``file:line`` of the first line of ``func`` containing ``text``."""
    lines, first = inspect.getsourcelines(func)
    for offset, line in enumerate(lines):
        if text in line:
            return f"{inspect.getsourcefile(func)}:{first + offset}"
    raise AssertionError(f"{text!r} not in {func.__name__}")


def test_compiling_twice_gives_equal_graphs() -> None:
    first, second = st.compile(seed.query), st.compile(seed.query)
    assert first == second and hash(first) == hash(second)
    assert first is not second


def test_nodes_are_named_after_the_query_and_its_variables() -> None:
    graph = st.compile(seed.query)
    names = [node.name for node in graph.nodes]
    assert names == [
        "query.users", "query.meters", "query.reads", "query.join_meters",
        "query.join_meters_flat", "query.join_reads", "query.merged", "query.grouped",
        "query.as_daily", "query.daily_cache",
    ]
    assert [node.name for node in graph.outputs] == ["query.as_daily"]
    assert list(graph.caches) == ["query.daily_cache"]


def test_different_queries_give_different_graphs() -> None:
    def one(a: st.ZSet[int]) -> st.ZSet[int]:
        return st.map(a, f=lambda x: x + 1)

    def other(a: st.ZSet[int]) -> st.ZSet[int]:
        return st.filter(a, f=lambda x: x > 1)

    assert st.compile(one) != st.compile(other)


def uses_if(a: st.ZSet[int]) -> st.ZSet[int]:
    if a:  # unsupported
        return a
    return a


def uses_for(a: st.ZSet[int]) -> st.ZSet[int]:
    for _ in a:  # unsupported
        pass
    return a


def uses_len(a: st.ZSet[int]) -> st.ZSet[int]:
    _ = len(a)  # unsupported  # type: ignore[arg-type]
    return a


def reads_attribute(a: st.ZSet[int]) -> st.ZSet[int]:
    return a.value  # type: ignore[attr-defined, no-any-return]  # unsupported


def raises_inside(a: st.ZSet[int]) -> st.ZSet[int]:
    return st.map(a, f=lambda x: x) + 1  # type: ignore[operator]  # unsupported


@pytest.mark.parametrize("query", [uses_if, uses_for, uses_len, reads_attribute, raises_inside])
def test_unsupported_constructs_name_the_line(query: Any) -> None:
    with pytest.raises(st.CompileError) as error:
        st.compile(query)
    assert line_of(query, "# unsupported") in str(error.value)


def test_parameters_need_zset_annotations() -> None:
    def untyped(a):  # type: ignore[no-untyped-def]
        return a

    def wrong_type(a: list[int]) -> Any:
        return a

    for query in (untyped, wrong_type):
        with pytest.raises(st.CompileError, match=r"parameter 'a' .* st\.ZSet\[ValueType\]"):
            st.compile(query)


def test_must_return_streams() -> None:
    def returns_number(a: st.ZSet[int]) -> Any:
        return 3

    with pytest.raises(st.CompileError, match="must return a stream"):
        st.compile(returns_number)


def test_grouped_result_must_be_flattened() -> None:
    def grouped(a: st.ZSet[int]) -> Any:
        return st.group(a, by=st.Index.identity(int))

    with pytest.raises(st.CompileError, match="flatten"):
        st.compile(grouped)


def test_cache_must_hold_an_integration() -> None:
    cache = st.Cache[int]()

    def query(a: st.ZSet[int]) -> st.ZSet[int]:
        cache[a](lambda z: st.map(z, f=lambda x: x))  # not an integration
        return a

    with pytest.raises(st.CompileError, match=r"st\.integrate"):
        st.compile(query)


def test_operators_outside_compile_are_an_error() -> None:
    with pytest.raises(st.CompileError, match=r"st\.map builds a query graph"):
        st.map(st.ZSetPython({1: 1}), f=str)  # type: ignore[arg-type]


def test_first_n_rejects_negative_n() -> None:
    def query(a: st.ZSet[int]) -> st.ZSet[int]:
        return st.first_n(a, index=st.Index.identity(int), n=-1)

    with pytest.raises(st.CompileError, match="n >= 0"):
        st.compile(query)


def test_index_pick_only_picks_fields() -> None:
    with pytest.raises(TypeError, match="must only pick fields"):
        st.Index.pick(seed.User, lambda u: u.user_id + 1)
    index = st.Index.pick(seed.UserMeterRead, lambda r: (r.user_id, r.meter_id, r.date))
    assert index.names == ("user_id", "meter_id", "date") and index.is_composite


def test_compile_works_under_a_profiler() -> None:
    profiler = cProfile.Profile()
    graph = profiler.runcall(st.compile, seed.query)
    assert graph == st.compile(seed.query)
    assert [node.name for node in graph.nodes][3] == "query.join_meters"
