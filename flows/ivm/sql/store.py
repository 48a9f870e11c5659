"""`SqlStore`: a graph's state in SQL tables, one iteration per database transaction.

Concurrency: an iteration starts by taking the store's row in ``ivm_stores`` for update (SQLite:
``BEGIN IMMEDIATE``), so writers of one store run one at a time, and reads the store's version.
If another process committed since this one last did, every in-memory mirror is dropped and
re-read from the tables. Each commit bumps the version in the same transaction.
"""

from __future__ import annotations

import enum
import hashlib
import re
import typing
from collections.abc import Callable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar, cast
from uuid import UUID

import msgspec

from flows.ivm.codec import Codec
from flows.ivm.data import Data
from flows.ivm.errors import StoreError
from flows.ivm.graph import Graph, Node
from flows.ivm.index import Index
from flows.ivm.run import runner_for
from flows.ivm.sql.dialect import META_TABLE, Dialect, quote
from flows.ivm.sql.state import KeyColumns, SqlAggregates, SqlBag, SqlCounts
from flows.ivm.store import CacheView, StagedChanges, StoreBase
from flows.ivm.zset import MATCH_ALL, MatchAll

T = TypeVar("T")
K = TypeVar("K")
S = TypeVar("S")

MAX_NAME = 60  # PostgreSQL truncates identifiers at 63 bytes
# Key types a cache table may be clustered by (never NULL, ordered by SQL as by Python).
CLUSTER_TYPES = (int, float, str, bool, date, datetime, UUID, Decimal)


def table_name(node_name: str, role: str) -> str:
    """``query.daily_cache`` → ``query__daily_cache``; other roles get a suffix
    (``query__join_reads__right``). Lower-case ASCII; a digest keeps names that had to be
    shortened or changed unique."""
    full = node_name.replace(".", "__") + ("" if role == "values" else f"__{role}")
    name = re.sub(r"[^a-z0-9_]", "_", full.lower())
    if name != full or len(name) > MAX_NAME:
        digest = hashlib.blake2b(full.encode(), digest_size=4).hexdigest()
        name = f"{name[:MAX_NAME - 9]}_{digest}"
    return name


def _key_types(index: Index[Any, Any]) -> tuple[Any, ...]:
    if not index.is_composite:
        return (index.k,)
    args = typing.get_args(index.k)
    if len(args) == len(index.names) and Ellipsis not in args:
        return args
    return (None,) * len(index.names)


def _scalar_fields(t: Any) -> dict[str, Any]:
    """The fields of a `Data` type whose values SQL reads as one column each (none when ``t``
    is no Data type)."""
    if not (isinstance(t, type) and issubclass(t, Data)):
        return {}
    try:
        hints = typing.get_type_hints(t)
    except Exception:  # noqa: BLE001 - unresolvable annotations: no typed view
        return {}
    return {name: hints[name] for name in t.st_field_names
            if hints.get(name) in CLUSTER_TYPES or (
                isinstance(hints.get(name), type) and issubclass(hints[name], enum.Enum))}


def _column(name: str) -> str:
    return "key_" + re.sub(r"[^a-z0-9_]", "_", name.lower().replace(".", "__"))


class SqlStore(StoreBase):
    """Shared by `StoreSQLite` and `StorePostgres`; see the module docstring."""

    cache_type: type[SqlCachedZSet[Any]]  # what `cached_zset` gives: ZSetSQLite, ZSetPostgres

    def __init__(self, dialect: Dialect, graph: Graph[Any, Any], create_tables: bool) -> None:
        self.graph = graph
        self.dialect = dialect
        self.name = graph.name
        self._create = create_tables
        self._states: dict[tuple[str, str], Any] = {}
        self._tables: dict[str, tuple[str, str]] = {}
        self._version: int | None = None
        self._iteration_version = 0
        shape = msgspec.json.encode(graph.shape()).decode()
        dialect.begin_schema()
        try:
            self._check_or_create(shape)
            runner_for(self, graph)  # binds every node's state: creates its tables, in this transaction
            for node in graph.caches.values():
                counts = self._cache_state(node)
                if create_tables:  # once, as the store opens (not on every read of the cache)
                    self._rows_view(counts, node.t)
            dialect.commit()
        except BaseException:
            dialect.rollback()
            raise

    def _check_or_create(self, shape: str) -> None:
        meta = self.dialect.read_meta(self.name)
        if meta is None:
            if not self._create:
                raise StoreError(f"this database has no store for query {self.name!r}; open it "
                                 "with create_tables=True to create one")
            self.dialect.create_meta()
            self.dialect.insert_meta(self.name, shape)
        elif meta[0] != shape:
            raise StoreError(f"the store for query {self.name!r} in this database was created "
                             "by a query of a different shape; its tables would be misread. "
                             "Compile the query that created it, or drop its tables (listed in "
                             "ivm_stores) to start again")

    @staticmethod
    def drop_tables(dialect: Dialect, name: str,
                    before_commit: Callable[[], None] | None = None) -> list[str]:
        """Drop every table of the store named ``name`` and its entry in the stores' table,
        in one transaction (``before_commit`` runs inside it, e.g. to clear what the caller
        derived from the store); the tables dropped."""
        dialect.begin_schema()
        try:
            for view in dialect.views_starting(table_name(name, "values") + "__"):
                dialect.execute(f"DROP VIEW {quote(view)}")
            tables = dialect.tables_starting(table_name(name, "values") + "__")
            for table in tables:
                dialect.execute(f"DROP TABLE {quote(table)}")
            if dialect.table_exists(META_TABLE):
                dialect.execute(f"DELETE FROM {META_TABLE} WHERE name = {dialect.ph}", (name,))
            if before_commit is not None:
                before_commit()
            dialect.commit()
        except BaseException:
            dialect.rollback()
            raise
        return tables

    # State primitives ----------------------------------------------------------------

    def _table(self, node: Node, role: str) -> str:
        table = table_name(node.name, role)
        owner = self._tables.setdefault(table, (node.name, role))
        if owner != (node.name, role):
            raise StoreError(f"table name {table} would hold both {owner} and "
                             f"{(node.name, role)}; rename one of the query's variables")
        if not self._create and not self.dialect.table_exists(table):
            raise StoreError(f"table {table} of query {self.name!r} is missing; open the store "
                             "with create_tables=True")
        return table

    def _state(self, node: Node, role: str, make: Callable[[str], S]) -> S:
        key = (node.name, role)
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = make(self._table(node, role))
        return cast(S, state)

    def counts(self, node: Node, role: str, indexes: tuple[Any, ...] = (),
               value_type: Any = None) -> SqlCounts:
        def make(table: str) -> SqlCounts:
            key_columns = tuple(self._key_columns(index) for index in indexes)
            clustered = bool(key_columns) and all(t in CLUSTER_TYPES for t in key_columns[0].types)
            if self._create:
                columns: dict[str, Any] = {}
                for k in key_columns:
                    columns.update(zip(k.columns, k.types))
                self.dialect.create_counts_table(
                    table, list(columns.items()),
                    [(k.columns, k.index.ascending) for k in key_columns],
                    key_columns[0].columns if clustered else ())
            return SqlCounts(self.dialect, table, Codec(value_type, table), key_columns, clustered)

        return self._state(node, role, make)

    def _key_columns(self, index: Index[Any, Any]) -> KeyColumns:
        types = _key_types(index)
        return KeyColumns(index, tuple(_column(name) for name in index.names), types)

    def bag(self, node: Node, role: str, value_type: Any = None) -> SqlBag:
        def make(table: str) -> SqlBag:
            if self._create:
                self.dialect.create_bag_table(table)
            return SqlBag(self.dialect, table, Codec(value_type, table))

        return self._state(node, role, make)

    def aggregates(self, node: Node, role: str, total_type: Any = None) -> SqlAggregates:
        def make(table: str) -> SqlAggregates:
            if self._create:
                self.dialect.create_aggregates_table(table)
            return SqlAggregates(self.dialect, table, Codec(total_type, table))

        return self._state(node, role, make)

    def _cache_state(self, node: Node) -> SqlCounts:
        return self.counts(node, "values", node.params["indexes"], node.t)

    def _rows_view(self, counts: SqlCounts, t: Any) -> None:
        """A cache of `Data` values is also the view ``<cache table>__rows``: a typed column per
        scalar field (read from the key column when an index keys by exactly that field, so
        filtering on it uses the index), and ``count``; plain SQL reads it, always in step."""
        fields = _scalar_fields(t)
        if not fields:
            return
        keyed = {(key.index.names[part], key.types[part]): column for key in counts.key_columns
                 for part, column in enumerate(key.columns)}
        columns = [f"{quote(keyed[field, field_type])} AS {quote(field)}"
                   if (field, field_type) in keyed
                   and field_type in self.dialect.key_column_types
                   else f"{self.dialect.json_field(field, field_type)} AS {quote(field)}"
                   for field, field_type in fields.items()]
        self.dialect.replace_view(f"{counts.table}__rows",
                                  f"SELECT {', '.join(columns)}, count FROM {quote(counts.table)}")

    # Iterations -----------------------------------------------------------------------

    def _begin(self) -> None:
        """Lock the store's row and read its version: if another process committed since this
        one last did, every in-memory mirror is stale and is dropped."""
        version = self.dialect.begin_locked(self.name)
        if version is None:
            raise StoreError(f"the store for query {self.name!r} was deleted")
        if version != self._version:
            for state in self._states.values():
                state.clear_mirror()
            self._version = version
        self._iteration_version = version

    def _write(self, staged: StagedChanges) -> list[Callable[[], None]]:
        if staged.before_commit:
            # The caller's writes run outside the pipeline (they may COPY or read back).
            with self.dialect.pipeline():
                appliers = staged.prepare_states()
            staged.run_hooks()
        with self.dialect.pipeline():  # all writes and the COMMIT in one round trip
            if not staged.before_commit:
                appliers = staged.prepare()
            if appliers:
                self.dialect.set_version(self.name, self._iteration_version + 1)
            self.dialect.commit()
        if appliers:
            self._version = self._iteration_version + 1
        return appliers

    def _rollback(self) -> None:
        self.dialect.rollback()

    def cached_zset(self, node_name: str) -> SqlCachedZSet[Any]:
        try:
            node = self.graph.caches[node_name]
        except KeyError:
            raise StoreError(f"no cache {node_name!r} in this store's query "
                             f"{self.name!r}") from None
        return self.cache_type(self._cache_state(node))


class SqlCachedZSet(CacheView[T]):
    """A cache as its table holds it now: every read is a query (indexed by key)."""

    def __init__(self, counts: SqlCounts) -> None:
        self._counts = counts

    @property
    def indexes(self) -> tuple[Index[T, Any], ...]:
        return self._counts.indexes

    @property
    def table(self) -> str:
        return self._counts.table

    def iter(self, match: frozenset[T] | MatchAll = MATCH_ALL) -> Iterator[tuple[T, int]]:
        counts = self._counts
        rows = counts.dialect.counts_scan(counts.table, counts.codec.needs_payload)
        values = counts.codec.decode_many([row[0] for row in rows], [row[1] for row in rows])
        for value, row in zip(values, rows):
            if isinstance(match, MatchAll) or value in match:
                yield value, row[2]

    def iter_by_index(
        self, index: Index[T, K], match_keys: frozenset[K] | MatchAll = MATCH_ALL
    ) -> Iterator[tuple[K, T, int]]:
        keys = None if isinstance(match_keys, MatchAll) else match_keys
        return self._counts.iter_by_index(index, keys)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.table}>"
