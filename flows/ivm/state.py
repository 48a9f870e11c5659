"""State primitives that operators keep between iterations, and their in-memory versions.

Kernels only read state through batched lookups (`get_many`) and only change it by staging
changes on the iteration's `Transaction`; a store applies them all at commit or none at all.
`prepare(changes)` does everything that can fail (e.g. computing index keys with the user's
functions) and returns a function that only applies, so a commit never stops half-way.
That small surface is what a store backend (Python dicts, SQLite, PostgreSQL) implements.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from functools import partial
from typing import Any, Protocol

from flows.ivm.errors import StoreError
from flows.ivm.index import Index


class Counts(Protocol):
    """An integrated Z-set: value → count, optionally indexed for `iter_by_index`."""

    indexes: tuple[Index[Any, Any], ...]

    def get_many(self, values: Iterable[Any]) -> Mapping[Any, int]: ...

    def items(self) -> Iterable[tuple[Any, int]]: ...

    def iter_by_index(self, index: Index[Any, Any], keys: Any) -> Iterator[tuple[Any, Any, int]]: ...

    def prepare(self, changes: Mapping[Any, int]) -> Callable[[], None]: ...


class Bag(Protocol):
    """An integrated Z-set partitioned by a key: key → {value: count}."""

    def get_many(self, keys: Iterable[Any]) -> Mapping[Any, Mapping[Any, int]]: ...

    def lookup(self, keys: Collection[Any]) -> Iterable[Mapping[Any, int] | None]:
        """Each key's values (None: none), in the keys' order, iterated once."""
        ...

    def prepare(self, changes: Mapping[Any, Mapping[Any, int]]) -> Callable[[], None]: ...


class Aggregates(Protocol):
    """Per group key: (weight, total) of a running sum — or (weight, total, row), the row a
    kernel output for it, which a store may keep (in memory) or drop."""

    def get_many(self, keys: Iterable[Any]) -> Mapping[Any, tuple[Any, ...]]: ...

    def lookup(self, keys: Collection[Any]) -> Iterable[tuple[Any, ...] | None]:
        """Each key's entry (None: none), in the keys' order, iterated once."""
        ...

    def prepare(self, changes: list[tuple[Any, tuple[Any, ...] | None]]) -> Callable[[], None]:
        """``(key, entry)`` pairs, each key once; None removes the key's entry."""
        ...


class Transaction(Protocol):
    check_removals: bool  # whether inputs refuse to go below zero (actions) or not (iteration)

    def stage(self, state: Any, changes: Any) -> None: ...


def add_count(counts: dict[Any, int], value: Any, change: int) -> int:
    """``counts[value] += change`` in place, a count that reaches zero dropped; returns the
    count before. Hashes ``value`` once in the usual cases — a new value added, a value's last
    count taken away — where a get and a set would hash it twice: hashing a `Data` value is a
    Python call, and these run for every row that state keeps."""
    if change > 0:
        size = len(counts)
        old = counts.setdefault(value, change)
        if len(counts) > size:
            return 0
        if old + change:
            counts[value] = old + change
        else:
            del counts[value]
        return old
    old = counts.pop(value, 0)
    if old + change:
        counts[value] = old + change
    return old


def add_counts(counts: dict[Any, int], changes: Mapping[Any, int]) -> None:
    """``counts`` plus ``changes``, in place; a count that reaches zero is dropped."""
    for value, change in changes.items():
        add_count(counts, value, change)


# In-memory implementations. `get_many` returns live inner dicts: callers must not change them.


class PythonCounts:
    """Value → count, without indexes."""

    def __init__(self) -> None:
        self.indexes: tuple[Index[Any, Any], ...] = ()
        self.counts: dict[Any, int] = {}
        # Nothing can fail before applying: `prepare` only binds the changes, in C (a Python
        # frame per state per iteration counts when an iteration is one read).
        self.prepare: Callable[[Mapping[Any, int]], Callable[[], None]] = (
            partial(partial, add_counts, self.counts))

    def get_many(self, values: Iterable[Any]) -> Mapping[Any, int]:
        counts = self.counts
        get = counts.get  # one lookup per value (hashing is the cost: values' hashes are Python)
        return {value: count for value in values if (count := get(value)) is not None}

    def items(self) -> Iterable[tuple[Any, int]]:
        return self.counts.items()

    def __len__(self) -> int:
        return len(self.counts)

    def iter_by_index(self, index: Index[Any, Any], keys: Any) -> Iterator[tuple[Any, Any, int]]:
        raise _no_index(index, self.indexes)


class PythonIndexedCounts:
    """Value → count with indexes for `iter_by_index`. The counts live in the first index,
    key → {value: count}: a changed value is hashed once, where a counts dict beside the index
    hashed it twice (a `Data` value's hash is a Python call). Each further index maps
    key → values (a dict used as an insertion-ordered set)."""

    def __init__(self, indexes: tuple[Index[Any, Any], ...]) -> None:
        self.indexes = indexes
        self._first_key = indexes[0].f
        self._buckets: dict[Any, dict[Any, int]] = {}
        self._members: list[dict[Any, dict[Any, None]]] = [{} for _ in indexes[1:]]
        self.prepare: Callable[[Mapping[Any, int]], Callable[[], None]] = self._prepare

    def get_many(self, values: Iterable[Any]) -> Mapping[Any, int]:
        buckets, first_key = self._buckets, self._first_key
        out = {}
        for value in values:
            try:
                key = first_key(value)
            except Exception:  # noqa: BLE001 - a value its index cannot key was never stored
                continue
            bucket = buckets.get(key)
            if bucket is not None and (count := bucket.get(value)) is not None:
                out[value] = count
        return out

    def items(self) -> Iterable[tuple[Any, int]]:
        return [pair for bucket in self._buckets.values() for pair in bucket.items()]

    def __len__(self) -> int:
        return sum(map(len, self._buckets.values()))

    def iter_by_index(self, index: Index[Any, Any], keys: Any) -> Iterator[tuple[Any, Any, int]]:
        if index not in self.indexes:
            raise _no_index(index, self.indexes)
        position = self.indexes.index(index)
        by_key: Mapping[Any, Mapping[Any, Any]] = (
            self._buckets if position == 0 else self._members[position - 1])
        present = by_key.keys() if keys is None else [k for k in keys if k in by_key]
        buckets, first_key = self._buckets, self._first_key
        for key in sorted(present, key=index.sort_key):
            if position == 0:
                for value, count in by_key[key].items():
                    yield key, value, count
            else:
                for value in by_key[key]:
                    yield key, value, buckets[first_key(value)][value]

    def _prepare(self, changes: Mapping[Any, int]) -> Callable[[], None]:
        # Each value's key in every index (the user's functions: may raise, so before apply).
        indexes = self.indexes
        if len(indexes) == 1:  # the usual: no tuple of keys per value
            return partial(self._apply, changes, list(map(indexes[0].f, changes)), True)
        keys = list(zip(*(map(index.f, changes) for index in indexes)))
        return partial(self._apply, changes, keys, False)

    def _apply(self, changes: Mapping[Any, int], keys: list[Any], one_index: bool) -> None:
        """``keys``: each value's key (``one_index``), or its tuple of keys, one per index."""
        buckets = self._buckets
        for (value, change), value_keys in zip(changes.items(), keys):
            first = value_keys if one_index else value_keys[0]
            bucket = buckets.get(first)
            if bucket is None:
                bucket = buckets[first] = {}
            old = add_count(bucket, value, change)
            if not bucket:
                del buckets[first]
            if one_index or bool(old) == bool(old + change):
                continue  # no further index, or a member of its keys before and after
            for key, by_key in zip(value_keys[1:], self._members):
                if old + change:
                    members = by_key.get(key)
                    if members is None:
                        by_key[key] = {value: None}
                    else:
                        members[value] = None
                else:
                    members = by_key[key]
                    del members[value]
                    if not members:
                        del by_key[key]


def _no_index(index: Index[Any, Any], indexes: tuple[Index[Any, Any], ...]) -> StoreError:
    names = ", ".join(str(i.names) for i in indexes) or "none"
    return StoreError(f"no index {index.names} here (indexes: {names})")


class PythonBag:
    def __init__(self) -> None:
        self.data: dict[Any, dict[Any, int]] = {}
        # Both in C (a Python frame per state per iteration counts when an iteration is one
        # read): `lookup` maps the keys lazily; nothing can fail before applying, so
        # `prepare` only binds the changes to `_apply`.
        self.lookup: Callable[[Collection[Any]], Iterable[Mapping[Any, int] | None]] = (
            partial(map, self.data.get))
        self.prepare: Callable[[Mapping[Any, Mapping[Any, int]]], Callable[[], None]] = (
            partial(partial, self._apply))

    def get_many(self, keys: Iterable[Any]) -> Mapping[Any, Mapping[Any, int]]:
        data = self.data
        get = data.get
        return {key: found for key in keys if (found := get(key)) is not None}

    def _apply(self, changes: Mapping[Any, Mapping[Any, int]]) -> None:
        data = self.data
        for key, values in changes.items():
            bucket = data.get(key)
            if bucket is None:
                data[key] = dict(values)  # changes hold no zero counts
                continue
            if bucket.keys().isdisjoint(values):  # only new values (the usual): in C
                bucket.update(values)
                continue
            add_counts(bucket, values)
            if not bucket:
                del data[key]


class PythonAggregates:
    def __init__(self) -> None:
        self.data: dict[Any, tuple[Any, ...]] = {}
        # In C, as `PythonBag`'s.
        self.lookup: Callable[[Collection[Any]], Iterable[tuple[Any, ...] | None]] = (
            partial(map, self.data.get))
        self.prepare: Callable[[list[tuple[Any, tuple[Any, ...] | None]]], Callable[[], None]] = (
            partial(partial, self._apply))

    def get_many(self, keys: Iterable[Any]) -> Mapping[Any, tuple[Any, ...]]:
        data = self.data
        get = data.get
        return {key: found for key in keys if (found := get(key)) is not None}

    def _apply(self, changes: list[tuple[Any, tuple[Any, ...] | None]]) -> None:
        data = self.data
        for key, value in changes:
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
