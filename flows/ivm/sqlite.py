"""`StoreSQLite`: the engine's state in an SQLite database file (embedded, no server).

    conn = st.connection_sqlite("views.db")
    store = st.StoreSQLite.from_graph(conn, graph, create_tables=True)

The connection runs in WAL mode with ``synchronous=NORMAL``: a committed iteration survives the
process being killed; a power cut may lose the last iterations but never leaves one half-applied.
"""

from __future__ import annotations

import enum
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from flows.ivm.codec import encode
from flows.ivm.errors import StoreError
from flows.ivm.graph import Graph
from flows.ivm.sqldialect import Dialect
from flows.ivm.sqlstore import SqlStore

BUSY_TIMEOUT_MS = 60_000


def connection_sqlite(path: str | Path) -> sqlite3.Connection:
    """Open (or create) an SQLite database configured for a store."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000,
                           check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    # Iterations touch many pages at random (one row per daily group, per meter, ...): a larger
    # page cache and fewer, larger checkpoints write each page less often.
    conn.execute("PRAGMA cache_size=-65536")  # KiB: 64 MiB at most
    conn.execute("PRAGMA wal_autocheckpoint=10000")  # pages: about 40 MiB of WAL
    return conn


_ORDERED = (int, float, str, bool, date, datetime, UUID)


def _same(part: Any) -> Any:
    return part
_TYPES = {int: "INTEGER", float: "REAL", bool: "INTEGER", str: "TEXT"}


class SQLiteDialect(Dialect):
    ph = "?"
    blob_type = "BLOB"
    bigint_type = "INTEGER"
    clustered = " WITHOUT ROWID"

    def column_type(self, t: Any) -> str:
        return _TYPES.get(t, "TEXT")

    def key_value(self, part: Any, t: Any) -> Any:
        if part is None or (isinstance(part, (int, float, str)) and not isinstance(part, enum.Enum)):
            return part
        if isinstance(part, datetime):
            return (part.astimezone(UTC) if part.tzinfo else part).isoformat()
        if isinstance(part, (date, UUID, Decimal)):
            return str(part)
        return encode(part)

    def converter(self, t: Any) -> Callable[[Any], Any]:
        if t in (int, float, str):
            return _same
        if t is date:
            return date.isoformat
        return super().converter(t)

    def orders_like_python(self, types: Sequence[Any]) -> bool:
        return all(t in _ORDERED for t in types)

    def table_exists(self, table: str) -> bool:
        return bool(self.fetchall("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                  (table,)))

    def begin_schema(self) -> None:
        self.execute("BEGIN IMMEDIATE")

    def begin_locked(self, store: str) -> int | None:
        self.execute("BEGIN IMMEDIATE")
        rows = self.fetchall("SELECT version FROM ivm_stores WHERE name = ?", (store,))
        return int(rows[0][0]) if rows else None

    def commit(self) -> None:
        self.execute("COMMIT")

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self.execute("ROLLBACK")


class StoreSQLite(SqlStore):
    """A graph's state in SQLite; see `SqlStore` for transactions and concurrency."""

    @classmethod
    def from_graph(cls, conn: sqlite3.Connection, graph: Graph[Any, Any],
                   create_tables: bool = False) -> StoreSQLite:
        if conn.in_transaction:
            raise StoreError("the SQLite connection is inside a transaction; commit it first "
                             "(the store runs each iteration in its own transaction)")
        conn.isolation_level = None  # the store issues BEGIN/COMMIT itself
        return cls(SQLiteDialect(conn), graph, create_tables)
