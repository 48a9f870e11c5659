"""How far the views have applied the change log (``views_position``), written in the same
transaction as what they applied; and the mark of a rebuild under way."""

from __future__ import annotations

from flows.db import Database

FEED = "register_value_changes"
REBUILD_FEED = "rebuild"  # a rebuild under way: the change number it started at


def write_position(db: Database, feed: str, position: int) -> None:
    db.execute("INSERT INTO views_position (feed, position) VALUES (:feed, :position) "
               "ON CONFLICT (feed) DO UPDATE SET position = excluded.position",
               {"feed": feed, "position": position})


def clear_position(db: Database, feed: str) -> None:
    db.execute("DELETE FROM views_position WHERE feed = :feed", {"feed": feed})


def read_position(db: Database, feed: str = FEED) -> int | None:
    """The last change of ``feed`` the views have applied (None: none yet)."""
    rows = db.query("SELECT position FROM views_position WHERE feed = :feed", {"feed": feed})
    return int(rows[0]["position"]) if rows else None


def views_position(db: Database) -> int:
    """The last change the views have applied (0: none)."""
    return read_position(db) or 0
