"""Running graphs on StorePython: actions, failed iterations changing nothing, cache reads."""

from __future__ import annotations

import gc
from datetime import date, datetime
from typing import Any
from uuid import UUID

import pytest

import flows.ivm as st
from tests.ivm import test_seed_meter_reads as seed

METER = UUID(int=1)


def seed_store() -> tuple[st.Graph[Any, Any], st.StorePython, tuple[st.Action[Any], ...]]:
    graph = st.compile(seed.query)
    store = st.StorePython.from_graph(graph)
    actions = st.actions(store, graph)
    users, meters, _ = actions
    users.insert(seed.User(user_id=1, name="oli"))
    meters.insert(seed.Meter(meter_id=METER, user_id=1))
    return graph, store, actions


def read(day: int, hour: int, value: float) -> seed.HalfHourlyMeterRead:
    return seed.HalfHourlyMeterRead(meter_id=METER, timestamp=datetime(2023, 1, day, hour), value=value)


def daily(store: st.StorePython) -> dict[date, float]:
    return {key: value.value for key, value, _ in
            seed.daily_cache.zset(store).iter_by_index(seed.index_daily)}


def test_actions_return_the_output_changes() -> None:
    _, _, (_, _, reads) = seed_store()
    (changes,) = reads.insert(read(1, 1, 2.0), read(1, 2, 3.0))
    assert dict(changes.iter()) == {
        seed.DailyUsage(user_id=1, meter_id=METER, date=date(2023, 1, 1), value=5.0): 1}
    (changes,) = reads.replace(read(1, 1, 2.0), read(1, 1, 4.0))
    assert dict(changes.iter()) == {
        seed.DailyUsage(user_id=1, meter_id=METER, date=date(2023, 1, 1), value=5.0): -1,
        seed.DailyUsage(user_id=1, meter_id=METER, date=date(2023, 1, 1), value=7.0): 1,
    }


def test_removing_an_absent_value_is_an_error_and_changes_nothing() -> None:
    _, store, (_, _, reads) = seed_store()
    reads.insert(read(1, 1, 2.0))
    before = daily(store)
    with pytest.raises(st.RemoveError, match="not present; nothing was changed"):
        reads.remove(read(1, 1, 2.0), read(2, 1, 9.0))
    assert daily(store) == before
    with pytest.raises(st.RemoveError, match="only 1 present, removing 2"):
        reads.remove(read(1, 1, 2.0), read(1, 1, 2.0))
    assert daily(store) == before
    reads.remove(read(1, 1, 2.0))  # still there: the failed calls removed nothing
    assert daily(store) == {}


def test_a_failing_user_function_changes_nothing() -> None:
    class Boom(Exception):
        pass

    def explode_on_negative(x: int) -> int:
        if x < 0:
            raise Boom(x)
        return x

    cache = st.Cache[st.Pair[int, int]]()

    def query(a: st.ZSet[int], b: st.ZSet[int]) -> st.ZSet[st.Pair[int, int]]:
        checked = st.map(b, f=explode_on_negative)
        joined = st.join(a, checked, on_left=st.Index.identity(int), on_right=st.Index.identity(int))
        cache[joined](lambda z: st.integrate(z))
        return joined

    graph = st.compile(query)
    store = st.StorePython.from_graph(graph)
    i_a, i_b = st.actions(store, graph)
    i_a.insert(1, 2, -3)
    i_b.insert(1)
    with pytest.raises(Boom):
        i_b.insert(2, -3)  # 2 reaches the join state before -3 fails
    assert dict(cache.zset(store).iter()) == {st.Pair(1, 1): 1}
    (changes,) = i_b.insert(2)
    assert dict(changes.iter()) == {st.Pair(2, 2): 1}


def test_a_failed_iteration_leaves_no_trace_in_a_groups_rows() -> None:
    # The group remembers the row it last output (to retract that very object); a later
    # kernel failing must not leave the failed iteration's row to be retracted next time.
    def below_100(p: st.Pair[int, int]) -> st.Pair[int, int]:
        if p.left >= 100:
            raise ValueError(p)
        return p

    def query(a: st.ZSet[st.Pair[int, int]]) -> tuple[st.ZSet[Any], st.ZSet[Any]]:
        summed = st.group_reduce_flatten(a, by=st.Index.pick(st.Pair, lambda p: p.left),
                                         zero=int, pick_value=lambda p: p.right)
        return summed, st.map(summed, f=below_100)

    graph = st.compile(query)
    (pairs,) = st.actions(st.StorePython.from_graph(graph), graph)
    pairs.insert(st.Pair(1, 5))
    with pytest.raises(ValueError):
        pairs.insert(st.Pair(1, 200))
    summed, checked = pairs.insert(st.Pair(1, 1))
    assert summed.to_dict() == checked.to_dict() == {st.Pair(5, 1): -1, st.Pair(6, 1): 1}


def test_an_iteration_steps_only_what_its_input_reaches_with_maps_fused() -> None:
    _, store, (_, _, reads) = seed_store()
    runner: Any = store.runner_slot
    stepped = [(kernel.node.name, type(kernel).__name__) for _, kernel, _, _ in runner.schedule((2,))]
    # users ⋈ meters is not stepped for a read; `merged` and `as_daily` (maps) run inside the
    # join and the group they follow; the output is still the map's.
    assert stepped == [("query.reads", "InputKernel"), ("query.join_reads", "JoinKernel"),
                       ("query.grouped", "GroupReduceKernel"),
                       ("query.daily_cache", "IntegrateKernel")]
    (changes,) = reads.insert(read(1, 1, 2.0))
    assert changes.to_dict() == {
        seed.DailyUsage(user_id=1, meter_id=METER, date=date(2023, 1, 1), value=2.0): 1}


def test_the_garbage_collector_pauses_for_an_iteration_only() -> None:
    seen: list[bool] = []

    def note_collector(x: int) -> int:
        if x < 0:
            raise ValueError(x)
        seen.append(gc.isenabled())
        return x

    def query(a: st.ZSet[int]) -> st.ZSet[int]:
        return st.map(a, f=note_collector)

    graph = st.compile(query)
    (numbers,) = st.actions(st.StorePython.from_graph(graph), graph)
    assert gc.isenabled()
    numbers.insert(1)
    with pytest.raises(ValueError):
        numbers.insert(-1)
    assert seen == [False] and gc.isenabled()  # back on, after success and after failure
    gc.disable()
    try:
        numbers.insert(2)
        assert not gc.isenabled()  # a caller's choice to keep it off is kept
    finally:
        gc.enable()


def test_values_repeated_in_an_input_batch_add_up() -> None:
    def query(a: st.ZSet[int]) -> st.ZSet[int]:
        return st.map(a, f=lambda x: x % 2)

    graph = st.compile(query)
    (numbers,) = st.actions(st.StorePython.from_graph(graph), graph)
    (changes,) = numbers.insert(1, 1, 2, 3)
    assert changes.to_dict() == {1: 3, 0: 1}
    (changes,) = numbers.remove(1, 3)
    assert changes.to_dict() == {1: -2}


def test_inputs_are_type_checked() -> None:
    _, _, (users, _, _) = seed_store()
    with pytest.raises(st.InputTypeError, match=r"query\.users.*takes User values"):
        users.insert(seed.Meter(meter_id=METER, user_id=2))  # type: ignore[arg-type]


def test_actions_need_the_stores_graph() -> None:
    def other(a: st.ZSet[int]) -> st.ZSet[int]:
        return a

    graph = st.compile(seed.query)
    store = st.StorePython.from_graph(graph)
    st.actions(store, st.compile(seed.query))  # an equal graph is fine
    with pytest.raises(st.StoreError, match="different shape"):
        st.actions(store, st.compile(other))


def test_iter_by_index_orders_keys_and_filters_them() -> None:
    _, store, (_, _, reads) = seed_store()
    reads.insert(read(3, 1, 1.0), read(1, 1, 2.0), read(2, 1, 3.0))
    zset = seed.daily_cache.zset(store)
    assert [key for key, _, _ in zset.iter_by_index(seed.index_daily)] == [
        date(2023, 1, 1), date(2023, 1, 2), date(2023, 1, 3)]
    assert [key for key, _, _ in zset.iter_by_index(
        seed.index_daily, frozenset({date(2023, 1, 3), date(2023, 1, 1), date(2024, 1, 1)}))] == [
        date(2023, 1, 1), date(2023, 1, 3)]
    assert len(list(zset.iter())) == 3
    with pytest.raises(st.StoreError, match="no index"):
        list(zset.iter_by_index(st.Index.pick(seed.DailyUsage, lambda d: d.user_id)))


def test_descending_and_composite_indexes() -> None:
    class Row(st.Data):
        a: int
        b: str

    by_a_desc_b = st.Index.pick(Row, lambda r: (r.a, r.b), ascending=(False, True))
    cache = st.Cache[Row]()

    def query(rows: st.ZSet[Row]) -> st.ZSet[Row]:
        cache[rows](lambda z: st.integrate_indexed(z, indexes=(by_a_desc_b,)))
        return rows

    graph = st.compile(query)
    store = st.StorePython.from_graph(graph)
    (i_rows,) = st.actions(store, graph)
    i_rows.insert(Row(a=1, b="y"), Row(a=2, b="z"), Row(a=1, b="x"), Row(a=2, b="a"))
    assert [key for key, _, _ in cache.zset(store).iter_by_index(by_a_desc_b)] == [
        (2, "a"), (2, "z"), (1, "x"), (1, "y")]


def test_reduce_and_count_always_have_one_value() -> None:
    def query(a: st.ZSet[int]) -> tuple[st.ZSet[int], st.ZSet[int]]:
        return st.count(a), st.reduce(a, zero=int, pick_value=lambda x: x)

    graph = st.compile(query)
    store = st.StorePython.from_graph(graph)
    (i_a,) = st.actions(store, graph)
    counted, summed = i_a.insert()
    assert dict(counted.iter()) == {0: 1} and dict(summed.iter()) == {0: 1}
    counted, summed = i_a.insert(5, 5)
    assert dict(counted.iter()) == {0: -1, 2: 1} and dict(summed.iter()) == {0: -1, 10: 1}


def test_iteration_takes_zsets_and_time() -> None:
    graph = st.compile(seed.query)
    store = st.StorePython.from_graph(graph)
    users = st.ZSetPython({seed.User(user_id=1, name="oli"): 1})
    meters = st.ZSetPython({seed.Meter(meter_id=METER, user_id=1): 1})
    reads = st.ZSetPython({read(1, 1, 2.0): 1})
    (changes,) = st.iteration(store, graph, [users, meters, reads], time=st.Time(input_time=0))
    assert [value.value for value, _ in changes.iter()] == [2.0]


def test_cache_of_an_uncompiled_query_is_an_error() -> None:
    graph = st.compile(seed.query)
    with pytest.raises(st.StoreError, match="not used by any compiled query"):
        st.Cache[int]().zset(st.StorePython.from_graph(graph))
