"""Recursion written by hand (a stream declared first, closed through st.delay): what compiles,
what is refused and how, and a loop that never settles. Its results against the reference
evaluator are in test_properties (reachability, fewest hops) on every store."""

from __future__ import annotations

import pytest

import flows.ivm as st
from flows.ivm.recursion import MAX_ROUNDS


def test_a_loop_that_never_settles_is_an_error_and_changes_nothing() -> None:
    def grows(a: st.ZSet[int]) -> st.ZSet[int]:
        delayed: st.ZSet[int]
        added = st.add(a, delayed)  # stepping's integrate, by hand: it adds a every round  # noqa: F821 - declared above, assigned below (a loop)
        delayed = st.delay(added)
        return added

    graph = st.compile(grows)
    store = st.StorePython.from_graph(graph)
    (action,) = st.actions(store, graph)
    with pytest.raises(st.IvmError, match=f"fixed point within {MAX_ROUNDS:,} rounds"):
        action.insert(1)
    with pytest.raises(st.RemoveError):
        action.remove(1)  # the failed iteration stored nothing


def test_a_query_local_to_a_function_with_closures_compiles() -> None:
    limit = 3
    up_to_limit = st.Index.pick(st.Pair[int, int], lambda p: p.right)

    def counting(a: st.ZSet[st.Pair[int, int]]) -> st.ZSet[st.Pair[int, int]]:
        delayed: st.ZSet[st.Pair[int, int]]
        nexts = st.filter(st.map(delayed, f=lambda p: st.Pair(p.left, p.right + 1)),  # noqa: F821 - declared above, assigned below (a loop)
                          f=lambda p: p.right <= limit)
        counted = st.distinct(st.add(a, nexts))
        delayed = st.delay(counted)
        first = st.first_n(counted, index=up_to_limit, n=1)
        return first

    graph = st.compile(counting)
    (action,) = st.actions(st.StorePython.from_graph(graph), graph)
    (first,) = action.insert(st.Pair(7, 1))
    assert first == st.ZSetPython({st.Pair(7, 1): 1})


def test_a_declared_stream_must_be_closed_through_a_delay() -> None:
    def never_assigned(a: st.ZSet[int]) -> st.ZSet[int]:
        delayed: st.ZSet[int]
        return st.add(a, delayed)  # noqa: F821 - declared above, assigned below (a loop)

    with pytest.raises(st.CompileError, match="'delayed' is declared but never assigned"):
        st.compile(never_assigned)

    def not_a_delay(a: st.ZSet[int]) -> st.ZSet[int]:
        delayed: st.ZSet[int]
        added = st.distinct(st.add(a, delayed))  # noqa: F821 - declared above, assigned below (a loop)
        delayed = st.map(added, f=lambda x: x)
        return added

    with pytest.raises(st.CompileError, match=r"must be assigned st\.delay"):
        st.compile(not_a_delay)

    def integrates_inside(a: st.ZSet[int]) -> st.ZSet[int]:
        delayed: st.ZSet[int]
        added = st.distinct(st.integrate(st.add(a, delayed)))  # noqa: F821 - declared above, assigned below (a loop)
        delayed = st.delay(added)
        return added

    with pytest.raises(st.CompileError, match=r"st\.integrate inside a recursive loop"):
        st.compile(integrates_inside)
