"""The SQL a store runs, written once for SQLite and PostgreSQL; subclasses fill in the rest.

Tables (``q`` is a quoted table name):

- counts: ``value text PRIMARY KEY, payload, count, key_… columns`` (inputs, caches, …)
- bag: ``key text, value text, payload, count, PRIMARY KEY (key, value)`` (join sides, …)
- aggregates: ``key text PRIMARY KEY, weight, total text, payload`` (running sums)

``value``/``key``/``total`` hold the canonical JSON of the Python values (see codec.py), the
``key_…`` columns a cache's index keys, typed, so caches can be read with plain SQL.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

META_TABLE = "ivm_stores"
CHUNK = 500  # keys per IN (...) list


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """``text`` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class Dialect:
    """Generic SQL over a DB-API connection; ``ph`` is the parameter placeholder."""

    ph = "?"
    blob_type = "BLOB"
    bigint_type = "BIGINT"
    key_text_type = "TEXT"  # for the JSON columns that are (part of) a primary key

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    # Plumbing, overridden per driver --------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.conn.executemany(sql, rows)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.conn.execute(sql, params).fetchall())

    def column_type(self, t: Any) -> str:
        raise NotImplementedError

    def key_value(self, part: Any, t: Any) -> Any:
        """A key part as its typed column stores it."""
        raise NotImplementedError

    def orders_like_python(self, types: Sequence[Any]) -> bool:
        """Whether ORDER BY on columns of these types sorts keys as Python does."""
        raise NotImplementedError

    def text_order(self, column: str) -> str:
        return column

    def begin_schema(self) -> None:
        """Start the transaction that checks or creates a store's tables."""
        raise NotImplementedError

    def begin_locked(self, store: str) -> int | None:
        """Start the iteration's transaction holding the store's write lock; its version."""
        raise NotImplementedError

    def commit(self) -> None:
        raise NotImplementedError

    def rollback(self) -> None:
        raise NotImplementedError

    def table_exists(self, table: str) -> bool:
        raise NotImplementedError

    def tables_starting(self, prefix: str) -> list[str]:
        """The tables whose names start with ``prefix``."""
        raise NotImplementedError

    def converter(self, t: Any) -> Callable[[Any], Any]:
        """`key_value` for one declared type, as a function (dialects specialise it)."""
        return lambda part: self.key_value(part, t)

    def key_row(self, parts: Sequence[Any], types: Sequence[Any]) -> tuple[Any, ...]:
        key_value = self.key_value
        return tuple(key_value(part, t) for part, t in zip(parts, types))

    # Schema ---------------------------------------------------------------------------

    def create_meta(self) -> None:
        self.execute(f"CREATE TABLE IF NOT EXISTS {META_TABLE} (name TEXT PRIMARY KEY, "
                     f"shape TEXT NOT NULL, version {self.bigint_type} NOT NULL)")

    def read_meta(self, store: str) -> tuple[str, int] | None:
        if not self.table_exists(META_TABLE):
            return None
        rows = self.fetchall(f"SELECT shape, version FROM {META_TABLE} WHERE name = {self.ph}",
                             (store,))
        return (rows[0][0], int(rows[0][1])) if rows else None

    def insert_meta(self, store: str, shape: str) -> None:
        self.execute(f"INSERT INTO {META_TABLE} (name, shape, version) VALUES "
                     f"({self.ph}, {self.ph}, 0) ON CONFLICT (name) DO NOTHING", (store, shape))

    def set_version(self, store: str, version: int) -> None:
        """Record a commit (the caller holds the store's lock, so it knows the version)."""
        self.execute(f"UPDATE {META_TABLE} SET version = {self.ph} WHERE name = {self.ph}",
                     (version, store))

    def pipeline(self) -> contextlib.AbstractContextManager[Any]:
        """Statements inside may be sent without waiting for each result (PostgreSQL)."""
        return contextlib.nullcontext()

    # Typed views of caches: a column per field of the cached values ----------------------

    # Field types whose key column holds exactly the field's value (the view reads it there,
    # so a filter on the field uses the cache's index).
    key_column_types: tuple[Any, ...] = ()

    def json_field(self, field: str, t: Any) -> str:
        """SQL reading the field ``field`` (of type ``t``) of a row's JSON ``value``, typed."""
        raise NotImplementedError

    def views_starting(self, prefix: str) -> list[str]:
        raise NotImplementedError

    def replace_view(self, view: str, select: str) -> None:
        self.execute(f"DROP VIEW IF EXISTS {quote(view)}")
        self.execute(f"CREATE VIEW {quote(view)} AS {select}")

    def create_counts_table(self, table: str, key_columns: Sequence[tuple[str, Any]],
                            indexes: Sequence[tuple[Sequence[str], Sequence[bool]]],
                            cluster: Sequence[str] = ()) -> None:
        """``cluster``: key columns that lead the primary key, so that rows of one key (one
        date, say) sit together and an iteration touching one key writes few pages."""
        extra = "".join(f", {quote(c)} {self.column_type(t)}"
                        f"{' NOT NULL' if c in cluster else ''}" for c, t in key_columns)
        primary = ", ".join([*map(quote, cluster), "value"])
        self.execute(f"CREATE TABLE IF NOT EXISTS {quote(table)} (value {self.key_text_type} "
                     f"NOT NULL, payload {self.blob_type}, count {self.bigint_type} NOT NULL"
                     f"{extra}, PRIMARY KEY ({primary})){self.clustered}")
        for number, (columns, ascending) in enumerate(indexes, 1):
            if cluster and tuple(columns) == tuple(cluster):
                continue  # the primary key serves this index
            parts = ", ".join(f"{quote(c)}{'' if up else ' DESC'}"
                              for c, up in zip(columns, ascending))
            self.execute(f"CREATE INDEX IF NOT EXISTS {quote(f'{table}__index_{number}')} "
                         f"ON {quote(table)} ({parts})")

    def create_bag_table(self, table: str) -> None:
        self.execute(f"CREATE TABLE IF NOT EXISTS {quote(table)} (key {self.key_text_type} NOT "
                     f"NULL, value {self.key_text_type} NOT NULL, payload {self.blob_type}, "
                     f"count {self.bigint_type} NOT NULL, PRIMARY KEY (key, value)){self.clustered}")

    def create_aggregates_table(self, table: str) -> None:
        self.execute(f"CREATE TABLE IF NOT EXISTS {quote(table)} (key {self.key_text_type} "
                     f"PRIMARY KEY, weight {self.bigint_type} NOT NULL, total TEXT NOT NULL, "
                     f"payload {self.blob_type}){self.clustered}")

    clustered = ""

    # Counts ---------------------------------------------------------------------------

    def counts_lookup(self, table: str, texts: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for chunk in chunks(texts):
            marks = ", ".join([self.ph] * len(chunk))
            out.update(self.fetchall(
                f"SELECT value, count FROM {quote(table)} WHERE value IN ({marks})", chunk))
        return out

    def counts_scan(self, table: str, payload: bool) -> list[tuple[Any, ...]]:
        return self.fetchall(f"SELECT value, {'payload' if payload else 'NULL'}, count "
                             f"FROM {quote(table)}")

    def counts_add(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                   column_types: Sequence[Any] = (), cluster: Sequence[str] = ()) -> None:
        names = ", ".join(["value", "payload", "count", *map(quote, columns)])
        marks = ", ".join([self.ph] * (3 + len(columns)))
        primary = ", ".join([*map(quote, cluster), "value"])
        self.executemany(
            f"INSERT INTO {quote(table)} AS t ({names}) VALUES ({marks}) "
            f"ON CONFLICT ({primary}) DO UPDATE SET count = t.count + excluded.count", rows)

    def delete_zero_counts(self, table: str, rows: Sequence[Sequence[Any]],
                           cluster: Sequence[str] = (), cluster_types: Sequence[Any] = ()) -> None:
        """Delete the rows ``(cluster key parts..., value)`` whose count reached zero."""
        if not cluster:
            for chunk in chunks([row[-1] for row in rows]):
                marks = ", ".join([self.ph] * len(chunk))
                self.execute(f"DELETE FROM {quote(table)} WHERE count = 0 AND value IN ({marks})",
                             chunk)
            return
        match = " AND ".join(f"{quote(c)} = {self.ph}" for c in [*cluster, "value"])
        self.executemany(f"DELETE FROM {quote(table)} WHERE count = 0 AND {match}", rows)

    # Bags -----------------------------------------------------------------------------

    def bag_lookup(self, table: str, keys: Sequence[str], payload: bool) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        for chunk in chunks(keys):
            marks = ", ".join([self.ph] * len(chunk))
            rows += self.fetchall(f"SELECT key, value, {'payload' if payload else 'NULL'}, count "
                                  f"FROM {quote(table)} WHERE key IN ({marks})", chunk)
        return rows

    def bag_add(self, table: str, rows: Sequence[Sequence[Any]], payload: bool) -> None:
        self.executemany(
            f"INSERT INTO {quote(table)} AS t (key, value, payload, count) VALUES ({self.ph}, "
            f"{self.ph}, {self.ph}, {self.ph}) ON CONFLICT (key, value) DO UPDATE SET "
            "count = t.count + excluded.count", rows)

    def delete_zero_bag_rows(self, table: str, pairs: Sequence[tuple[str, str]]) -> None:
        self.executemany(f"DELETE FROM {quote(table)} WHERE key = {self.ph} AND value = {self.ph} "
                         "AND count = 0", pairs)

    # Aggregates -----------------------------------------------------------------------

    def aggregates_lookup(self, table: str, keys: Sequence[str],
                          payload: bool) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        for chunk in chunks(keys):
            marks = ", ".join([self.ph] * len(chunk))
            rows += self.fetchall(f"SELECT key, weight, total, {'payload' if payload else 'NULL'} "
                                  f"FROM {quote(table)} WHERE key IN ({marks})", chunk)
        return rows

    def aggregates_set(self, table: str, rows: Sequence[Sequence[Any]], payload: bool) -> None:
        self.executemany(
            f"INSERT INTO {quote(table)} (key, weight, total, payload) VALUES ({self.ph}, "
            f"{self.ph}, {self.ph}, {self.ph}) ON CONFLICT (key) DO UPDATE SET "
            "weight = excluded.weight, total = excluded.total, payload = excluded.payload", rows)

    def aggregates_delete(self, table: str, keys: Sequence[str]) -> None:
        for chunk in chunks(keys):
            marks = ", ".join([self.ph] * len(chunk))
            self.execute(f"DELETE FROM {quote(table)} WHERE key IN ({marks})", chunk)

    # Cache reads ----------------------------------------------------------------------

    def rows_by_key(self, table: str, columns: Sequence[str], ascending: Sequence[bool],
                    key_rows: Sequence[tuple[Any, ...]] | None, payload: bool,
                    types: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Rows ``(value, count[, payload])`` of a cache whose key columns match ``key_rows``."""
        order = ", ".join(f"{self.text_order(quote(c)) if t is str else quote(c)}"
                          f"{'' if up else ' DESC'}"
                          for c, up, t in zip(columns, ascending, types))
        select = f"SELECT value, count{', payload' if payload else ''} FROM {quote(table)}"
        if key_rows is None:
            return self.fetchall(f"{select} ORDER BY {order}")
        if not key_rows:
            return []
        rows: list[tuple[Any, ...]] = []
        target = ", ".join(map(quote, columns))
        one = "(" + ", ".join([self.ph] * len(columns)) + ")"
        for chunk in chunks(key_rows, CHUNK // len(columns)):
            if len(columns) == 1:
                where = f"{target} IN ({', '.join([self.ph] * len(chunk))})"
                params = [row[0] for row in chunk]
            else:
                where = f"({target}) IN (VALUES {', '.join([one] * len(chunk))})"
                params = [part for row in chunk for part in row]
            rows += self.fetchall(f"{select} WHERE {where} ORDER BY {order}", params)
        return rows
