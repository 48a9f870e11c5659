"""flows.db: the Flows database on SQLite (embedded default) and PostgreSQL, and the only
home of SQL against the Flows schema.

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
- `fleet`: the fleet-health read model (API, dashboard, reports)
- `intervals`: the views' change log and their half-hourly intervals
- `consecutive`: consecutive values of registers (what the views compute half hours from)
- `daily`: the views' daily aggregates (per meter and per customer, import and export)
- `bulk_intervals`: set-based SQL over whole registers (the views' rebuild)
- `registry_csv`: importing the registry from CSV
- `api_keys`: named API keys (stored as digests)

Rows come back typed on both engines (aware UTC datetimes, UUIDs, dates, Decimals). Errors are
`DatabaseError`s: `NotFoundError`, `ConflictError`, `InvalidValueError`, `UnavailableError`.
"""

from flows.db import (
    api_keys,
    bulk_intervals,
    consecutive,
    corrections,
    customers,
    cycles,
    daily,
    fleet,
    history,
    intervals,
    registry,
    shadows,
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
from flows.db.migrate import Migration, available, migrate, open_database

__all__ = ["DEFAULT_URL", "api_keys", "bulk_intervals", "consecutive", "ConflictError", "Database",
           "DatabaseError", "InvalidValueError",
           "Migration", "NotFoundError", "UnavailableError", "available", "connect",
           "is_unavailable", "open_database",
           "corrections", "customers", "cycles", "daily", "fleet", "history", "intervals", "migrate",
           "registry", "shadows", "sqlite_time"]
