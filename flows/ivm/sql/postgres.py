"""`StorePostgres`: the engine's state in PostgreSQL tables (psycopg 3).

    conn = st.connection_postgres("postgresql://…")
    store = st.StorePostgres.from_graph(conn, graph, create_tables=True)

Tables go to the connection's current schema (``search_path``). Cache tables have typed key
columns (bigint, double precision, text, date, timestamptz, uuid, boolean, numeric).
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

import psycopg
import psycopg.conninfo
from psycopg import pq

from flows.ivm.codec import encode
from flows.ivm.errors import StoreError
from flows.ivm.graph import Graph
from flows.ivm.sql.dialect import Dialect, literal, quote
from flows.ivm.sql.store import SqlCachedZSet, SqlStore

T = TypeVar("T")


# The connection a store runs on (stepping's name, for annotations).
ConnPostgres = psycopg.Connection[Any]


def connection_postgres(db_url: str) -> psycopg.Connection[Any]:
    """Connect for a store: autocommit, as the store issues BEGIN/COMMIT itself."""
    return psycopg.connect(db_url, autocommit=True)


_TYPES: dict[Any, str] = {
    int: "BIGINT", float: "DOUBLE PRECISION", str: "TEXT", bool: "BOOLEAN", date: "DATE",
    datetime: "TIMESTAMPTZ", UUID: "UUID", Decimal: "NUMERIC",
}
# Lock taken while a store's tables are checked or created, so two processes opening the
# same new store do not race on CREATE TABLE.
_SCHEMA_LOCK = 0x666C6F7773  # "flows"


class PostgresDialect(Dialect):
    ph = "%b"
    blob_type = "BYTEA"
    bigint_type = "BIGINT"
    # Byte-wise comparison: JSON keys need no linguistic collation, and it is much faster.
    key_text_type = 'TEXT COLLATE "C"'

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        super().__init__(conn)
        self.written: Counter[str] = Counter()  # rows written per table in this transaction
        self.vacuumer = Vacuumer(conn)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.conn.execute(sql, params or None)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            with self.conn.cursor() as cursor:
                cursor.executemany(sql, rows)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.conn.execute(sql, params or None, binary=True).fetchall())

    def column_type(self, t: Any) -> str:
        return _TYPES.get(t, "TEXT")

    def key_value(self, part: Any, t: Any) -> Any:
        if t in _TYPES:
            if isinstance(part, datetime) and part.tzinfo is None:
                return part.replace(tzinfo=UTC)  # naive datetimes are taken as UTC
            return part
        return part if isinstance(part, str) else encode(part)

    def orders_like_python(self, types: Sequence[Any]) -> bool:
        return all(t in _TYPES for t in types)

    def text_order(self, column: str) -> str:
        return f'{column} COLLATE "C"'  # code point order, as Python compares str

    key_column_types = tuple(_TYPES)

    def json_field(self, field: str, t: Any) -> str:
        text = f"(value::jsonb ->> {literal(field)})"
        return f"{text}::{_TYPES[t]}" if t in _TYPES and t is not str else text

    def replace_view(self, view: str, select: str) -> None:
        # In place: a view a reader built on this one keeps working (the columns stay).
        self.execute(f"CREATE OR REPLACE VIEW {quote(view)} AS {select}")

    def views_starting(self, prefix: str) -> list[str]:
        return [row[0] for row in self.fetchall(
            "SELECT viewname FROM pg_views WHERE schemaname = current_schema() "
            "AND left(viewname, %b) = %b", (len(prefix), prefix))]

    def table_exists(self, table: str) -> bool:
        return bool(self.fetchall("SELECT 1 FROM pg_tables WHERE schemaname = current_schema() "
                                  "AND tablename = %b", (table,)))

    def tables_starting(self, prefix: str) -> list[str]:
        return [row[0] for row in self.fetchall(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND left(tablename, %b) = %b", (len(prefix), prefix))]

    def begin_schema(self) -> None:
        self.execute("BEGIN")
        self.execute("SELECT pg_advisory_xact_lock(%b)", (_SCHEMA_LOCK,))

    def begin_locked(self, store: str) -> int | None:
        with self.conn.pipeline():  # one round trip for both
            self.execute("BEGIN")
            cursor = self.conn.execute(
                "SELECT version FROM ivm_stores WHERE name = %b FOR UPDATE", (store,))
        rows = cursor.fetchall()
        return int(rows[0][0]) if rows else None

    def commit(self) -> None:
        self.execute("COMMIT")
        self.vacuumer.add(self.written)
        self.written = Counter()

    def pipeline(self) -> contextlib.AbstractContextManager[Any]:
        return self.conn.pipeline()  # type: ignore[no-any-return]

    def rollback(self) -> None:
        if self.conn.closed:
            return
        self.written = Counter()
        if self.conn.info.transaction_status != pq.TransactionStatus.IDLE:
            self.execute("ROLLBACK")

    # Faster forms of the generic statements: arrays instead of long IN lists.

    def counts_lookup(self, table: str, texts: Sequence[str]) -> dict[str, int]:
        return dict(self.fetchall(
            f"SELECT value, count FROM {quote(table)} WHERE value = ANY(%b)", (list(texts),)))

    def delete_zero_counts(self, table: str, rows: Sequence[Sequence[Any]],
                           cluster: Sequence[str] = (), cluster_types: Sequence[Any] = ()) -> None:
        if not cluster:
            self.execute(f"DELETE FROM {quote(table)} WHERE count = 0 AND value = ANY(%b)",
                         ([row[-1] for row in rows],))
            self.written[table] += len(rows)
            return
        names = [*map(quote, cluster), "value"]
        match = " AND ".join(f"t.{n} = d.{n}" for n in names)
        self._unnest_write(table, f"DELETE FROM {{table}} AS t USING {{unnest}} AS "
                           f"d({', '.join(names)}) WHERE t.count = 0 AND {match}",
                           [*map(self.column_type, cluster_types), "TEXT"], rows)

    def bag_lookup(self, table: str, keys: Sequence[str], payload: bool) -> list[tuple[Any, ...]]:
        return self.fetchall(f"SELECT key, value, {'payload' if payload else 'NULL'}, count "
                             f"FROM {quote(table)} WHERE key = ANY(%b)", (list(keys),))

    def aggregates_lookup(self, table: str, keys: Sequence[str],
                          payload: bool) -> list[tuple[Any, ...]]:
        return self.fetchall(f"SELECT key, weight, total, {'payload' if payload else 'NULL'} "
                             f"FROM {quote(table)} WHERE key = ANY(%b)", (list(keys),))

    def aggregates_delete(self, table: str, keys: Sequence[str]) -> None:
        self.execute(f"DELETE FROM {quote(table)} WHERE key = ANY(%b)", (list(keys),))
        self.written[table] += len(keys)

    # Bulk writes: one statement per table and iteration, rows passed as column arrays.

    def counts_add(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                   column_types: Sequence[Any] = (), cluster: Sequence[str] = ()) -> None:
        if not rows:
            return
        types = ["TEXT", "BYTEA", "BIGINT", *map(self.column_type, column_types)]
        names = ", ".join(["value", "payload", "count", *map(quote, columns)])
        primary = ", ".join([*map(quote, cluster), "value"])
        self._unnest_write(
            table, f"INSERT INTO {{table}} AS t ({names}) SELECT * FROM {{unnest}} "
            f"ON CONFLICT ({primary}) DO UPDATE SET count = t.count + excluded.count", types, rows)

    def bag_add(self, table: str, rows: Sequence[Sequence[Any]], payload: bool) -> None:
        if rows:
            self._unnest_write(
                table, "INSERT INTO {table} AS t (key, value, payload, count) SELECT * FROM "
                "{unnest} ON CONFLICT (key, value) DO UPDATE SET count = t.count + excluded.count",
                ["TEXT", "TEXT", "BYTEA", "BIGINT"], rows)

    def delete_zero_bag_rows(self, table: str, pairs: Sequence[tuple[str, str]]) -> None:
        self._unnest_write(table, "DELETE FROM {table} AS t USING {unnest} AS d(key, value) "
                           "WHERE t.key = d.key AND t.value = d.value AND t.count = 0",
                           ["TEXT", "TEXT"], pairs)

    def aggregates_set(self, table: str, rows: Sequence[Sequence[Any]], payload: bool) -> None:
        self._unnest_write(
            table, "INSERT INTO {table} (key, weight, total, payload) SELECT * FROM {unnest} "
            "ON CONFLICT (key) DO UPDATE SET weight = excluded.weight, total = excluded.total, "
            "payload = excluded.payload", ["TEXT", "BIGINT", "TEXT", "BYTEA"], rows)

    def _unnest_write(self, table: str, sql: str, types: Sequence[str],
                      rows: Sequence[Sequence[Any]]) -> None:
        arrays = [list(column) for column in zip(*rows)]
        unnest = "unnest(" + ", ".join(f"%b::{t}[]" for t in types) + ")"
        self.execute(sql.format(table=quote(table), unnest=unnest), arrays)
        self.written[table] += len(rows)


class Vacuumer:
    """Vacuums a store's tables from a thread with its own connection, soon after iterations
    rewrote many of their rows. A cache row is replaced whenever its value changes, so a busy
    cache leaves dead row versions behind much faster than autovacuum (a pass per minute,
    past 20 % of the table) clears them; lookups then wade through them and the heap grows.
    Vacuum never blocks iterations, and iterations never depend on it."""

    MIN_ROWS = 5_000  # vacuum a table once this many rows, and half its size, were rewritten

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conninfo = psycopg.conninfo.make_conninfo(conn.info.dsn,
                                                       password=conn.info.password or None)
        row = conn.execute("SELECT current_schema()").fetchone()
        self.schema = quote(row[0]) if row and row[0] else "public"
        self.pending: Counter[str] = Counter()
        self.sizes: dict[str, float] = {}
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.passed = threading.Condition()
        self.passes = 0
        self.vacuums = 0
        self.thread: threading.Thread | None = None

    def add(self, written: Counter[str]) -> None:
        with self.lock:
            self.pending.update(written)
            due = any(count >= max(self.MIN_ROWS, self.sizes.get(table, 0) / 2)
                      for table, count in self.pending.items())
        if due:
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="ivm-vacuum", daemon=True)
                self.thread.start()
            self.wake.set()

    def _due(self) -> list[str]:
        with self.lock:
            tables = [table for table, count in self.pending.items()
                      if count >= max(self.MIN_ROWS, self.sizes.get(table, 0) / 2)]
            for table in tables:
                del self.pending[table]
        return tables

    def _run(self) -> None:
        while True:
            self.wake.wait()
            self.wake.clear()
            try:
                self._vacuum(self._due())
            except psycopg.Error:
                pass  # autovacuum remains; the next due table tries again
            with self.passed:
                self.passes += 1
                self.passed.notify_all()

    def _vacuum(self, tables: list[str]) -> None:
        if not tables:
            return
        # A connection per pass: passes are rare, and an idle connection would keep the
        # database from being dropped.
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            # Cost-based delay, as autovacuum does: the pass pauses every few pages, so the
            # store's lookups running beside it are not slowed (their p99 stays near p50).
            conn.execute("SET vacuum_cost_delay = '2ms'")
            for table in tables:
                name = f"{self.schema}.{quote(table)}"
                conn.execute(f"VACUUM {name}")
                row = conn.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass",
                                   (name,)).fetchone()
                self.sizes[table] = max(0.0, float(row[0])) if row else 0.0
                self.vacuums += 1

    def wait_for_pass(self, after: int, timeout: float) -> bool:
        """Wait until more than ``after`` passes ran (for tests and orderly shutdowns)."""
        with self.passed:
            return self.passed.wait_for(lambda: self.passes > after, timeout)


class ZSetPostgres(SqlCachedZSet[T]):
    """A cache of a `StorePostgres`, read from its table."""


class StorePostgres(SqlStore):
    """A graph's state in PostgreSQL; see `SqlStore` for transactions and concurrency."""

    cache_type = ZSetPostgres

    @classmethod
    def from_graph(cls, conn: psycopg.Connection[Any], graph: Graph[Any, Any],
                   create_tables: bool = False) -> StorePostgres:
        if conn.info.transaction_status != pq.TransactionStatus.IDLE:
            raise StoreError("the PostgreSQL connection is inside a transaction; commit it "
                             "first (the store runs each iteration in its own transaction)")
        conn.autocommit = True  # the store issues BEGIN/COMMIT itself
        return cls(PostgresDialect(conn), graph, create_tables)

    @classmethod
    def drop(cls, conn: psycopg.Connection[Any], graph: Graph[Any, Any],
             before_commit: Callable[[], None] | None = None) -> list[str]:
        """Delete the store of ``graph`` (whatever shape it has); see `SqlStore.drop_tables`."""
        conn.autocommit = True
        return cls.drop_tables(PostgresDialect(conn), graph.name, before_commit)
