"""Store makers for tests that run on every store: in memory, SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from typing import Any, Protocol

import psycopg

import flows.ivm as st

_schemas = itertools.count()


class StoreMaker(Protocol):
    kind: str

    def new(self, graph: st.Graph[Any, Any]) -> st.Store: ...

    def reopen(self, graph: st.Graph[Any, Any]) -> st.Store | None:
        """The same stored state through a new store object (empty mirrors), if it has one."""


class PythonStores:
    kind = "python"

    def new(self, graph: st.Graph[Any, Any]) -> st.Store:
        return st.StorePython.from_graph(graph)

    def reopen(self, graph: st.Graph[Any, Any]) -> st.Store | None:
        return None


class SQLiteStores:
    kind = "sqlite"

    def __init__(self) -> None:
        self.conn: Any = None

    def new(self, graph: st.Graph[Any, Any]) -> st.Store:
        if self.conn is not None:
            self.conn.close()
        self.conn = st.connection_sqlite(":memory:")
        return st.StoreSQLite.from_graph(self.conn, graph, create_tables=True)

    def reopen(self, graph: st.Graph[Any, Any]) -> st.Store | None:
        return st.StoreSQLite.from_graph(self.conn, graph, create_tables=False)


class PostgresStores:
    """Each new store lives in a schema of its own on one connection."""

    kind = "postgres"

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)

    def new(self, graph: st.Graph[Any, Any]) -> st.Store:
        schema = f"s{next(_schemas)}"
        self.conn.execute(f"CREATE SCHEMA {schema}")
        self.conn.execute(f"SET search_path TO {schema}")
        return st.StorePostgres.from_graph(self.conn, graph, create_tables=True)

    def reopen(self, graph: st.Graph[Any, Any]) -> st.Store | None:
        return st.StorePostgres.from_graph(self.conn, graph, create_tables=False)

    def close(self) -> None:
        self.conn.close()
