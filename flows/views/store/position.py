"""How far the views have applied the change log (``views_position``), written in the same
transaction as what they applied; the mark of a rebuild under way; and when the views last
reflected every logged change (staleness)."""

from __future__ import annotations

from datetime import UTC, datetime

from flows.db import Database

FEED = "register_value_changes"
REBUILD_FEED = "rebuild"  # a rebuild under way: the change number it started at
CAUGHT_UP_FEED = "caught_up"  # when (updated_at) the views last saw no change waiting


def write_position(db: Database, feed: str, position: int) -> None:
    db.execute("INSERT INTO views_position (feed, position, updated_at) VALUES (:feed, :position, "
               ":now) ON CONFLICT (feed) DO UPDATE SET position = excluded.position, "
               "updated_at = excluded.updated_at",
               {"feed": feed, "position": position, "now": datetime.now(UTC)})


def clear_position(db: Database, feed: str) -> None:
    db.execute("DELETE FROM views_position WHERE feed = :feed", {"feed": feed})


def read_position(db: Database, feed: str = FEED) -> int | None:
    """The last change of ``feed`` the views have applied (None: none yet)."""
    rows = db.query("SELECT position FROM views_position WHERE feed = :feed", {"feed": feed})
    return int(rows[0]["position"]) if rows else None


def views_position(db: Database) -> int:
    """The last change the views have applied (0: none)."""
    return read_position(db) or 0


def caught_up_at(db: Database) -> datetime | None:
    """When the views last saw every logged change applied (None: never): every change
    waiting now was logged after it."""
    rows = db.query("SELECT updated_at FROM views_position WHERE feed = :feed",
                    {"feed": CAUGHT_UP_FEED})
    return rows[0]["updated_at"] if rows else None
