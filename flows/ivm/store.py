"""Stores hold a graph's state between iterations. `StorePython` keeps it in memory.

A store is built for one graph (``StorePython.from_graph(graph)``); every iteration runs in
``store.transaction()``: the kernels stage their state changes there and the store applies all
of them when the iteration succeeded, or none when it raised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from flows.ivm.errors import StoreError
from flows.ivm.graph import Graph, Node
from flows.ivm.index import Index
from flows.ivm.run import Runner, check_graph
from flows.ivm.state import Aggregates, Bag, Counts, PythonAggregates, PythonBag, PythonCounts
from flows.ivm.zset import MATCH_ALL, MatchAll, ZSet, ZSetPython

T = TypeVar("T")
K = TypeVar("K")


class Store(Protocol):
    """What `actions`, `iteration` and `Cache.zset` need from a store."""

    graph: Graph[Any, Any]

    def runner(self, graph: Graph[Any, Any]) -> Runner: ...

    def transaction(self) -> Any: ...

    def cached_zset(self, node_name: str) -> ZSet[Any]: ...

    def counts(self, node: Node, role: str, indexes: tuple[Any, ...] = (),
               value_type: Any = None) -> Counts: ...

    def bag(self, node: Node, role: str, value_type: Any = None) -> Bag: ...

    def aggregates(self, node: Node, role: str, total_type: Any = None) -> Aggregates: ...


class StagedChanges:
    """The changes one iteration staged, applied together at commit."""

    __slots__ = ("before_commit", "staged")

    def __init__(self) -> None:
        self.staged: list[tuple[Any, Any]] = []
        # Called inside the iteration's transaction, after its writes, before COMMIT.
        self.before_commit: list[Callable[[], None]] = []

    def stage(self, state: Any, changes: Any) -> None:
        if changes:
            self.staged.append((state, changes))

    def commit(self) -> None:
        appliers: list[Callable[[], None]] = [state.prepare(changes) for state, changes in self.staged]
        for hook in self.before_commit:
            hook()
        for apply in appliers:
            apply()


class StorePython:
    """Keeps all state in Python dicts: fast, and gone when the process ends."""

    def __init__(self, graph: Graph[Any, Any]) -> None:
        self.graph = graph
        self._states: dict[tuple[str, str], Any] = {}
        self._in_transaction = False
        self._runner = Runner(self, graph)

    @classmethod
    def from_graph(cls, graph: Graph[Any, Any]) -> StorePython:
        return cls(graph)

    def runner(self, graph: Graph[Any, Any]) -> Runner:
        check_graph(self.graph, graph)
        return self._runner

    @contextmanager
    def transaction(self) -> Iterator[StagedChanges]:
        if self._in_transaction:
            raise StoreError("an iteration is already running on this store (nested call from "
                             "inside a query function?)")
        self._in_transaction = True
        try:
            staged = StagedChanges()
            yield staged
            staged.commit()
        finally:
            self._in_transaction = False

    # State primitives, one per (node, role) -------------------------------------------

    def counts(self, node: Node, role: str, indexes: tuple[Any, ...] = (),
               value_type: Any = None) -> PythonCounts:
        return self._state(node, role, lambda: PythonCounts(indexes))  # type: ignore[no-any-return]

    def bag(self, node: Node, role: str, value_type: Any = None) -> PythonBag:
        return self._state(node, role, PythonBag)  # type: ignore[no-any-return]

    def aggregates(self, node: Node, role: str, total_type: Any = None) -> PythonAggregates:
        return self._state(node, role, PythonAggregates)  # type: ignore[no-any-return]

    def _state(self, node: Node, role: str, make: Callable[[], Any]) -> Any:
        key = (node.name, role)
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = make()
        return state

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

    def to_zset(self) -> ZSetPython[T]:
        return ZSetPython(dict(self.iter()), self.indexes)

    def __add__(self, other: ZSet[T]) -> ZSet[T]:
        return self.to_zset() + other

    def __neg__(self) -> ZSet[T]:
        return -self.to_zset()


class CachedZSet(CacheView[T]):
    """A cache of `StorePython`: reads its live counts."""

    def __init__(self, counts: PythonCounts) -> None:
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
        return len(self._counts.counts)

    def __repr__(self) -> str:
        return f"<CachedZSet {len(self)} values>"
