"""Versioned migrations: ``flows/db/migrations/<engine>/NNNN_name.sql``, applied in order, each
in its own transaction, recorded in ``schema_migrations``. Running again applies nothing."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from zoneinfo import ZoneInfo

from flows.db import partitions
from flows.db.connection import Database, DatabaseError, connect, sqlite_time
from flows.meterdata import FIRST_DAY, HALF_HOUR, LAST_DAY, LOCAL_ZONE


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


def migrate(db: Database, upto: int | None = None) -> list[Migration]:
    """Apply the migrations this database lacks (``upto``: only those up to that version, for
    tests of a migration); the ones applied."""
    done = applied_versions(db)
    applied = []
    for migration in available(db.engine):
        if migration.version in done or (upto is not None and migration.version > upto):
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
    fill_local_days(db)
    partitions.ensure_ahead(db)
    return applied




def local_days(first: date = FIRST_DAY, last: date = LAST_DAY,
               zone: str = LOCAL_ZONE.key) -> Iterator[tuple[date, datetime, datetime, int]]:
    """(day, start UTC, end UTC, half-hours) for each local day: 46/48/50 around clock changes."""
    tz = ZoneInfo(zone)
    day = first
    start = datetime.combine(day, time(), tz).astimezone(UTC)
    while day <= last:
        following = day + timedelta(days=1)
        end = datetime.combine(following, time(), tz).astimezone(UTC)
        yield day, start, end, int((end - start) / HALF_HOUR)
        day, start = following, end


def fill_local_days(db: Database) -> None:
    """Fill SQLite's ``local_days`` once (it has no time zones; PostgreSQL fills it in SQL)."""
    if db.engine != "sqlite" or db.query("SELECT count(*) AS n FROM local_days")[0]["n"]:
        return
    rows = [(d.isoformat(), sqlite_time(s), sqlite_time(e), n) for d, s, e, n in local_days()]
    with db.transaction():
        db.raw.executemany("INSERT INTO local_days VALUES (?, ?, ?, ?)", rows)


def _statements(script: str) -> list[str]:
    """Split an SQLite script into statements (``executescript`` would commit on its own)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current)
            current = ""
    leftover = [line for line in current.splitlines() if line.strip()
                and not line.strip().startswith("--")]
    if leftover:  # a statement cut short (a trigger without its END): never dropped
        raise DatabaseError(f"the migration ends inside a statement: {current.strip()[:200]}")
    return statements


def open_database(url: str, create: bool = False) -> Database:
    """Connect and bring the schema up to date: what every command does first. Only ``create``
    (`flows db migrate`) makes a new SQLite file; otherwise a missing one is a `NotFoundError`
    naming the path, so a mistyped URL is an error rather than an empty database."""
    db = connect(url, create=create)
    try:
        migrate(db)
    except BaseException:
        db.close()
        raise
    return db
