"""What older Flows kept for the views and this one does not: the incremental engine's state
of the views (``views__*`` tables and their ``ivm_stores`` row), dropped when the feeder
opens."""

from __future__ import annotations

from flows.db import Database

_PREFIX = "views\\_\\_%"  # views__ (LIKE: _ matches any character unless escaped)


def drop_engine_state(db: Database) -> list[str]:
    """Drop the views' old engine tables, if any (in one transaction); their names."""
    if db.engine == "postgres":
        found = db.query("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'flows' "
                         "AND tablename LIKE :prefix ESCAPE '\\'", {"prefix": _PREFIX})
        registry = db.query("SELECT count(*) > 0 AS found FROM pg_tables "
                            "WHERE schemaname = 'flows' AND tablename = 'ivm_stores'")
    else:
        found = db.query("SELECT name FROM sqlite_master WHERE type = 'table' "
                         "AND name LIKE :prefix ESCAPE '\\'", {"prefix": _PREFIX})
        registry = db.query("SELECT count(*) > 0 AS found FROM sqlite_master "
                            "WHERE type = 'table' AND name = 'ivm_stores'")
    names = [row["name"] for row in found]
    if not names:
        return []
    with db.transaction():
        for name in names:
            db.execute(f'DROP TABLE IF EXISTS "{name}"')
        if registry[0]["found"]:
            db.execute("DELETE FROM ivm_stores WHERE name = 'views'")
    return names
