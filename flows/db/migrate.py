"""Versioned migrations: ``flows/db/migrations/<engine>/NNNN_name.sql``, applied in order, each
in its own transaction, recorded in ``schema_migrations``. Running again applies nothing."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from flows.db.connection import Database, DatabaseError


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available(engine: str) -> list[Migration]:
    folder = resources.files("flows.db") / "migrations" / engine
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number, _, rest = entry.name.partition("_")
            found.append(Migration(int(number), rest.removesuffix(".sql"), entry.read_text()))
    return sorted(found, key=lambda m: m.version)


def applied_versions(db: Database) -> set[int]:
    db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
               "name TEXT NOT NULL, applied_at TEXT NOT NULL)")
    return {int(row["version"]) for row in db.query("SELECT version FROM schema_migrations")}


def migrate(db: Database) -> list[Migration]:
    """Apply the migrations this database lacks; the ones applied."""
    done = applied_versions(db)
    applied = []
    for migration in available(db.engine):
        if migration.version in done:
            continue
        try:
            with db.transaction():
                if db.engine == "sqlite":
                    for statement in _statements(migration.sql):
                        db.raw.execute(statement)
                else:
                    db.raw.execute(migration.sql)
                db.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES "
                           "(:version, :name, CURRENT_TIMESTAMP)",
                           {"version": migration.version, "name": migration.name})
        except Exception as error:
            raise DatabaseError(f"migration {migration.version:04d}_{migration.name} failed "
                                f"({db.engine}): {error}; nothing of it was applied") from error
        applied.append(migration)
    return applied


def _statements(script: str) -> list[str]:
    """Split an SQLite script into statements (``executescript`` would commit on its own)."""
    import sqlite3

    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current)
            current = ""
    if current.strip().strip(";").strip() and not current.strip().startswith("--"):
        statements.append(current)
    return statements
