"""State primitives kept in SQL tables, with an in-memory mirror of what was read or written.

Each primitive is one table. Reads go to the mirror first and fetch only the missing keys, in one
batched query; writes happen when the iteration commits (`prepare` writes the rows inside the
open database transaction and returns the mirror update, which runs only after COMMIT). The
store clears every mirror whenever another process committed in between (see `SqlStore`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from itertools import repeat
from operator import itemgetter
from typing import Any

from flows.ivm.codec import Codec, encode
from flows.ivm.errors import StoreError
from flows.ivm.index import Index
from flows.ivm.sql.dialect import CHUNK, Dialect
from flows.ivm.state import add_counts


@dataclass(frozen=True)
class KeyColumns:
    """The typed columns one index of a cache table is stored in."""

    index: Index[Any, Any]
    columns: tuple[str, ...]
    types: tuple[Any, ...]

    def parts(self, key: Any) -> tuple[Any, ...]:
        return tuple(key) if self.index.is_composite else (key,)


def _unique_encodings(values: list[Any], texts: list[str], where: str) -> None:
    if len(set(texts)) == len(texts):
        return
    seen: dict[str, Any] = {}
    for value, text in zip(values, texts):
        other = seen.setdefault(text, value)
        if other is not value and other != value:
            raise StoreError(f"{where}: {value!r} and {other!r} are different values with the "
                             f"same stored form {text}; give them distinct types or fields")


class SqlCounts:
    """value → count (inputs, distinct, integrate/caches, delay)."""

    def __init__(self, dialect: Dialect, table: str, codec: Codec,
                 key_columns: tuple[KeyColumns, ...] = (), clustered: bool = False) -> None:
        self.dialect, self.table, self.codec = dialect, table, codec
        # Clustered: the first index's columns lead the primary key (see create_counts_table).
        self.cluster = key_columns[0].columns if clustered else ()
        self.cluster_types = key_columns[0].types if clustered else ()
        self.key_columns = key_columns
        self.indexes = tuple(k.index for k in key_columns)
        # Indexes may share a column (two indexes on the same field): write each column once.
        every_column = tuple(c for k in key_columns for c in k.columns)
        self.column_positions = _first_occurrences(every_column)
        self.columns = tuple(every_column[p] for p in self.column_positions)
        every_type = tuple(t for k in key_columns for t in k.types)
        self.column_types = tuple(every_type[p] for p in self.column_positions)
        self.to_columns = self._columns_function(dialect, key_columns)
        self.clear_mirror()

    def clear_mirror(self) -> None:
        self.known: dict[Any, int] = {}
        self.absent: set[Any] = set()
        self.complete = False

    def get_many(self, values: Iterable[Any]) -> Mapping[Any, int]:
        known, absent = self.known, self.absent
        out: dict[Any, int] = {}
        missing: list[Any] = []
        for value in values:
            count = known.get(value)
            if count is not None:
                out[value] = count
            elif not self.complete and value not in absent:
                missing.append(value)
        if missing:
            texts = [encode(value) for value in missing]
            stored = self.dialect.counts_lookup(self.table, texts)
            for value, text in zip(missing, texts):
                count = stored.get(text)
                if count:
                    known[value] = out[value] = count
                else:
                    absent.add(value)
        return out

    def items(self) -> Iterable[tuple[Any, int]]:
        if not self.complete:
            rows = self.dialect.counts_scan(self.table, self.codec.needs_payload)
            values = self.codec.decode_many([row[0] for row in rows], [row[1] for row in rows])
            self.known = {value: row[2] for value, row in zip(values, rows)}
            self.absent = set()
            self.complete = True
        return self.known.items()

    def iter_by_index(self, index: Index[Any, Any], keys: Any) -> Iterator[tuple[Any, Any, int]]:
        columns = next((k for k in self.key_columns if k.index == index), None)
        if columns is None:
            names = ", ".join(str(k.index.names) for k in self.key_columns) or "none"
            raise StoreError(f"no index {index.names} on {self.table} (indexes: {names})")
        key_rows = None if keys is None else [
            self.dialect.key_row(columns.parts(key), columns.types) for key in keys]
        rows = self.dialect.rows_by_key(self.table, columns.columns, index.ascending, key_rows,
                                        self.codec.needs_payload, columns.types)
        payloads = list(map(itemgetter(2), rows)) if self.codec.needs_payload else None
        values = self.codec.decode_many(list(map(itemgetter(0), rows)), payloads)
        counts = map(itemgetter(1), rows)
        if key_rows is not None and len(key_rows) == 1 and values:
            # One key asked: every row has it (zip and map build the triples in C).
            found = list(zip(repeat(index.f(values[0])), values, counts))
        else:
            found = list(zip(map(index.f, values), values, counts))
        several_queries = key_rows is not None and len(key_rows) > CHUNK // len(columns.columns)
        if several_queries or not self.dialect.orders_like_python(columns.types):
            found.sort(key=lambda row: index.sort_key(row[0]))
        return iter(found)

    def _columns_function(self, dialect: Dialect,
                          key_columns: tuple[KeyColumns, ...]) -> Callable[[Any], tuple[Any, ...]]:
        """value → the values of its key columns, as stored (each distinct column once)."""
        if len(key_columns) == 1 and not key_columns[0].index.is_composite:
            f, convert = key_columns[0].index.f, dialect.converter(key_columns[0].types[0])
            return lambda value: (convert(f(value)),)
        positions, key_row = self.column_positions, dialect.key_row

        def columns(value: Any) -> tuple[Any, ...]:
            parts: list[Any] = []
            for k in key_columns:
                parts.extend(key_row(k.parts(k.index.f(value)), k.types))
            return tuple(parts[p] for p in positions)

        return columns

    def prepare(self, changes: Mapping[Any, int]) -> Callable[[], None]:
        values = list(changes)
        texts = list(map(encode, values))
        _unique_encodings(values, texts, self.table)
        payloads = map(self.codec.payload, values) if self.codec.needs_payload else repeat(None)
        heads: Any = zip(texts, payloads, changes.values())
        rows: list[tuple[Any, ...]]
        if self.key_columns:
            rows = [head + columns for head, columns in zip(heads, map(self.to_columns, values))]
        else:
            rows = list(heads)
        self.dialect.counts_add(self.table, self.columns, rows, self.column_types, self.cluster)
        width = len(self.cluster)
        removed = [(*row[3:3 + width], row[0]) for row in rows if row[2] < 0]
        if removed:
            self.dialect.delete_zero_counts(self.table, removed, self.cluster, self.cluster_types)
        return partial(self._apply, changes)

    def _apply(self, changes: Mapping[Any, int]) -> None:
        known, absent, complete = self.known, self.absent, self.complete
        if not (known or absent or complete):
            return  # nothing mirrored (a cache only written here): the table has it all
        for value, change in changes.items():
            if value in known:
                new = known[value] + change
                if new:
                    known[value] = new
                else:
                    del known[value]
                    absent.add(value)
            elif complete or value in absent:
                absent.discard(value)
                known[value] = change


def _first_occurrences(columns: tuple[str, ...]) -> tuple[int, ...]:
    """Positions of the distinct column names (indexes may share a column)."""
    seen: dict[str, int] = {}
    for position, column in enumerate(columns):
        seen.setdefault(column, position)
    return tuple(seen.values())


class _KeyedState:
    """What `SqlBag` and `SqlAggregates` share: a table of entries by key, mirrored in memory
    as far as read (`known`), and looked up in the keys' order through `get_many`."""

    def __init__(self, dialect: Dialect, table: str, codec: Codec) -> None:
        self.dialect, self.table, self.codec = dialect, table, codec
        self.clear_mirror()

    def clear_mirror(self) -> None:
        raise NotImplementedError

    def get_many(self, keys: Iterable[Any]) -> Mapping[Any, Any]:
        raise NotImplementedError

    def lookup(self, keys: Collection[Any]) -> list[Any]:
        """Each key's entry (None: none), in the keys' order."""
        found = self.get_many(keys)
        return [found.get(key) for key in keys]


class SqlBag(_KeyedState):
    """key → {value: count} (join sides, first_n rows, recursion edges and paths)."""

    def clear_mirror(self) -> None:
        self.known: dict[Any, dict[Any, int]] = {}

    def get_many(self, keys: Iterable[Any]) -> Mapping[Any, Mapping[Any, int]]:
        known = self.known
        out: dict[Any, Mapping[Any, int]] = {}
        missing: list[Any] = []
        for key in keys:
            bucket = known.get(key)
            if bucket is None:
                missing.append(key)
            elif bucket:
                out[key] = bucket
        if missing:
            texts = [encode(key) for key in missing]
            by_text: dict[str, dict[Any, int]] = {}
            decode = self.codec.decode
            for key_text, text, payload, count in self.dialect.bag_lookup(
                    self.table, texts, self.codec.needs_payload):
                by_text.setdefault(key_text, {})[decode(text, payload)] = count
            for key, text in zip(missing, texts):
                bucket = known[key] = by_text.get(text, {})
                if bucket:
                    out[key] = bucket
        return out

    def prepare(self, changes: Mapping[Any, Mapping[Any, int]]) -> Callable[[], None]:
        rows: list[tuple[Any, ...]] = []
        add = rows.append
        payload = self.codec.payload if self.codec.needs_payload else None
        for key, values in changes.items():
            key_text = encode(key)
            for value, change in values.items():
                add((key_text, encode(value), payload(value) if payload else None, change))
        if len({row[:2] for row in rows}) != len(rows):
            for values in changes.values():  # find the clash, to name it
                _unique_encodings(list(values), [encode(value) for value in values], self.table)
        self.dialect.bag_add(self.table, rows, self.codec.needs_payload)
        removed = [row[:2] for row in rows if row[3] < 0]
        if removed:
            self.dialect.delete_zero_bag_rows(self.table, removed)
        return partial(self._apply, changes)

    def _apply(self, changes: Mapping[Any, Mapping[Any, int]]) -> None:
        known = self.known
        for key, values in changes.items():
            bucket = known.get(key)
            if bucket is None:
                continue  # never read here: the table has it
            add_counts(bucket, values)


class SqlAggregates(_KeyedState):
    """group key → (weight, total) of a running sum."""

    def clear_mirror(self) -> None:
        self.known: dict[Any, tuple[Any, ...] | None] = {}

    def get_many(self, keys: Iterable[Any]) -> Mapping[Any, tuple[Any, ...]]:
        known = self.known
        out: dict[Any, tuple[Any, ...]] = {}
        missing: list[Any] = []
        for key in keys:
            if key in known:
                entry = known[key]
                if entry is not None:
                    out[key] = entry
            else:
                missing.append(key)
        if missing:
            texts = [encode(key) for key in missing]
            decode = self.codec.decode
            stored = {key_text: (weight, decode(total, payload)) for key_text, weight, total, payload
                      in self.dialect.aggregates_lookup(self.table, texts, self.codec.needs_payload)}
            for key, text in zip(missing, texts):
                entry = known[key] = stored.get(text)
                if entry is not None:
                    out[key] = entry
        return out

    def prepare(self, changes: list[tuple[Any, tuple[Any, ...] | None]]) -> Callable[[], None]:
        payload = self.codec.payload
        upserts = []
        deletes = []
        for key, entry in changes:
            if entry is None:
                deletes.append(encode(key))
            else:
                weight, total = entry[0], entry[1]  # a third item (a row) stays in memory
                upserts.append((encode(key), weight, encode(total), payload(total)))
        if upserts:
            self.dialect.aggregates_set(self.table, upserts, self.codec.needs_payload)
        if deletes:
            self.dialect.aggregates_delete(self.table, deletes)
        return partial(self.known.update, changes)
