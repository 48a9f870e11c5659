"""Incremental implementations of the operators ("kernels").

A kernel turns the changes arriving at its node in one iteration into the node's output
changes, reading its own state and staging updates to it on the transaction. Changes are
plain dicts ``value → count`` without zero counts; kernels never modify the changes they get.

Between linear operators changes may also travel *loose*: a list of ``(value, count)`` pairs
in which a value can repeat. Consolidating (hashing every value into a dict) is only needed
where values are compared: state, outputs. A kernel whose consumers all take loose changes
(`TAKES_LOOSE`) hands them on loose, so a chain join → map → group_reduce hashes each row
once, at the group, not once per operator.

Inside `per_group` (node depth > 0) a value is ``(value, group_keys)``; kernels handle that by
wrapping the user's functions once, at build time, so the loops below serve every depth.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from flows.ivm.data import EMPTY, Pair, new_pair
from flows.ivm.errors import InputTypeError, IvmError, RemoveError
from flows.ivm.graph import SCALAR_ZERO, Node, OperatorKind
from flows.ivm.state import Bag, Transaction, add_count, add_counts
from flows.ivm.store import Store

try:
    from mypy_extensions import mypyc_attr
except ImportError:  # only a compiled build needs it
    def mypyc_attr(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
        return lambda cls: cls


Changes = dict[Any, int]
Loose = list[tuple[Any, int]]
"""Changes that may repeat a value (see the module's docstring)."""
NO_CHANGES: Changes = {}


def items(changes: Changes | Loose) -> Iterable[tuple[Any, int]]:
    """The (value, count) pairs of consolidated or loose changes."""
    return changes.items() if type(changes) is dict else changes


def as_changes(changes: Changes | Loose) -> Changes:
    """Consolidated changes (as they are when they already are)."""
    return changes if type(changes) is dict else consolidated(changes)  # type: ignore[arg-type]


def fused(build: Callable[[Any, Any], Any], then: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
    """``then(build(a, b))``, for a kernel that builds its rows from two parts (a join's pair,
    a group's total and key) with a map fused after it; a `Pair` built in C (one Python frame
    less per row than ``Pair(a, b)``)."""
    if build is Pair:
        return lambda a, b: then(new_pair((a, b)))
    return lambda a, b: then(build(a, b))


def partition(changes: Changes | Loose, key: Callable[[Any], Any]) -> dict[Any, dict[Any, int]]:
    """Consolidated changes by ``key``: key → {value: count}."""
    by_key: dict[Any, dict[Any, int]] = {}
    setdefault = by_key.setdefault
    if type(changes) is dict:
        for value, count in changes.items():
            setdefault(key(value), {})[value] = count
        return by_key
    for value, count in changes:
        add_count(setdefault(key(value), {}), value, count)
    for bucket_key in [k for k, bucket in by_key.items() if not bucket]:
        del by_key[bucket_key]
    return by_key


def consolidated(pairs: list[tuple[Any, int]]) -> Changes:
    """``value → count`` from pairs; one hash per value when the values are distinct, which is
    the common case (maps and joins of distinct values rarely collide)."""
    out = dict(pairs)
    if len(out) == len(pairs):
        return out
    out = {}
    for value, count in pairs:
        add_count(out, value, count)
    return out


def merged(old: Mapping[Any, int] | None, change: Mapping[Any, int] | None) -> dict[Any, int]:
    out = dict(old) if old else {}
    if change:
        add_counts(out, change)
    return out


def stored_type(node: Node) -> Any:
    """The type of the values a node's state keeps, when known (SQL stores decode with it)."""
    return node.t if node.depth == 0 else None


def total_type(zero: Any) -> Any:
    return zero if isinstance(zero, type) else None


@mypyc_attr(allow_interpreted_subclasses=True)
class Kernel:
    # Whether the kernel may hand on loose changes; `make_kernel` sets it where every
    # consumer takes them.
    loose = False
    # Whether `step` may return one of the dicts it was given (the runner then copies it
    # before handing it to a caller).
    hands_on_input = False

    def __init__(self, node: Node) -> None:
        self.node = node

    def out(self, pairs: Loose) -> Changes | Loose:
        """``pairs`` as this kernel's output: as they are if its consumers take loose changes."""
        return pairs if self.loose else consolidated(pairs)

    def runs_idle(self) -> bool:
        """Whether `step` must run even when no input changed this iteration."""
        return False

    def step(self, changes: Sequence[Any], tx: Transaction) -> Changes | Loose:
        """One iteration: each input's changes (loose only for kernels of `TAKES_LOOSE`
        operators, hence ``Any`` here) → this node's changes."""
        raise NotImplementedError

    def fuse(self, then: Callable[[Any], Any]) -> bool:
        """Apply ``then`` (a following map's function) to every value this kernel outputs, if
        it can: the map then needs no kernel of its own (see `Runner`)."""
        return False


# Depth helpers: lift a function on user values to the representation at a node's depth.


def on_value(node: Node, f: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return f if node.depth == 0 else (lambda item: f(item[0]))


def keep_group(node: Node, f: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``f`` applied to the value, the group keys carried along."""
    return f if node.depth == 0 else (lambda item: (f(item[0]), item[1]))


def group_keys(node: Node) -> Callable[[Any], Any]:
    return (lambda item: ()) if node.depth == 0 else (lambda item: item[1])


def with_group(node: Node) -> Callable[[Any, Any], Any]:
    """Build an output item from a user value and the group keys it belongs to."""
    return (lambda value, keys: value) if node.depth == 0 else (lambda value, keys: (value, keys))


# Inputs and linear operators ------------------------------------------------------------


class JoinSideCounts:
    """An input's counts read from the join side it feeds, which holds exactly the same
    Z-set (partitioned by join key): the input then needs no state of its own."""

    def __init__(self, bag: Bag, key: Callable[[Any], Any]) -> None:
        self.bag, self.key = bag, key

    def get_many(self, values: list[Any]) -> Mapping[Any, int]:
        key = self.key
        buckets = self.bag.get_many({key(value) for value in values})
        out = {}
        for value in values:
            count = buckets.get(key(value), {}).get(value)
            if count:
                out[value] = count
        return out


class InputKernel(Kernel):
    """Checks types and removals; keeps the input's counts unless its only consumer is a join
    (see `JoinSideCounts`)."""

    hands_on_input = True

    def __init__(self, node: Node, store: Store, sole_consumer: Node | None) -> None:
        super().__init__(node)
        self.own_state = True
        if sole_consumer is not None and sole_consumer.kind == OperatorKind.JOIN and sole_consumer.depth == 0:
            side = "left" if sole_consumer.inputs[0] is node else "right"
            index = sole_consumer.params["on_left" if side == "left" else "on_right"]
            bag = store.bag(sole_consumer, side, value_type=stored_type(node))
            self.state: Any = JoinSideCounts(bag, index.f)
            self.own_state = False
        else:
            self.state = store.counts(node, "values", value_type=node.t)
        t = node.t
        self.check_type = t if isinstance(t, type) and t is not Any else None
        self.types_checked: set[type] = set()  # the value types found to be check_type's

    def step(self, changes: Sequence[Changes], tx: Transaction) -> Changes:
        (delta,) = changes
        expected = self.check_type
        if expected is not None:
            # Per type, not per value: a batch holds one or a few types, known after the first.
            value_types = set(map(type, delta))
            if not value_types <= self.types_checked:
                for value_type in value_types:
                    if not issubclass(value_type, expected):
                        value = next(v for v in delta if type(v) is value_type)
                        raise InputTypeError(f"input {self.node.name!r} takes "
                                             f"{expected.__qualname__} values, got {value!r}")
                self.types_checked |= value_types
        removed = [value for value, count in delta.items() if count < 0] if (
            tx.check_removals) else None
        if removed:
            present = self.state.get_many(removed)
            for value in removed:
                left = present.get(value, 0) + delta[value]
                if left < 0:
                    have = present.get(value, 0)
                    raise RemoveError(f"cannot remove {value!r} from input {self.node.name!r}: "
                                      + ("it is not present" if not have else
                                         f"only {have} present, removing {-delta[value]}")
                                      + "; nothing was changed")
        if self.own_state:
            tx.stage(self.state, delta)
        return delta


class FunctionKernel(Kernel):
    """Applies ``self.f``, set by the subclass, to every value: a map, entering or leaving a
    group scope."""

    f: Callable[[Any], Any]

    def fuse(self, then: Callable[[Any], Any]) -> bool:
        f = self.f
        self.f = lambda value: then(f(value))
        return True

    def step(self, changes: Sequence[Changes | Loose], tx: Transaction) -> Changes | Loose:
        delta, f = changes[0], self.f
        if type(delta) is dict:
            return self.out(list(zip(map(f, delta), delta.values())))
        return self.out([(f(value), count) for value, count in delta])


class MapKernel(FunctionKernel):
    def __init__(self, node: Node, store: Store) -> None:
        super().__init__(node)
        self.f = keep_group(node, node.params["f"])


class MapManyKernel(Kernel):
    def __init__(self, node: Node, store: Store) -> None:
        super().__init__(node)
        self.f = node.params["f"]

    def step(self, changes: Sequence[Changes | Loose], tx: Transaction) -> Changes:
        f, depth = self.f, self.node.depth
        out: Changes = {}
        for value, count in items(changes[0]):
            if depth:
                for mapped in f(value[0]):
                    add_count(out, (mapped, value[1]), count)
            else:
                for mapped in f(value):
                    add_count(out, mapped, count)
        return out


class FilterKernel(Kernel):
    def __init__(self, node: Node, store: Store) -> None:
        super().__init__(node)
        self.f = on_value(node, node.params["f"])

    def step(self, changes: Sequence[Changes | Loose], tx: Transaction) -> Changes | Loose:
        f, delta = self.f, changes[0]
        if type(delta) is dict and not self.loose:
            return {value: count for value, count in delta.items() if f(value)}
        return self.out([(value, count) for value, count in items(delta) if f(value)])


class AddKernel(Kernel):
    hands_on_input = True

    def __init__(self, node: Node, store: Store) -> None:
        super().__init__(node)

    def step(self, changes: Sequence[Changes], tx: Transaction) -> Changes:
        left, right = changes
        if not right:
            return left
        if not left:
            return right
        out = dict(left)
        add_counts(out, right)
        return out


class NegKernel(Kernel):
    def __init__(self, node: Node, store: Store) -> None:
        super().__init__(node)

    def step(self, changes: Sequence[Changes], tx: Transaction) -> Changes:
        return {value: -count for value, count in changes[0].items()}


class GroupKernel(FunctionKernel):
    """Enter a group scope: append the value's group key to the group keys."""

    def __init__(self, node: Node, store: Store) -> None:
        super().__init__(node)
        by = node.params["by"].f
        if node.depth == 1:
            self.f = lambda value: (value, (by(value),))
        else:
            self.f = lambda item: (item[0], (*item[1], by(item[0])))


class FlattenKernel(FunctionKernel):
    """Leave a group scope: ``(value, (..., key))`` becomes ``Pair(value, key)``."""

    def __init__(self, node: Node, store: Store) -> None:
        super().__init__(node)
        if node.depth == 0:
            self.f = lambda item: Pair(item[0], item[1][-1])
        else:
            self.f = lambda item: (Pair(item[0], item[1][-1]), item[1][:-1])


# Joins ----------------------------------------------------------------------------------


class JoinKernel(Kernel):
    """Δ(L ⋈ R) = ΔL ⋈ R + (L + ΔL) ⋈ ΔR, with L and R kept partitioned by join key."""

    def __init__(self, node: Node, store: Store) -> None:
        super().__init__(node)
        on_left, on_right = node.params["on_left"].f, node.params["on_right"].f
        if node.depth == 0:
            self.key_left, self.key_right = on_left, on_right
            self.combine: Callable[[Any, Any], Any] = Pair
        else:
            self.key_left = lambda item: (item[1], on_left(item[0]))
            self.key_right = lambda item: (item[1], on_right(item[0]))
            self.combine = lambda left, right: (Pair(left[0], right[0]), left[1])
        self.left = store.bag(node, "left", value_type=stored_type(node.inputs[0]))
        self.right = store.bag(node, "right", value_type=stored_type(node.inputs[1]))

    def fuse(self, then: Callable[[Any], Any]) -> bool:
        self.combine = fused(self.combine, then)
        return True

    def step(self, changes: Sequence[Changes | Loose], tx: Transaction) -> Changes | Loose:
        left_changes, right_changes = changes
        combine = self.combine
        out: list[tuple[Any, int]] = []
        add = out.append
        left_by_key = partition(left_changes, self.key_left) if left_changes else {}
        right_by_key = partition(right_changes, self.key_right) if right_changes else {}
        if left_by_key:
            for new_lefts, rights in zip(left_by_key.values(),
                                         self.right.lookup(left_by_key)):
                if rights:
                    for left, left_count in new_lefts.items():
                        for right, right_count in rights.items():
                            add((combine(left, right), left_count * right_count))
            tx.stage(self.left, left_by_key)
        if right_by_key:
            for (key, rights), lefts_before in zip(right_by_key.items(),
                                                   self.left.lookup(right_by_key)):
                for lefts in (lefts_before, left_by_key.get(key) if left_by_key else None):
                    if lefts:
                        for left, left_count in lefts.items():
                            for right, right_count in rights.items():
                                add((combine(left, right), left_count * right_count))
            tx.stage(self.right, right_by_key)
        return self.out(out)


class OuterJoinKernel(JoinKernel):
    """The join, plus ``Pair(left, EMPTY)`` for left values whose key has no right value."""

    def __init__(self, node: Node, store: Store) -> None:
        super().__init__(node, store)
        self.unmatched = keep_group(node, lambda left: Pair(left, EMPTY))

    def fuse(self, then: Callable[[Any], Any]) -> bool:
        return False  # its unmatched rows are built apart from the join's

    def step(self, changes: Sequence[Changes | Loose], tx: Transaction) -> Changes:
        left_changes, right_changes = changes
        left_by_key = partition(left_changes, self.key_left) if left_changes else {}
        right_by_key = partition(right_changes, self.key_right) if right_changes else {}
        keys = left_by_key.keys() | right_by_key.keys()
        left_old, right_old = self.left.get_many(keys), self.right.get_many(keys)
        out = as_changes(super().step(changes, tx))
        unmatched = self.unmatched
        for key in keys:
            rights_before = right_old.get(key)
            rights_after = merged(rights_before, right_by_key.get(key))
            lefts_before = left_old.get(key)
            if not rights_before and lefts_before:
                for left, count in lefts_before.items():
                    add_count(out, unmatched(left), -count)
            if not rights_after:
                for left, count in merged(lefts_before, left_by_key.get(key)).items():
                    add_count(out, unmatched(left), count)
        return out


# Aggregates -----------------------------------------------------------------------------


class GroupReduceKernel(Kernel):
    """Running (weight, total) per group; a group's output row is replaced when it changes."""

    def __init__(self, node: Node, store: Store) -> None:
        super().__init__(node)
        params = node.params
        self.zero = params["zero"]
        self.pick = on_value(node, params["pick_value"])
        self.state = store.aggregates(node, "groups", total_type=total_type(self.zero))
        if node.kind == OperatorKind.GROUP_REDUCE_FLATTEN:
            by = params["by"].f
            if node.depth == 0:
                self.key: Callable[[Any], Any] = by
                self.output: Callable[[Any, Any], Any] = Pair
            else:
                self.key = lambda item: (item[1], by(item[0]))
                self.output = lambda total, key: (Pair(total, key[1]), key[0])
        else:  # reduce / count inside per_group: one group per group keys
            self.key = group_keys(node)
            self.output = lambda total, keys: (total, keys)

    def fuse(self, then: Callable[[Any], Any]) -> bool:
        self.output = fused(self.output, then)
        return True

    def step(self, changes: Sequence[Changes | Loose], tx: Transaction) -> Changes | Loose:
        pick, output, zero, key_of = self.pick, self.output, self.zero, self.key
        # Per group: [weight change, [each row's term, in input order]].
        running: dict[Any, list[Any]] = {}
        setdefault = running.setdefault
        for value, count in items(changes[0]):
            term = pick(value) * count
            fresh = [count, [term]]
            group = setdefault(key_of(value), fresh)  # one hash of the key, new or not
            if group is not fresh:
                group[0] += count
                group[1].append(term)
        out: Loose = []
        updates: list[tuple[Any, tuple[Any, ...] | None]] = []
        # Stored per group: (weight, total, the row it output) — the row is a hint a store may
        # drop (SQL stores keep it in memory only); with it, a row is retracted as the very
        # object that was output: no rebuild, and downstream dicts find it by identity.
        for (key, (weight, terms)), before in zip(running.items(),
                                                  self.state.lookup(running)):
            total = zero() if before is None else before[1]
            for term in terms:
                total = total + term
            if before is not None:
                weight += before[0]
                if weight and before[1] == total:  # its row stays as it is
                    updates.append((key, (weight, total, *before[2:])))
                    continue
                out.append((before[2] if len(before) > 2 else output(before[1], key), -1))
            if weight:
                row = output(total, key)
                out.append((row, 1))
                updates.append((key, (weight, total, row)))
            else:
                updates.append((key, None))
        tx.stage(self.state, updates)
        return self.out(out)


class ReduceKernel(Kernel):
    """Whole-input reduce at depth 0: exactly one output value, emitted from the first iteration."""

    KEY = ()

    def __init__(self, node: Node, store: Store) -> None:
        super().__init__(node)
        self.zero = node.params["zero"]
        self.pick = node.params["pick_value"]
        self.state = store.aggregates(node, "total", total_type=total_type(self.zero))

    def runs_idle(self) -> bool:
        return not self.state.get_many([self.KEY])

    def step(self, changes: Sequence[Changes | Loose], tx: Transaction) -> Changes:
        previous = self.state.get_many([self.KEY]).get(self.KEY)
        weight, total = previous if previous is not None else (0, self.zero())
        old_total = total
        pick = self.pick
        for value, count in items(changes[0]):
            weight += count
            total = total + pick(value) * count
        if not weight:
            total = self.zero()  # an empty input sums to exactly zero, whatever rounding did
        tx.stage(self.state, [(self.KEY, (weight, total))])
        if previous is None:
            return {total: 1}
        if total == old_total:
            return {}
        return {total: 1, old_total: -1}


def _count_one(value: Any) -> int:
    return 1


def count_params(node: Node) -> Node:
    return Node(node.id, node.kind, node.inputs, {"zero": int, "pick_value": _count_one},
                node.depth, node.t, node.name, node.origin)


class DistinctKernel(Kernel):
    def __init__(self, node: Node, store: Store) -> None:
        super().__init__(node)
        self.state = store.counts(node, "values", value_type=stored_type(node.inputs[0]))

    def step(self, changes: Sequence[Changes], tx: Transaction) -> Changes:
        delta = changes[0]
        old = self.state.get_many(delta)
        out: Changes = {}
        for value, count in delta.items():
            before = old.get(value, 0)
            after = before + count
            if before <= 0 < after:
                out[value] = 1
            elif after <= 0 < before:
                out[value] = -1
        tx.stage(self.state, delta)
        return out


class FirstNKernel(Kernel):
    """Keeps the input partitioned by group; re-ranks only the groups a change touches."""

    def __init__(self, node: Node, store: Store) -> None:
        super().__init__(node)
        index = node.params["index"]
        self.n: int = node.params["n"]
        self.group = group_keys(node)
        order = on_value(node, index.f)
        sort_key = index.sort_key
        self.rank: Callable[[Any], Any] = lambda item: (sort_key(order(item[0])), repr(item[0]))
        self.state = store.bag(node, "rows", value_type=stored_type(node.inputs[0]))

    def _first(self, rows: Mapping[Any, int]) -> dict[Any, int]:
        out: dict[Any, int] = {}
        left = self.n
        for value, count in sorted(rows.items(), key=self.rank):
            if left <= 0:
                break
            if count > 0:
                out[value] = min(count, left)
                left -= out[value]
        return out

    def step(self, changes: Sequence[Changes], tx: Transaction) -> Changes:
        by_group = partition(changes[0], self.group)
        old = self.state.get_many(by_group)
        out: Changes = {}
        for key, rows in by_group.items():
            before = old.get(key) or {}
            for value, count in self._first(before).items():
                add_count(out, value, -count)
            add_counts(out, self._first(merged(before, rows)))
        tx.stage(self.state, by_group)
        return out


# Stream operators -----------------------------------------------------------------------


class IntegrateKernel(Kernel):
    def __init__(self, node: Node, store: Store, consumed: bool) -> None:
        super().__init__(node)
        indexes = node.params["indexes"] if node.depth == 0 else ()
        self.state = store.counts(node, "values", indexes, value_type=stored_type(node))
        self.consumed = consumed

    def runs_idle(self) -> bool:
        return self.consumed

    def step(self, changes: Sequence[Changes], tx: Transaction) -> Changes:
        delta = changes[0]
        if delta:
            tx.stage(self.state, delta)
        if not self.consumed:
            return NO_CHANGES  # only read through its cache: no snapshot to build
        snapshot = dict(self.state.items())
        add_counts(snapshot, delta)
        return snapshot


class DelayKernel(Kernel):
    def __init__(self, node: Node, store: Store) -> None:
        super().__init__(node)
        self.state = store.counts(node, "previous", value_type=stored_type(node))
        self.first: Callable[[], Changes] = dict  # what it outputs before any input
        zero = node.params.get(SCALAR_ZERO)
        if zero is not None:  # a scalar stream: always one value
            self.first = lambda: {zero(): 1}

    def runs_idle(self) -> bool:
        return True

    def step(self, changes: Sequence[Changes], tx: Transaction) -> Changes:
        previous = dict(self.state.items())
        replace = {value: -count for value, count in previous.items()}
        add_counts(replace, changes[0])
        if replace:
            tx.stage(self.state, replace)
        return previous or self.first()


class MakeScalarKernel(Kernel):
    """`make_scalar`: this iteration's one value, or ``{zero(): 1}`` with no change."""

    hands_on_input = True

    def __init__(self, node: Node, store: Store) -> None:
        super().__init__(node)
        self.zero = node.params["zero"]

    def runs_idle(self) -> bool:
        return True  # a scalar stream has a value in every iteration

    def step(self, changes: Sequence[Changes], tx: Transaction) -> Changes:
        delta = changes[0]
        if not delta:
            return {self.zero(): 1}
        if len(delta) == 1 and next(iter(delta.values())) == 1:
            return delta
        shown = ", ".join(f"{value!r}: {count}" for value, count in list(delta.items())[:5])
        raise IvmError(f"st.make_scalar ({self.node.name}) takes one value with count 1 per "
                       f"iteration (or none), got {{{shown}{', …' if len(delta) > 5 else ''}}}"
                       "; nothing was changed")


class MakeSetKernel(Kernel):
    """`make_set`: a scalar already travels as ``{value: 1}``."""

    hands_on_input = True

    def __init__(self, node: Node, store: Store) -> None:
        super().__init__(node)

    def step(self, changes: Sequence[Changes], tx: Transaction) -> Changes:
        return changes[0]


class HaitchKernel(Kernel):
    """`haitch`: stateless, from this iteration's values of both streams."""

    def __init__(self, node: Node, store: Store) -> None:
        super().__init__(node)

    def step(self, changes: Sequence[Changes], tx: Transaction) -> Changes:
        before_all, delta = changes
        out: Changes = {}
        for value, count in delta.items():
            before = before_all.get(value, 0)
            after = before + count
            if before > 0 >= after:
                out[value] = -1
            elif after > 0 >= before:
                out[value] = 1
        return out


class TransitiveClosureKernel(Kernel):
    """Reachability. A source's reachable set can only change if it reached (before) the
    source of a changed edge, or is one; exactly those sources are explored again."""

    def __init__(self, node: Node, store: Store) -> None:
        super().__init__(node)
        if node.depth == 0:
            self.split: Callable[[Any], tuple[Any, Any, Any]] = _split_edge
            self.build: Callable[[Any, Any, Any], Any] = lambda keys, a, b: Pair(a, b)
        else:
            self.split = lambda item: (item[1], *_split_edge(item[0])[1:])
            self.build = lambda keys, a, b: (Pair(a, b), keys)
        self.edges = store.bag(node, "edges")      # (keys, a) → {edge item: count}
        self.paths = store.bag(node, "paths")      # (keys, a) → {path item: 1}
        self.reaching = store.bag(node, "reaching")  # (keys, b) → {path item: 1}

    def step(self, changes: Sequence[Changes], tx: Transaction) -> Changes:
        split, build = self.split, self.build
        edge_changes: dict[Any, dict[Any, int]] = {}
        for item, count in changes[0].items():
            keys, a, _ = split(item)
            edge_changes.setdefault((keys, a), {})[item] = count
        sources = set(edge_changes)
        for paths in self.reaching.get_many(list(sources)).values():
            for path in paths:
                keys, a, _ = split(path)
                sources.add((keys, a))
        old_paths = self.paths.get_many(sources)
        successors = self._successors(edge_changes)
        out: Changes = {}
        path_changes: dict[Any, dict[Any, int]] = {}
        reaching_changes: dict[Any, dict[Any, int]] = {}
        for source in sources:
            keys, a = source
            after = {build(keys, a, b) for b in self._reachable(source, successors)}
            before = old_paths.get(source) or {}
            for path in after.difference(before):
                out[path] = 1
            for path in before:
                if path not in after:
                    out[path] = -1
        for path, count in out.items():
            keys, a, b = split(path)
            path_changes.setdefault((keys, a), {})[path] = count
            reaching_changes.setdefault((keys, b), {})[path] = count
        tx.stage(self.edges, edge_changes)
        tx.stage(self.paths, path_changes)
        tx.stage(self.reaching, reaching_changes)
        return out

    def _successors(
        self, edge_changes: dict[Any, dict[Any, int]]
    ) -> Callable[[list[Any]], dict[Any, list[Any]]]:
        known: dict[Any, list[Any]] = {}
        split = self.split

        def successors(nodes: list[Any]) -> dict[Any, list[Any]]:
            missing = [n for n in nodes if n not in known]
            stored = self.edges.get_many(missing)
            for n in missing:
                edges = merged(stored.get(n), edge_changes.get(n))
                known[n] = [split(edge)[2] for edge, count in edges.items() if count > 0]
            return known

        return successors

    @staticmethod
    def _reachable(source: Any, successors: Callable[[list[Any]], dict[Any, list[Any]]]) -> set[Any]:
        keys, start = source
        seen: set[Any] = set()
        frontier = [start]
        while frontier:
            known = successors([(keys, n) for n in frontier])
            next_frontier = []
            for n in frontier:
                for b in known[(keys, n)]:
                    if b not in seen:
                        seen.add(b)
                        next_frontier.append(b)
            frontier = next_frontier
        return seen


def _split_edge(edge: Any) -> tuple[Any, Any, Any]:
    try:
        return (), edge[0], edge[1]
    except (TypeError, IndexError):
        raise IvmError(f"st.transitive_closure takes Pair(from, to) values, got {edge!r}") from None


TAKES_LOOSE = frozenset({
    OperatorKind.MAP, OperatorKind.MAP_MANY, OperatorKind.FILTER, OperatorKind.GROUP,
    OperatorKind.FLATTEN, OperatorKind.JOIN, OperatorKind.OUTER_JOIN,
    OperatorKind.GROUP_REDUCE_FLATTEN, OperatorKind.REDUCE, OperatorKind.COUNT,
})
"""Operators whose kernels take loose changes (they only map, partition or sum rows)."""


def make_kernel(node: Node, store: Store, consumers: list[Node], is_output: bool) -> Kernel:
    """The kernel of ``node``; ``consumers`` are the nodes reading its output. An output's
    changes are always consolidated."""
    kernel = _kernel(node, store, consumers, is_output)
    kernel.loose = (not is_output and bool(consumers)
                    and all(consumer.kind in TAKES_LOOSE for consumer in consumers))
    return kernel


def _kernel(node: Node, store: Store, consumers: list[Node], is_output: bool) -> Kernel:
    kind = node.kind
    consumed = bool(consumers) or is_output
    if kind == OperatorKind.INPUT:
        sole = consumers[0] if len(consumers) == 1 and not is_output else None
        return InputKernel(node, store, sole)
    if kind == OperatorKind.INTEGRATE:
        return IntegrateKernel(node, store, consumed)
    if kind in (OperatorKind.REDUCE, OperatorKind.COUNT):
        node = count_params(node) if kind == OperatorKind.COUNT else node
        if node.depth == 0:
            return ReduceKernel(node, store)
        return GroupReduceKernel(node, store)
    return _SIMPLE[kind](node, store)


_SIMPLE: dict[OperatorKind, Callable[[Node, Store], Kernel]] = {
    OperatorKind.MAP: MapKernel,
    OperatorKind.MAP_MANY: MapManyKernel,
    OperatorKind.FILTER: FilterKernel,
    OperatorKind.ADD: AddKernel,
    OperatorKind.NEG: NegKernel,
    OperatorKind.GROUP: GroupKernel,
    OperatorKind.FLATTEN: FlattenKernel,
    OperatorKind.JOIN: JoinKernel,
    OperatorKind.OUTER_JOIN: OuterJoinKernel,
    OperatorKind.GROUP_REDUCE_FLATTEN: GroupReduceKernel,
    OperatorKind.DISTINCT: DistinctKernel,
    OperatorKind.FIRST_N: FirstNKernel,
    OperatorKind.DELAY: DelayKernel,
    OperatorKind.MAKE_SCALAR: MakeScalarKernel,
    OperatorKind.MAKE_SET: MakeSetKernel,
    OperatorKind.HAITCH: HaitchKernel,
    OperatorKind.TRANSITIVE_CLOSURE: TransitiveClosureKernel,
}
