"""flows.db: the Flows database on SQLite (embedded default) and PostgreSQL.

    db = connect(os.environ.get("FLOWS_DATABASE_URL", "sqlite:///flows.db"))
    migrate(db)

Tables keep the deployed names (registry, shadows, history); triggers append history when a
sync writes the shadow. See the migrations for the schema.
"""

from flows.db.connection import DEFAULT_URL, Database, DatabaseError, connect, sqlite_time
from flows.db.migrate import Migration, available, migrate

__all__ = ["DEFAULT_URL", "Database", "DatabaseError", "Migration", "available", "connect",
           "migrate", "sqlite_time"]
