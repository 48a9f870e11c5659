"""Stores hold a graph's state between iterations. `StorePython` keeps it in memory; the SQL
stores (`flows.ivm.sql`) keep it in tables.

A store is built for one graph (``StorePython.from_graph(graph)``); every iteration runs in
``store.transaction()``: the kernels stage their state changes there and the store applies all
of them when the iteration succeeded, or none when it raised. `StoreBase` holds that commit
sequence once; a store only says how it begins, writes durably and rolls back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Protocol, TypeVar, cast

from flows.ivm.errors import StoreError
from flows.ivm.graph import Graph, Node
from flows.ivm.index import Index
from flows.ivm.state import Aggregates, Bag, Counts, PythonAggregates, PythonBag, PythonCounts
from flows.ivm.zset import MATCH_ALL, MatchAll, ZSet, ZSetPython, table

T = TypeVar("T")
K = TypeVar("K")
S = TypeVar("S")


class Store(Protocol):
    """What running a graph (`flows.ivm.run`), its kernels and `Cache.zset` need from a store:
    its graph, a transaction per iteration, the named state primitives of each node, and the
    caches."""

    graph: Graph[Any, Any]
    # Where `flows.ivm.run` keeps the runner it built for this store (None until then).
    runner_slot: Any

    def transaction(self) -> AbstractContextManager[StagedChanges]: ...

    def cached_zset(self, node_name: str) -> ZSet[Any]: ...

    def counts(self, node: Node, role: str, indexes: tuple[Any, ...] = (),
               value_type: Any = None) -> Counts: ...

    def bag(self, node: Node, role: str, value_type: Any = None) -> Bag: ...

    def aggregates(self, node: Node, role: str, total_type: Any = None) -> Aggregates: ...


class StagedChanges:
    """The changes one iteration staged, applied together at commit."""

    __slots__ = ("before_commit", "check_removals", "staged")

    def __init__(self) -> None:
        self.staged: list[tuple[Any, Any]] = []
        # `Action`s refuse to remove what an input does not hold; `iteration` takes any
        # weights (DBSP: an input is a stream of Z-sets, negative counts and all).
        self.check_removals = True
        # Called inside the iteration's transaction, after its writes, before COMMIT.
        self.before_commit: list[Callable[[], None]] = []

    def stage(self, state: Any, changes: Any) -> None:
        if changes:
            self.staged.append((state, changes))

    def prepare(self) -> list[Callable[[], None]]:
        """Every state's writes prepared (durable stores write them here), then the
        ``before_commit`` hooks; what is left to apply to in-memory state after COMMIT."""
        appliers = self.prepare_states()
        self.run_hooks()
        return appliers

    def prepare_states(self) -> list[Callable[[], None]]:
        return [state.prepare(changes) for state, changes in self.staged]

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

    def transaction(self) -> AbstractContextManager[StagedChanges]:
        return _Iteration(self)

    def _begin(self) -> None:
        """Start the iteration's transaction (durable stores: and lock the store)."""

    def _write(self, staged: StagedChanges) -> list[Callable[[], None]]:
        """Write ``staged`` and commit; what to apply to in-memory state afterwards."""
        return staged.prepare()

    def _rollback(self) -> None:
        """Undo what `_begin` and `_write` started."""


class _Iteration:
    """`StoreBase.transaction`: a class, not a generator, as it runs once per iteration."""

    __slots__ = ("staged", "store")

    def __init__(self, store: StoreBase) -> None:
        self.store = store

    def __enter__(self) -> StagedChanges:
        store = self.store
        if store._in_transaction:
            raise StoreError("an iteration is already running on this store (nested call from "
                             "inside a query function?)")
        store._in_transaction = True
        try:
            store._begin()
        except BaseException:
            store._in_transaction = False
            raise
        self.staged = StagedChanges()
        return self.staged

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        store = self.store
        try:
            if kind is not None:
                store._rollback()
                return
            try:
                appliers = store._write(self.staged)
            except BaseException:
                store._rollback()
                raise
            for apply in appliers:
                apply()
        finally:
            store._in_transaction = False


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
               value_type: Any = None) -> PythonCounts:
        return self._state(node, role, lambda: PythonCounts(indexes))

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
