"""A small, deliberately naive, non-incremental evaluator of compiled graphs, for tests.

It computes every node's full Z-set from the full current inputs, straight from each operator's
documented semantics, with no state and no deltas. The incremental engine must agree with it:
the sum of all output changes so far equals ``evaluate(graph, current_inputs)``.

Values inside `per_group` use the same representation as the engine, ``(value, group_keys)``,
but everything else here is independent of ``flows.ivm.kernels``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import flows.ivm as st
from flows.ivm.graph import Node

ZDict = dict[Any, int]


def _clean(counts: Mapping[Any, int]) -> ZDict:
    return {value: count for value, count in counts.items() if count}


def _sum(pairs: Iterable[tuple[Any, int]]) -> ZDict:
    out: defaultdict[Any, int] = defaultdict(int)
    for value, count in pairs:
        out[value] += count
    return _clean(out)


def evaluate(graph: st.Graph[Any, Any], inputs: list[Mapping[Any, int]]) -> dict[str, ZDict]:
    """The full Z-set of every node of ``graph``, by node name. A graph with loops (a stream
    declared first and assigned ``st.delay(x)`` later) is evaluated again and again, each
    declared stream the value of its ``x`` the time before (nothing at first), until that
    changes no more: the least fixed point, naively."""
    loops = [node for node in graph.nodes if "forward" in node.params]
    carried: dict[str, ZDict] = {node.name: {} for node in loops}
    for _ in range(1_000):
        results: dict[str, ZDict] = {}
        for node in graph.nodes:
            if node.name in carried:
                results[node.name] = carried[node.name]
                continue
            args = [results[source.name] for source in node.inputs]
            if node.kind == "input":
                results[node.name] = _clean(inputs[node.params["position"]])
            else:
                results[node.name] = _EVALUATORS[node.kind](node, *args)
        following = {node.name: results[node.inputs[0].name] for node in loops}
        if following == carried:
            return results
        carried = following
    raise AssertionError("the reference found no fixed point in 1,000 rounds")


def outputs(graph: st.Graph[Any, Any], inputs: list[Mapping[Any, int]]) -> list[ZDict]:
    values = evaluate(graph, inputs)
    return [values[node.name] for node in graph.outputs]


# Helpers for the (value, group_keys) representation inside per_group.


def _value(node: Node, item: Any) -> Any:
    return item[0] if node.depth else item


def _keys(node: Node, item: Any) -> tuple[Any, ...]:
    return item[1] if node.depth else ()


def _item(node: Node, value: Any, keys: tuple[Any, ...]) -> Any:
    return (value, keys) if node.depth else value


def _map(node: Node, a: ZDict) -> ZDict:
    f = node.params["f"]
    return _sum((_item(node, f(_value(node, v)), _keys(node, v)), c) for v, c in a.items())


def _map_many(node: Node, a: ZDict) -> ZDict:
    f = node.params["f"]
    return _sum((_item(node, x, _keys(node, v)), c) for v, c in a.items() for x in f(_value(node, v)))


def _filter(node: Node, a: ZDict) -> ZDict:
    f = node.params["f"]
    return {v: c for v, c in a.items() if f(_value(node, v))}


def _add(node: Node, a: ZDict, b: ZDict) -> ZDict:
    return _sum([*a.items(), *b.items()])


def _neg(node: Node, a: ZDict) -> ZDict:
    return {v: -c for v, c in a.items()}


def _matches(node: Node, left: Any, right: Any) -> bool:
    on_left, on_right = node.params["on_left"].f, node.params["on_right"].f
    return bool(_keys(node, left) == _keys(node, right)
                and on_left(_value(node, left)) == on_right(_value(node, right)))


def _join(node: Node, a: ZDict, b: ZDict) -> ZDict:
    return _sum(
        (_item(node, st.Pair(_value(node, x), _value(node, y)), _keys(node, x)), cx * cy)
        for x, cx in a.items() for y, cy in b.items() if _matches(node, x, y)
    )


def _outer_join(node: Node, a: ZDict, b: ZDict) -> ZDict:
    joined = _join(node, a, b)
    unmatched = [
        (_item(node, st.Pair(_value(node, x), st.EMPTY), _keys(node, x)), cx)
        for x, cx in a.items() if not any(_matches(node, x, y) for y in b)
    ]
    return _sum([*joined.items(), *unmatched])


def _groups(rows: ZDict, key: Callable[[Any], Any]) -> dict[Any, ZDict]:
    groups: defaultdict[Any, ZDict] = defaultdict(dict)
    for value, count in rows.items():
        groups[key(value)][value] = count
    return groups


def _total(rows: ZDict, zero: Callable[[], Any], pick: Callable[[Any], Any]) -> Any:
    total = zero()
    for value, count in rows.items():
        total = total + pick(value) * count
    return total


def _group_reduce_flatten(node: Node, a: ZDict) -> ZDict:
    by, zero, pick = node.params["by"].f, node.params["zero"], node.params["pick_value"]
    out = []
    for (keys, key), rows in _groups(a, lambda v: (_keys(node, v), by(_value(node, v)))).items():
        if sum(rows.values()):
            total = _total(rows, zero, lambda v: pick(_value(node, v)))
            out.append((_item(node, st.Pair(total, key), keys), 1))
    return _sum(out)


def _reduce(node: Node, a: ZDict, zero: Callable[[], Any], pick: Callable[[Any], Any]) -> ZDict:
    if node.depth == 0:
        return {_total(a, zero, pick) if sum(a.values()) else zero(): 1}
    out = []
    for keys, rows in _groups(a, lambda v: _keys(node, v)).items():
        if sum(rows.values()):
            out.append(((_total(rows, zero, lambda v: pick(_value(node, v))), keys), 1))
    return _sum(out)


def _reduce_node(node: Node, a: ZDict) -> ZDict:
    return _reduce(node, a, node.params["zero"], node.params["pick_value"])


def _count(node: Node, a: ZDict) -> ZDict:
    return _reduce(node, a, int, lambda v: 1)


def _distinct(node: Node, a: ZDict) -> ZDict:
    return {v: 1 for v, c in a.items() if c > 0}


def _first_n(node: Node, a: ZDict) -> ZDict:
    index, n = node.params["index"], node.params["n"]
    out: ZDict = {}
    for rows in _groups(a, lambda v: _keys(node, v)).values():
        ranked = sorted(
            ((v, c) for v, c in rows.items() if c > 0),
            key=lambda vc: (index.sort_key(index.f(_value(node, vc[0]))), repr(_value(node, vc[0]))),
        )
        left = n
        for value, count in ranked:
            if left <= 0:
                break
            out[value] = min(count, left)
            left -= out[value]
    return out


def _integrate(node: Node, a: ZDict) -> ZDict:
    return dict(a)  # the accumulated value of a from-scratch evaluation is that evaluation


def _transitive_closure(node: Node, a: ZDict) -> ZDict:
    edges: defaultdict[tuple[Any, Any], set[Any]] = defaultdict(set)
    for edge, count in a.items():
        if count > 0:
            pair = _value(node, edge)
            edges[(_keys(node, edge), pair[0])].add(pair[1])
    out: ZDict = {}
    for (keys, start) in list(edges):
        seen: set[Any] = set()
        todo = [start]
        while todo:
            for nxt in edges.get((keys, todo.pop()), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        for end in seen:
            out[_item(node, st.Pair(start, end), keys)] = 1
    return out


def _group(node: Node, a: ZDict) -> ZDict:
    by = node.params["by"].f
    if node.depth == 1:
        return {(v, (by(v),)): c for v, c in a.items()}
    return {(v[0], (*v[1], by(v[0]))): c for v, c in a.items()}


def _flatten(node: Node, a: ZDict) -> ZDict:
    if node.depth == 0:
        return _sum((st.Pair(v[0], v[1][-1]), c) for v, c in a.items())
    return _sum(((st.Pair(v[0], v[1][-1]), v[1][:-1]), c) for v, c in a.items())


def _unsupported(node: Node, *args: ZDict) -> ZDict:
    raise NotImplementedError(f"{node.kind} has no from-scratch meaning (it depends on time)")


_EVALUATORS: dict[str, Callable[..., ZDict]] = {
    "map": _map,
    "map_many": _map_many,
    "filter": _filter,
    "add": _add,
    "neg": _neg,
    "join": _join,
    "outer_join": _outer_join,
    "group_reduce_flatten": _group_reduce_flatten,
    "reduce": _reduce_node,
    "count": _count,
    "distinct": _distinct,
    "first_n": _first_n,
    "integrate": _integrate,
    "transitive_closure": _transitive_closure,
    "group": _group,
    "flatten": _flatten,
    "delay": _unsupported,
}
