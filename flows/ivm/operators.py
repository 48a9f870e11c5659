"""The query operators. Each one records a node while `compile` traces a query.

Semantics are stated for *changes*: a query receives, per iteration, a Z-set of changes to each
input (inserts count +1, removals -1) and every operator turns its input changes into output
changes, so that the sum of all output changes so far equals the operator applied to the sum
of all input changes so far. Exceptions are `integrate`, `integrate_indexed` and `delay`,
which are plain stream operators (they output snapshots, see each docstring).
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar, cast

from flows.ivm.data import Empty, Pair
from flows.ivm.errors import CompileError
from flows.ivm.graph import SCALAR_ZERO, OperatorKind, user_frame, where
from flows.ivm.index import Index
from flows.ivm.trace import Stream, current_tracer
from flows.ivm.zset import ZSet

T = TypeVar("T")
U = TypeVar("U")
V = TypeVar("V")
K = TypeVar("K")
R = TypeVar("R")


class Grouped(Generic[T, K]):
    """Type of `group`'s result: one Z-set per group key. Use it via `per_group`/`flatten`."""


def _emit(kind: OperatorKind, *inputs: Any, t: Any = None, **params: Any) -> ZSet[Any]:
    """Record a node; while tracing, a query's Z-sets are `Stream`s standing in for them."""
    return cast(ZSet[Any], current_tracer(kind).add(kind, inputs, params, t=t))


def _stream(value: Any) -> Stream:
    """A query value as the `Stream` it is while tracing (checked by the tracer)."""
    return cast(Stream, value)


def _element_type(stream: Any) -> Any:
    return stream.node.t if isinstance(stream, Stream) else None


def _return_type(f: Callable[..., Any]) -> Any:
    try:
        return typing.get_type_hints(f).get("return")
    except Exception:  # noqa: BLE001 - type information is optional
        return None


def map(a: ZSet[T], *, f: Callable[[T], V]) -> ZSet[V]:  # noqa: A001 - stepping's name
    """Linear. Each value ``v`` with count ``c`` becomes ``f(v)`` with count ``c``; counts of
    equal results add up (and vanish at zero)."""
    return _emit(OperatorKind.MAP, a, f=f, t=_return_type(f))


def map_many(a: ZSet[T], *, f: Callable[[T], Iterable[V]]) -> ZSet[V]:
    """Linear. Each value ``v`` with count ``c`` becomes every ``x`` in ``f(v)`` (a frozenset
    or other iterable) with count ``c``."""
    return _emit(OperatorKind.MAP_MANY, a, f=f)


def filter(a: ZSet[T], *, f: Callable[[T], bool]) -> ZSet[T]:  # noqa: A001 - stepping's name
    """Linear. Keeps the values (with their counts) for which ``f(v)`` is true."""
    return _emit(OperatorKind.FILTER, a, f=f, t=_element_type(a))


def add(a: ZSet[T], b: ZSet[T]) -> ZSet[T]:
    """Linear. Union with counts added (``a + b`` on streams does the same)."""
    return _emit(OperatorKind.ADD, a, b, t=_element_type(a))


def neg(a: ZSet[T]) -> ZSet[T]:
    """Linear. Every count negated (``-a`` on a stream does the same)."""
    return _emit(OperatorKind.NEG, a, t=_element_type(a))


def add3(a: ZSet[T], b: ZSet[T], c: ZSet[T]) -> ZSet[T]:
    """Linear. ``a + b + c``."""
    return add(add(a, b), c)


def identity_print(a: T) -> T:
    """Prints its argument (at compile time: the stream it stands for) and returns it, as
    stepping's does; to see values as they flow, print in a `map` function."""
    print(a)
    return a


def haitch(a: ZSet[T], b: ZSet[T]) -> ZSet[T]:
    """DBSP's H (the incremental distinct's core): ``a`` is a Z-set as it stood (an integral,
    say ``integrate_delay(x)``), ``b`` its change; for each value of ``b``: +1 when its count
    turns positive (from ≤ 0 to > 0), -1 when it stops being positive, else nothing. So
    ``haitch(integrate_delay(x), x)`` is ``distinct(x)``'s change. Stateless: it reads both
    streams' values of this iteration."""
    return _emit(OperatorKind.HAITCH, a, b, t=_element_type(b))


def join(
    l: ZSet[T], r: ZSet[U], *, on_left: Index[T, K], on_right: Index[U, K]  # noqa: E741
) -> ZSet[Pair[T, U]]:
    """Inner equi-join. For each ``x`` in ``l`` and ``y`` in ``r`` with
    ``on_left.f(x) == on_right.f(y)``: ``Pair(x, y)`` with count ``count(x) * count(y)``.
    Incremental (bilinear): ``Δl ⋈ R + L ⋈ Δr + Δl ⋈ Δr``; both sides are kept indexed by
    key, so a change only looks up the keys it touches."""
    lt, rt = _element_type(l), _element_type(r)
    pair: Any = Pair  # built at run time from the inputs' types, not a static type
    t = pair[lt, rt] if lt is not None and rt is not None else None
    return _emit(OperatorKind.JOIN, l, r, on_left=on_left, on_right=on_right, t=t)


def outer_join(
    l: ZSet[T], r: ZSet[U], *, on_left: Index[T, K], on_right: Index[U, K]  # noqa: E741
) -> ZSet[Pair[T, U | Empty]]:
    """Left outer join with SQL semantics: the rows of `join`, plus ``Pair(x, EMPTY)`` with
    ``count(x)`` for every ``x`` in ``l`` whose key matches no value of ``r``. When a match
    arrives later the ``EMPTY`` row is retracted, and it comes back when the last match goes."""
    return _emit(OperatorKind.OUTER_JOIN, l, r, on_left=on_left, on_right=on_right)


def group_reduce_flatten(
    a: ZSet[T], *, by: Index[T, K], zero: Callable[[], R], pick_value: Callable[[T], R]
) -> ZSet[Pair[R, K]]:
    """Group by ``by.f(v)`` and sum each group: one ``Pair(total, key)`` (count 1) per group,
    where ``total = zero() + Σ pick_value(v) * count(v)``. A group exists while the sum of
    its rows' counts is non-zero; when its last row goes, its pair is retracted. Only the
    groups a change touches are updated (their running totals are kept). Float totals are
    running sums, so use int or Decimal where exactness matters."""
    zero_type = zero if isinstance(zero, type) else None
    pair: Any = Pair  # built at run time from values, not a static type
    t = pair[zero_type, by.k] if zero_type is not None else None
    return _emit(OperatorKind.GROUP_REDUCE_FLATTEN, a, by=by, zero=zero, pick_value=pick_value, t=t)


def reduce(a: ZSet[T], *, zero: Callable[[], R], pick_value: Callable[[T], R]) -> ZSet[R]:
    """Sum of the whole Z-set: always exactly one value, ``zero() + Σ pick_value(v) * count(v)``
    with count 1 (``zero()`` when empty, like SQL's COUNT). Inside `per_group`, one value per
    non-empty group instead."""
    t = zero if isinstance(zero, type) else None
    return _emit(OperatorKind.REDUCE, a, zero=zero, pick_value=pick_value, t=t)


def count(a: ZSet[T]) -> ZSet[int]:
    """The sum of all counts as a single value (``0`` when empty); per group inside
    `per_group`."""
    return _emit(OperatorKind.COUNT, a, t=int)


def distinct(a: ZSet[T]) -> ZSet[T]:
    """Set semantics: every value whose accumulated count is positive, with count 1."""
    return _emit(OperatorKind.DISTINCT, a, t=_element_type(a))


def first_n(a: ZSet[T], *, index: Index[T, K], n: int) -> ZSet[T]:
    """The first ``n`` rows in index order (keys sorted by the index's directions; ties
    between different values of one key broken by their ``repr``); a value with count ``c``
    counts as ``c`` rows. Keeps the whole input, indexed; per group inside `per_group`."""
    if not isinstance(n, int) or n < 0:
        raise CompileError(f"{where(user_frame())}: st.first_n needs n >= 0, got {n!r}")
    return _emit(OperatorKind.FIRST_N, a, index=index, n=n, t=_element_type(a))


def integrate(a: ZSet[T]) -> ZSet[T]:
    """Stream operator: outputs, each iteration, the sum of all input changes so far (a
    snapshot, not a change)."""
    return _emit(OperatorKind.INTEGRATE, a, indexes=(), t=_element_type(a))


def integrate_indexed(a: ZSet[T], *, indexes: tuple[Index[T, Any], ...]) -> ZSet[T]:
    """`integrate`, keeping the accumulated Z-set indexed by ``indexes`` for
    ``iter_by_index``; this is what a `Cache` holds."""
    return _emit(OperatorKind.INTEGRATE, a, indexes=tuple(indexes), t=_element_type(a))


def delay(a: ZSet[T]) -> ZSet[T]:
    """Stream operator: outputs the previous iteration's input (empty in the first; for a
    scalar stream, its ``zero()`` in the first)."""
    node = _stream(a).node if isinstance(a, Stream) else None
    if node is not None and node.scalar:
        zero = node.params["zero"] if node.kind == OperatorKind.MAKE_SCALAR else node.params[
            SCALAR_ZERO]
        return _emit(OperatorKind.DELAY, a, t=_element_type(a), **{SCALAR_ZERO: zero})
    return _emit(OperatorKind.DELAY, a, t=_element_type(a))


def make_scalar(a: ZSet[T], *, zero: Callable[[], T]) -> T:
    """Per iteration: the one value of ``a``'s changes, which must be a single value with
    count 1 — or ``zero()`` when ``a`` has no change (an `IvmError` otherwise, and nothing
    changes). The result is a *scalar stream*; it goes to `make_set` (or `delay`), as in
    stepping: ``st.make_set(st.make_scalar(a, zero=int))``."""
    if isinstance(a, Stream) and a.node.depth:
        raise CompileError(f"{where(user_frame())}: st.make_scalar works on whole streams, "
                           "not inside st.per_group (a group's scalar is st.reduce's value)")
    return cast(T, _emit(OperatorKind.MAKE_SCALAR, a, zero=zero, t=_element_type(a)))


def make_set(a: T) -> ZSet[T]:
    """Per iteration: the scalar ``a`` (from `make_scalar`, or its `delay`) as the Z-set
    ``{a: 1}``."""
    return _emit(OperatorKind.MAKE_SET, a, t=_element_type(a))


def delay_indexed(a: ZSet[T], *, indexes: tuple[Index[T, Any], ...]) -> ZSet[T]:
    """`delay` (stepping builds `integrate_indexed` from it; here the indexes are the
    integral's, so a delay needs none and ``indexes`` only documents intent)."""
    return delay(a)


def integrate_delay(a: ZSet[T]) -> ZSet[T]:
    """Stream operator: the sum of all input changes *before* this iteration (``delay`` of
    ``integrate``): what a Z-set stood at when this iteration's change arrives."""
    return delay(integrate(a))


def differentiate(a: ZSet[T]) -> ZSet[T]:
    """Stream operator: this iteration's input minus the previous one (inverse of integrate)."""
    return add(a, neg(delay(a)))


def transitive_closure(a: ZSet[Pair[K, K]]) -> ZSet[Pair[K, K]]:
    """Recursion: every ``Pair(x, z)`` such that a path ``x → … → z`` of one or more edges
    ``Pair(x, y)`` (with positive count) exists, each with count 1. On a change, only the
    sources that could reach a changed edge are re-explored."""
    return _emit(OperatorKind.TRANSITIVE_CLOSURE, a, t=_element_type(a))


def group(a: ZSet[T], *, by: Index[T, K]) -> Grouped[ZSet[T], K]:
    """Partition into groups keyed by ``by.f(v)``; work on each group with `per_group`."""
    grouped = current_tracer("group").add(OperatorKind.GROUP, (_stream(a),), {"by": by},
                                          depth=_depth(a) + 1, grouped=True)
    return cast(Grouped[ZSet[T], K], grouped)


def flatten(a: Grouped[ZSet[T], K]) -> ZSet[Pair[T, K]]:
    """Back from groups to one Z-set: ``Pair(value, group_key)`` for every value of every group."""
    tracer = current_tracer("flatten")
    tracer.check_stream("flatten", a, 0, grouped=True)
    inner = Stream(_stream(a).node)
    return cast(ZSet[Pair[T, K]], tracer.add(OperatorKind.FLATTEN, (inner,), {},
                                             depth=inner.node.depth - 1))


def _depth(stream: Any) -> int:
    return stream.node.depth if isinstance(stream, Stream) else 0


class PerGroup:
    """``st.per_group[grouped](lambda g: query_on_one_group(g))``: run a sub-query on every
    group independently; its operators keep their state per group."""

    def __getitem__(
        self, grouped: Grouped[ZSet[T], K]
    ) -> Callable[[Callable[[ZSet[T]], ZSet[V]]], Grouped[ZSet[V], K]]:
        tracer = current_tracer("per_group")
        tracer.check_stream("per_group", grouped, 0, grouped=True)
        node = _stream(grouped).node

        def apply(sub_query: Callable[[ZSet[T]], ZSet[V]]) -> Grouped[ZSet[V], K]:
            result: Any = sub_query(cast(ZSet[T], Stream(node)))
            if not isinstance(result, Stream) or result.grouped or result.node.depth != node.depth:
                raise CompileError(f"{where(user_frame())}: the function given to st.per_group "
                                   "must return a stream computed from its group argument")
            return cast(Grouped[ZSet[V], K], Stream(result.node, grouped=True))

        return apply


per_group = PerGroup()
