"""`StoreSQLite`: the engine's state in an SQLite database file (embedded, no server).

    conn = st.connection_sqlite("views.db")
    store = st.StoreSQLite.from_graph(conn, graph, create_tables=True)

The connection runs in WAL mode with ``synchronous=NORMAL``: a committed iteration survives the
process being killed; a power cut may lose the last iterations but never leaves one half-applied.
"""

from __future__ import annotations

import enum
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from flows.ivm.codec import encode
from flows.ivm.errors import StoreError
from flows.ivm.graph import Graph
from flows.ivm.sql.dialect import Dialect, literal
from flows.ivm.sql.store import SqlCachedZSet, SqlStore

BUSY_TIMEOUT_MS = 60_000


T = TypeVar("T")
# The connection a store runs on (stepping's name, for annotations).
ConnSQLite = sqlite3.Connection


def connection_sqlite(db_url: str | Path) -> sqlite3.Connection:
    """Open (or create) an SQLite database configured for a store."""
    conn = sqlite3.connect(db_url, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000,
                           check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    # Iterations touch many pages at random (one row per daily group, per meter, ...): a larger
    # page cache writes each page less often. Checkpoints run in a thread (`Checkpointer`).
    conn.execute("PRAGMA cache_size=-65536")  # KiB: 64 MiB at most
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

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__(conn)
        self.checkpointer = Checkpointer.for_connection(conn)

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

    key_column_types = (int, float, str, bool, date)

    def json_field(self, field: str, t: Any) -> str:
        path = "$." + '"' + field.replace('"', '""') + '"'
        return f"json_extract(value, {literal(path)})"

    def views_starting(self, prefix: str) -> list[str]:
        return [row[0] for row in self.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'view' AND substr(name, 1, ?) = ?",
            (len(prefix), prefix))]

    def table_exists(self, table: str) -> bool:
        return bool(self.fetchall("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                  (table,)))

    def tables_starting(self, prefix: str) -> list[str]:
        return [row[0] for row in self.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, ?) = ?",
            (len(prefix), prefix))]

    def begin_schema(self) -> None:
        self.execute("BEGIN IMMEDIATE")

    def begin_locked(self, store: str) -> int | None:
        self.execute("BEGIN IMMEDIATE")
        rows = self.fetchall("SELECT version FROM ivm_stores WHERE name = ?", (store,))
        return int(rows[0][0]) if rows else None

    def commit(self) -> None:
        self.execute("COMMIT")
        if self.checkpointer is not None:
            self.checkpointer.nudge()

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self.execute("ROLLBACK")


class Checkpointer:
    """Moves WAL checkpoints off the iterations: a thread with its own connection copies the
    WAL back into the database once it grew past `WAL_LIMIT_BYTES`, while iterations go on
    (a passive checkpoint waits for no writer; checkpoints are crash-safe). The WAL stays
    bounded by the writer's own automatic checkpoint at twice the limit."""

    WAL_LIMIT_BYTES = 32 << 20
    _by_path: ClassVar[dict[str, Checkpointer]] = {}
    _lock = threading.Lock()

    def __init__(self, path: str) -> None:
        self.wal = Path(path + "-wal")
        self.wake = threading.Event()
        self.passed = threading.Condition()
        self.passes = 0
        self.checkpoints = 0
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                    timeout=BUSY_TIMEOUT_MS / 1000)
        threading.Thread(target=self._run, name=f"sqlite-checkpoint {path}", daemon=True).start()

    @classmethod
    def for_connection(cls, conn: sqlite3.Connection) -> Checkpointer | None:
        """One per database file (none for in-memory databases); turns off the automatic
        checkpoints of ``conn``, which would otherwise run inside an iteration's COMMIT."""
        row = conn.execute("PRAGMA database_list").fetchone()
        path = row[2] if row else ""
        if not path:
            return None
        # Passive checkpoints from another connection cannot finish while iterations keep
        # committing, so the writer still checkpoints (and so resets the WAL) past twice the
        # limit; by then the thread has copied most pages, so that checkpoint is short.
        conn.execute(f"PRAGMA wal_autocheckpoint={max(1, 2 * cls.WAL_LIMIT_BYTES // 4096)}")
        with cls._lock:
            checkpointer = cls._by_path.get(path)
            if checkpointer is None:
                checkpointer = cls._by_path[path] = cls(path)
        return checkpointer

    def nudge(self) -> None:
        self.wake.set()

    def _run(self) -> None:
        while True:
            self.wake.wait()
            self.wake.clear()
            try:
                size = self.wal.stat().st_size if self.wal.exists() else 0
                if size > self.WAL_LIMIT_BYTES:
                    self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    self.checkpoints += 1
            except (OSError, sqlite3.Error):
                pass  # the next commit asks again; iterations never depend on this
            with self.passed:
                self.passes += 1
                self.passed.notify_all()

    def wait_for_pass(self, after: int, timeout: float) -> bool:
        """Wait until more than ``after`` passes ran (for tests and orderly shutdowns)."""
        with self.passed:
            return self.passed.wait_for(lambda: self.passes > after, timeout)


class ZSetSQLite(SqlCachedZSet[T]):
    """A cache of a `StoreSQLite`, read from its table."""


class StoreSQLite(SqlStore):
    """A graph's state in SQLite; see `SqlStore` for transactions and concurrency."""

    cache_type = ZSetSQLite

    @classmethod
    def from_graph(cls, conn: sqlite3.Connection, graph: Graph[Any, Any],
                   create_tables: bool = False) -> StoreSQLite:
        if conn.in_transaction:
            raise StoreError("the SQLite connection is inside a transaction; commit it first "
                             "(the store runs each iteration in its own transaction)")
        conn.isolation_level = None  # the store issues BEGIN/COMMIT itself
        return cls(SQLiteDialect(conn), graph, create_tables)

    @classmethod
    def drop(cls, conn: sqlite3.Connection, graph: Graph[Any, Any],
             before_commit: Callable[[], None] | None = None) -> list[str]:
        """Delete the store of ``graph`` (whatever shape it has); see `SqlStore.drop_tables`."""
        conn.isolation_level = None
        return cls.drop_tables(SQLiteDialect(conn), graph.name, before_commit)
