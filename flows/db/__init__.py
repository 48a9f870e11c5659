"""flows.db: the Flows database on SQLite (embedded default) and PostgreSQL, and the home of
SQL against the Flows schema (the views' own tables are `flows.views.store`'s).

    db = connect(os.environ.get("FLOWS_DATABASE_URL", "sqlite:///flows.db"))
    migrate(db)
    meter = registry.meter_id(db, "EML2007000001")

Tables keep the deployed names (registry, shadows, history); triggers append history when a
sync writes the shadow. Functions are grouped by subject, one module each:

- `registry`: escos, meters, registers, metrics and their frequencies
- `shadows`: each meter's current state (writing it appends history)
- `history`: register reads, profile values, balances, event logs
- `customers`: customers and the meters linked to them
- `corrections`: corrections and deletions of stored values
- `cycles`: sync cycles shared by collectors, claims on meters
- `partitions`: monthly partitions of the history tables made ahead (plain PostgreSQL)
- `claims`: claims held by a session (collectors' meters, feeders' shards), frozen ones expiring
- `fleet`: the fleet-health read model (API, dashboard, reports)
- `change_log`: the change log of register values and registry changes (what the views read)
- `values`: register values by source, and consecutive values (what the views compute from)
- `registry_csv`: importing the registry from CSV
- `api_keys`: named API keys (stored as digests)

Rows come back typed on both engines (aware UTC datetimes, UUIDs, dates, Decimals). Errors are
`DatabaseError`s: `NotFoundError`, `ConflictError`, `InvalidValueError`, `UnavailableError`
(`LockTimeoutError`: a lock not granted in time).
"""

from flows.db import (
    api_keys,
    change_log,
    claims,
    corrections,
    customers,
    cycles,
    fleet,
    history,
    partitions,
    registry,
    shadows,
    tariffs,
    values,
)
from flows.db.connection import (
    DEFAULT_URL,
    ConflictError,
    Database,
    DatabaseError,
    InvalidValueError,
    NotFoundError,
    UnavailableError,
    connect,
    is_unavailable,
    sqlite_time,
)
from flows.db.errors import LockTimeoutError
from flows.db.migrate import Migration, available, migrate, open_database

__all__ = ["DEFAULT_URL", "api_keys", "change_log", "ConflictError", "Database",
           "DatabaseError", "InvalidValueError", "LockTimeoutError",
           "Migration", "NotFoundError", "UnavailableError", "available", "connect",
           "is_unavailable", "open_database", "tariffs",
           "claims", "corrections", "customers", "cycles", "fleet", "history", "migrate", "partitions",
           "registry", "shadows", "sqlite_time", "values"]
