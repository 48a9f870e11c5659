"""Property tests: after any sequence of insert/remove/replace batches, the sum of a query's
output changes equals a from-scratch evaluation (tests/ivm/reference.py) of the same graph on
the current inputs — for every operator, nested groups, outer joins, distinct and recursion."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

import flows.ivm as st
from tests.ivm import reference
from tests.ivm.stores import StoreMaker


class Row(st.Data):
    k: int
    v: int


rows = hs.builds(Row, k=hs.integers(0, 3), v=hs.integers(0, 4))

by_k = st.Index.pick(Row, lambda r: r.k)
by_v = st.Index.pick(Row, lambda r: r.v)
by_v_descending = st.Index.pick(Row, lambda r: r.v, ascending=False)
by_k_v = st.Index.pick(Row, lambda r: (r.k, r.v))
by_parity = st.Index.atom("parity", Row, int, lambda r: r.v % 2)
by_int = st.Index.identity(int)


def q_linear(a: st.ZSet[Row], b: st.ZSet[Row]) -> st.ZSet[Row]:
    doubled = st.map(a, f=lambda r: Row(k=r.k, v=r.v * 2))
    spread = st.map_many(a, f=lambda r: frozenset(Row(k=r.k, v=x) for x in range(r.v % 3)))
    small = st.filter(b, f=lambda r: r.v < 3)
    return doubled + spread - small


def q_join(a: st.ZSet[Row], b: st.ZSet[Row]) -> tuple[st.ZSet[Any], st.ZSet[Any]]:
    on_k = st.join(a, b, on_left=by_k, on_right=by_k)
    on_k_v = st.join(a, b, on_left=by_k_v, on_right=by_k_v)
    return on_k, on_k_v


def q_join_only(a: st.ZSet[Row], b: st.ZSet[Row]) -> st.ZSet[Any]:
    """Each input feeds one join only: removals are checked against the join's sides."""
    return st.join(a, b, on_left=by_k, on_right=by_v)


def q_loose_chains(a: st.ZSet[Row], b: st.ZSet[Row]) -> tuple[st.ZSet[Any], ...]:
    # Maps that merge rows and a group that emits a row's retraction and its return: the
    # loose changes between linear operators repeat values and cancel (kernels.TAKES_LOOSE).
    merged = st.map(a, f=lambda r: Row(k=r.k % 2, v=r.v % 2))
    kept = st.filter(st.map(b, f=lambda r: Row(k=r.k % 2, v=0)), f=lambda r: r.k < 2)
    joined = st.join(merged, kept, on_left=by_k, on_right=by_k)
    per_k = st.group_reduce_flatten(st.map(joined, f=lambda p: p.left), by=by_k, zero=int,
                                    pick_value=pick_v)
    per_v = st.group_reduce_flatten(merged, by=by_v, zero=int, pick_value=lambda r: 1)
    spread = st.map_many(st.map(per_v, f=lambda p: p.left % 3), f=lambda n: frozenset(range(n)))
    counted = st.count(st.map(joined, f=lambda p: p.right))
    outer = st.outer_join(merged, st.map(b, f=lambda r: Row(k=r.v % 2, v=1)),
                          on_left=by_k, on_right=by_k)
    return per_k, spread, counted, st.map(outer, f=lambda p: p.left)


def q_outer_join(a: st.ZSet[Row], b: st.ZSet[Row]) -> st.ZSet[Any]:
    return st.outer_join(a, b, on_left=by_k, on_right=by_k)


def pick_v(r: Row) -> int:
    return r.v


def q_aggregates(a: st.ZSet[Row]) -> tuple[st.ZSet[Any], st.ZSet[int], st.ZSet[int]]:
    per_k = st.group_reduce_flatten(a, by=by_k, zero=int, pick_value=pick_v)
    total = st.reduce(a, zero=int, pick_value=pick_v)
    rows_counted = st.count(a)
    return per_k, total, rows_counted


def q_distinct(a: st.ZSet[Row]) -> tuple[st.ZSet[Row], st.ZSet[int]]:
    return st.distinct(a), st.distinct(st.map(a, f=lambda r: r.k))


def q_first_n(a: st.ZSet[Row]) -> tuple[st.ZSet[Row], st.ZSet[Row]]:
    return st.first_n(a, index=by_v, n=2), st.first_n(a, index=by_v_descending, n=3)


def q_nested_groups(a: st.ZSet[Row]) -> tuple[st.ZSet[Any], st.ZSet[Any], st.ZSet[Any]]:
    per_k = st.group(a, by=by_k)
    counts = st.per_group[per_k](
        lambda rows_of_k: st.flatten(st.per_group[st.group(rows_of_k, by=by_parity)](st.count))
    )
    self_joined = st.per_group[per_k](
        lambda rows_of_k: st.join(rows_of_k, st.map(rows_of_k, f=lambda r: Row(k=r.v, v=r.k)),
                                  on_left=by_v, on_right=by_k)
    )
    top = st.per_group[per_k](
        lambda rows_of_k: st.distinct(st.first_n(rows_of_k, index=by_v, n=1))
    )
    return st.flatten(counts), st.flatten(self_joined), st.flatten(top)


def q_grouped_aggregates(a: st.ZSet[Row]) -> tuple[st.ZSet[Any], st.ZSet[Any]]:
    per_k = st.group(a, by=by_k)
    sums = st.per_group[per_k](
        lambda g: st.group_reduce_flatten(g, by=by_parity, zero=int, pick_value=pick_v)
    )
    reduced = st.per_group[per_k](lambda g: st.reduce(g, zero=int, pick_value=pick_v))
    return st.flatten(sums), st.flatten(reduced)


def to_edge(r: Row) -> st.Pair[int, int]:
    return st.Pair(r.k, r.v)


edge_from = st.Index.pick(st.Pair[int, int], lambda p: p.left)
edge_to = st.Index.pick(st.Pair[int, int], lambda p: p.right)


def q_recursion(a: st.ZSet[Row]) -> tuple[st.ZSet[Any], st.ZSet[Any]]:
    reachable = st.transitive_closure(st.map(a, f=to_edge))
    per_parity = st.per_group[st.group(a, by=by_parity)](
        lambda g: st.transitive_closure(st.map(g, f=to_edge))
    )
    return reachable, st.flatten(per_parity)


class Members(st.Data):
    k: int
    members: st.ZSetPython[int]


def member(r: Row) -> st.ZSetPython[int]:
    return st.ZSetPython({r.v: 1})


def as_members(pair: st.Pair[st.ZSetPython[int], int]) -> Members:
    return Members(k=pair.right, members=pair.left)


def q_zset_values(a: st.ZSet[Row]) -> tuple[st.ZSet[Any], st.ZSet[Any]]:
    """Z-sets as values: each k's members collected (stepping's zero=ZSetPython idiom), as a
    Data field, and distinct member sets (equal Z-sets are one value whatever their order)."""
    per_k = st.group_reduce_flatten(a, by=by_k, zero=st.ZSetPython, pick_value=member)
    as_data = st.map(per_k, f=as_members)
    return as_data, st.distinct(st.map(per_k, f=lambda p: p.left))


def q_hand_written_reachability(a: st.ZSet[Row]) -> st.ZSet[Any]:
    """Reachability written by hand: a stream declared first, closed through st.delay."""
    delayed: st.ZSet[st.Pair[int, int]]
    stepped = st.map(st.join(delayed, st.map(a, f=to_edge), on_left=edge_to, on_right=edge_from),  # noqa: F821 - declared above, assigned below (a loop)
                     f=lambda p: st.Pair(p.left.left, p.right.right))
    paths = st.distinct(st.add(st.map(a, f=to_edge), stepped))
    delayed = st.delay(paths)
    return paths


class Hops(st.Data):
    node: int
    hops: int


by_node = st.Index.pick(Hops, lambda h: h.node)
by_hops = st.Index.pick(Hops, lambda h: h.hops)


def q_fewest_hops(a: st.ZSet[Row]) -> tuple[st.ZSet[Hops], st.ZSet[Any]]:
    """A recursive aggregate: the fewest hops from node 0 to each node (edges k → v), the
    minimum per node taken inside the loop; and how many nodes are reached at each count."""
    starts = st.distinct(st.map(st.filter(a, f=lambda r: r.k == 0), f=lambda r: Hops(node=0, hops=0)))
    delayed: st.ZSet[Hops]
    extended = st.map(st.join(delayed, a, on_left=by_node, on_right=by_k),  # noqa: F821 - declared above, assigned below (a loop)
                      f=lambda p: Hops(node=p.right.v, hops=p.left.hops + 1))
    candidates = st.distinct(st.add(starts, extended))
    fewest = st.map(st.flatten(st.per_group[st.group(candidates, by=by_node)](
        lambda hops_of_node: st.first_n(hops_of_node, index=by_hops, n=1))), f=lambda p: p.left)
    delayed = st.delay(fewest)
    per_count = st.group_reduce_flatten(fewest, by=by_hops, zero=int, pick_value=lambda h: 1)
    return fewest, per_count


cache_rows = st.Cache[Row]()
cache_counts = st.Cache[int]()


def q_caches(a: st.ZSet[Row], b: st.ZSet[Row]) -> st.ZSet[Row]:
    both = a + b
    cache_rows[both](lambda z: st.integrate_indexed(z, indexes=(by_k, by_k_v, by_v_descending)))
    cache_counts[st.map(b, f=lambda r: r.v)](lambda z: st.integrate_indexed(z, indexes=(by_int,)))
    return st.distinct(both)


def run_random_steps(query: Callable[..., Any], stores: StoreMaker, data: hs.DataObject) -> None:
    graph = st.compile(query)
    store = stores.new(graph)
    actions = st.actions(store, graph)
    current: list[Counter[Row]] = [Counter() for _ in actions]
    totals: list[dict[Any, int]] = [{} for _ in graph.outputs]
    for _ in range(data.draw(hs.integers(1, 8), label="steps")):
        position = data.draw(hs.integers(0, len(actions) - 1), label="input")
        action, present = actions[position], sorted(current[position].elements(), key=repr)
        kind = data.draw(hs.sampled_from(["insert", "remove", "replace"]), label="kind")
        if kind == "insert" or not present:
            values = data.draw(hs.lists(rows, min_size=1, max_size=4), label="insert")
            changes = action.insert(*values)
            current[position].update(values)
        elif kind == "remove":
            shuffled = data.draw(hs.permutations(present), label="order")
            values = shuffled[: data.draw(hs.integers(1, len(present)), label="how many")]
            changes = action.remove(*values)
            current[position].subtract(values)
        else:
            old, new = data.draw(hs.sampled_from(present), label="old"), data.draw(rows, label="new")
            changes = action.replace(old, new)
            current[position].subtract([old])
            current[position].update([new])
        for total, change in zip(totals, changes, strict=True):
            for value, count in change.iter():
                total[value] = total.get(value, 0) + count
                if not total[value]:
                    del total[value]
        assert totals == reference.outputs(graph, [dict(c) for c in current])
        check_caches(graph, store, current)
        if data.draw(hs.booleans(), label="reopen"):
            reopened = stores.reopen(graph)  # a fresh store object reads everything back
            if reopened is not None:
                store, actions = reopened, st.actions(reopened, graph)


def check_caches(graph: st.Graph[Any, Any], store: st.Store, current: list[Counter[Row]]) -> None:
    expected_nodes = reference.evaluate(graph, [dict(c) for c in current])
    for cache in (cache_rows, cache_counts):
        if cache.node_name not in graph.caches:
            continue
        expected = expected_nodes[cache.node_name]
        zset = cache.zset(store)
        assert dict(zset.iter()) == expected
        # Looked up by value: the present ones with their counts, an absent one left out.
        absent = Row(k=9, v=9) if cache is cache_rows else 99
        probes = frozenset([*list(expected)[:3], absent])
        assert dict(zset.iter(probes)) == {v: expected[v] for v in probes if v in expected}
        for index in zset.indexes:
            by_index = list(zset.iter_by_index(index))
            keys = [key for key, _, _ in by_index]
            assert keys == sorted(keys, key=index.sort_key)
            assert {value: count for _, value, count in by_index} == expected
            assert all(index.f(value) == key for key, value, _ in by_index)


QUERIES = [q_linear, q_join, q_join_only, q_loose_chains, q_outer_join, q_aggregates, q_distinct,
           q_first_n, q_nested_groups, q_grouped_aggregates, q_recursion, q_caches, q_zset_values,
           q_hand_written_reachability, q_fewest_hops]


# Examples per query and store: SQL stores are slower to set up, and also run the same
# operators through the same kernels, so fewer examples still cover their storage code well.
EXAMPLES = {"python": 120, "sqlite": 40, "postgres": 15}


def _property(query: Callable[..., Any], kind: str) -> Callable[..., None]:
    @settings(max_examples=EXAMPLES[kind], deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(data=hs.data())
    def test(request: pytest.FixtureRequest, data: hs.DataObject) -> None:
        run_random_steps(query, request.getfixturevalue(f"{kind}_stores"), data)

    test.__name__ = f"test_{query.__name__}_matches_reference_{kind}"
    return test


for _query in QUERIES:
    for _kind in EXAMPLES:
        globals()[f"test_{_query.__name__}_matches_reference_{_kind}"] = _property(_query, _kind)


@settings(max_examples=60, deadline=None)
@given(batches=hs.lists(hs.lists(rows, max_size=4), min_size=1, max_size=6))
def test_integrate_delay_differentiate_are_stream_operators(batches: list[list[Row]]) -> None:
    def streams(a: st.ZSet[Row]) -> tuple[st.ZSet[Row], st.ZSet[Row], st.ZSet[Row]]:
        return st.integrate(a), st.delay(a), st.differentiate(st.integrate(a))

    graph = st.compile(streams)
    store = st.StorePython.from_graph(graph)
    (i_rows,) = st.actions(store, graph)
    so_far: Counter[Row] = Counter()
    previous: Counter[Row] = Counter()
    for batch in batches:
        integrated, delayed, differentiated = i_rows.insert(*batch)
        so_far.update(batch)
        assert dict(integrated.iter()) == dict(so_far)
        assert dict(delayed.iter()) == dict(previous)
        assert dict(differentiated.iter()) == dict(Counter(batch))
        previous = Counter(batch)
