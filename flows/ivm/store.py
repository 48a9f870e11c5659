"""Stores hold a graph's state between iterations. `StorePython` keeps it in memory; the SQL
stores (`flows.ivm.sql`) keep it in tables.

A store is built for one graph (``StorePython.from_graph(graph)``); every iteration runs in
one transaction (``store.begin()``, then ``commit`` or ``rollback``): the kernels stage their
state changes there and the store applies all of them when the iteration succeeded, or none
when it raised. `StoreBase` holds that commit sequence once; a store only says how it begins,
writes durably and rolls back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar, cast

from flows.ivm.errors import StoreError
from flows.ivm.graph import Graph, Node
from flows.ivm.index import Index
from flows.ivm.state import (
    Aggregates,
    Bag,
    Counts,
    PythonAggregates,
    PythonBag,
    PythonCounts,
    PythonIndexedCounts,
)
from flows.ivm.zset import MATCH_ALL, MatchAll, ZSet, ZSetPython, table

T = TypeVar("T")
K = TypeVar("K")
S = TypeVar("S")


class Store(Protocol):
    """What running a graph (`flows.ivm.run`), its kernels and `Cache.zset` need from a store:
    its graph, a transaction per iteration (`begin`, then `commit` or `rollback`), the named
    state primitives of each node, and the caches."""

    graph: Graph[Any, Any]
    # Where `flows.ivm.run` keeps the runner it built for this store (None until then).
    runner_slot: Any

    def begin(self) -> StagedChanges: ...

    def commit(self, staged: StagedChanges) -> None: ...

    def rollback(self) -> None: ...

    def cached_zset(self, node_name: str) -> ZSet[Any]: ...

    def counts(self, node: Node, role: str, indexes: tuple[Any, ...] = (),
               value_type: Any = None) -> Counts: ...

    def bag(self, node: Node, role: str, value_type: Any = None) -> Bag: ...

    def aggregates(self, node: Node, role: str, total_type: Any = None) -> Aggregates: ...


class StagedChanges:
    """The changes one iteration staged, applied together at commit."""

    __slots__ = ("before_commit", "check_removals", "staged")

    def __init__(self) -> None:
        self.staged: list[tuple[Callable[[Any], Callable[[], None]], Any]] = []  # (prepare, changes)
        # `Action`s refuse to remove what an input does not hold; `iteration` takes any
        # weights (DBSP: an input is a stream of Z-sets, negative counts and all).
        self.check_removals = True
        # Called inside the iteration's transaction, after its writes, before COMMIT.
        self.before_commit: list[Callable[[], None]] = []

    def stage(self, state: Any, changes: Any) -> None:
        if changes:
            self.staged.append((state.prepare, changes))

    def prepare(self) -> list[Callable[[], None]]:
        """Every state's writes prepared (durable stores write them here), then the
        ``before_commit`` hooks; what is left to apply to in-memory state after COMMIT."""
        appliers = self.prepare_states()
        self.run_hooks()
        return appliers

    def prepare_states(self) -> list[Callable[[], None]]:
        return [prepare(changes) for prepare, changes in self.staged]

    def run_hooks(self) -> None:
        for hook in self.before_commit:
            hook()


class StoreBase:
    """The commit sequence every store shares: one iteration at a time; begin; the kernels
    stage their changes; the store writes them and commits (`_write`); only then is in-memory
    state updated. Any exception rolls back and leaves the state as it was."""

    graph: Graph[Any, Any]
    runner_slot: Any = None
    _in_transaction = False

    def begin(self) -> StagedChanges:
        """Start an iteration: what its kernels stage their changes on. Then exactly one of
        `commit` or `rollback`. (Plain methods, not a context manager: they run once per
        iteration, and one read per call makes that the hot path.)"""
        if self._in_transaction:
            raise StoreError("an iteration is already running on this store (nested call from "
                             "inside a query function?)")
        self._in_transaction = True
        try:
            self._begin()
        except BaseException:
            self._in_transaction = False
            raise
        return StagedChanges()

    def commit(self, staged: StagedChanges) -> None:
        """Write what the iteration staged and commit; then update the in-memory state. If
        the write fails, everything is rolled back and the error raised."""
        try:
            try:
                appliers = self._write(staged)
            except BaseException:
                self._rollback()
                raise
            for apply in appliers:
                apply()
        finally:
            self._in_transaction = False

    def rollback(self) -> None:
        """End the iteration with nothing of it kept."""
        try:
            self._rollback()
        finally:
            self._in_transaction = False

    def _begin(self) -> None:
        """Start the iteration's transaction (durable stores: and lock the store)."""

    def _write(self, staged: StagedChanges) -> list[Callable[[], None]]:
        """Write ``staged`` and commit; what to apply to in-memory state afterwards."""
        return staged.prepare()

    def _rollback(self) -> None:
        """Undo what `_begin` and `_write` started."""


class StorePython(StoreBase):
    """Keeps all state in Python dicts: fast, and gone when the process ends."""

    def __init__(self, graph: Graph[Any, Any]) -> None:
        self.graph = graph
        self._states: dict[tuple[str, str], Any] = {}

    @classmethod
    def from_graph(cls, graph: Graph[Any, Any]) -> StorePython:
        return cls(graph)

    # State primitives, one per (node, role) -------------------------------------------

    def counts(self, node: Node, role: str, indexes: tuple[Any, ...] = (),
               value_type: Any = None) -> PythonCounts | PythonIndexedCounts:
        if indexes:
            return self._state(node, role, lambda: PythonIndexedCounts(indexes))
        return self._state(node, role, PythonCounts)

    def bag(self, node: Node, role: str, value_type: Any = None) -> PythonBag:
        return self._state(node, role, PythonBag)

    def aggregates(self, node: Node, role: str, total_type: Any = None) -> PythonAggregates:
        return self._state(node, role, PythonAggregates)

    def _state(self, node: Node, role: str, make: Callable[[], S]) -> S:
        key = (node.name, role)
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = make()
        return cast(S, state)

    def cached_zset(self, node_name: str) -> CachedZSet[Any]:
        try:
            node = self.graph.caches[node_name]
        except KeyError:
            raise StoreError(f"no cache {node_name!r} in this store's query "
                             f"{self.graph.name!r}") from None
        return CachedZSet(self.counts(node, "values", node.params["indexes"]))


class CacheView(ZSet[T]):
    """A read-only view of a cache's integrated Z-set, as its store holds it now. Stores
    provide `iter`, `iter_by_index` and `indexes`; arithmetic works on a copy."""

    @property
    def indexes(self) -> tuple[Index[T, Any], ...]:
        raise NotImplementedError

    def iter(self, match: frozenset[T] | MatchAll = MATCH_ALL) -> Iterator[tuple[T, int]]:
        raise NotImplementedError

    def iter_by_index(
        self, index: Index[T, K], match_keys: frozenset[K] | MatchAll = MATCH_ALL
    ) -> Iterator[tuple[K, T, int]]:
        raise NotImplementedError

    def to_python(self) -> ZSetPython[T]:
        """A copy in memory, as it stands now."""
        return ZSetPython(dict(self.iter()), self.indexes)

    to_zset = to_python

    def __eq__(self, other: object) -> bool:
        # Equal to any Z-set with the same values and counts (a ZSetPython, another cache).
        if isinstance(other, (ZSetPython, CacheView)):
            return dict(self.iter()) == dict(other.iter())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # it changes with its store

    def __str__(self) -> str:
        return table(f"<{type(self).__name__}>", self.iter())

    def __add__(self, other: ZSet[T]) -> ZSet[T]:
        return self.to_zset() + other

    def __neg__(self) -> ZSet[T]:
        return -self.to_zset()


class CachedZSet(CacheView[T]):
    """A cache of `StorePython`: reads its live counts."""

    def __init__(self, counts: PythonCounts | PythonIndexedCounts) -> None:
        self._counts = counts

    @property
    def indexes(self) -> tuple[Index[T, Any], ...]:
        return self._counts.indexes

    def iter(self, match: frozenset[T] | MatchAll = MATCH_ALL) -> Iterator[tuple[T, int]]:
        if isinstance(match, MatchAll):
            yield from list(self._counts.items())
        else:
            yield from self._counts.get_many(match).items()

    def iter_by_index(
        self, index: Index[T, K], match_keys: frozenset[K] | MatchAll = MATCH_ALL
    ) -> Iterator[tuple[K, T, int]]:
        keys = None if isinstance(match_keys, MatchAll) else match_keys
        yield from list(self._counts.iter_by_index(index, keys))

    def __len__(self) -> int:
        return len(self._counts)

    def __repr__(self) -> str:
        return f"<CachedZSet {len(self)} values>"
