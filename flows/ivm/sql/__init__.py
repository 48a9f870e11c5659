"""flows.ivm's SQL stores: a graph's state in tables of SQLite or PostgreSQL.

`dialect` (the SQL each engine speaks), `state` (counts, bags and aggregates as tables with
in-memory mirrors), `store` (`SqlStore`: tables per node, one iteration per transaction),
`sqlite` and `postgres` (the two stores and their connections).
"""

from flows.ivm.sql.postgres import StorePostgres, connection_postgres
from flows.ivm.sql.sqlite import StoreSQLite, connection_sqlite
from flows.ivm.sql.store import SqlStore

__all__ = ["SqlStore", "StorePostgres", "StoreSQLite", "connection_postgres", "connection_sqlite"]
