"""How far the views have applied the change log: a position per shard (``views_position``,
feed ``register_value_changes/k``), written in the same transaction as what was applied; the
mark of a rebuild under way; and when each shard last had every logged change applied
(staleness). The shard count is ``views_shards`` (`flows.views.shards`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from flows.db import Database

FEED = "register_value_changes"  # shard k's position: FEED/k
REBUILD_FEED = "rebuild"  # a rebuild under way: the change number it started at
CAUGHT_UP_FEED = "caught_up"  # shard k: when (updated_at of CAUGHT_UP_FEED/k) it had no change waiting


def shard_feed(shard: int) -> str:
    return f"{FEED}/{shard}"


def caught_up_feed(shard: int) -> str:
    return f"{CAUGHT_UP_FEED}/{shard}"


def shard_count(db: Database) -> int:
    """How many shards the change log is split into (`flows.views.shards`)."""
    return int(db.query("SELECT shards FROM views_shards")[0]["shards"])


def write_position(db: Database, feed: str, position: int) -> None:
    write_positions(db, {feed: position})


def write_positions(db: Database, positions: dict[str, int]) -> None:
    """Several feeds' positions at once (one round trip on PostgreSQL)."""
    now = datetime.now(UTC)
    db.executemany("INSERT INTO views_position (feed, position, updated_at) VALUES (:feed, "
                   ":position, :now) ON CONFLICT (feed) DO UPDATE SET position = excluded.position, "
                   "updated_at = excluded.updated_at",
                   [{"feed": feed, "position": at, "now": now} for feed, at in positions.items()])


def start_shards_at(db: Database, shards: int, position: int) -> None:
    """Forget every shard's position and caught-up mark; shards 0…``shards``-1 start at
    ``position`` (the shard count changed)."""
    db.execute("DELETE FROM views_position WHERE feed LIKE :feeds OR feed LIKE :caught",
               {"feeds": f"{FEED}/%", "caught": f"{CAUGHT_UP_FEED}/%"})
    write_positions(db, {shard_feed(shard): position for shard in range(shards)})


def clear_position(db: Database, feed: str) -> None:
    db.execute("DELETE FROM views_position WHERE feed = :feed", {"feed": feed})


def read_position(db: Database, feed: str) -> int | None:
    """The last change of ``feed`` the views have applied (None: none yet)."""
    rows = db.query("SELECT position FROM views_position WHERE feed = :feed", {"feed": feed})
    return int(rows[0]["position"]) if rows else None


def shard_positions(db: Database, shards: Iterable[int]) -> dict[int, int]:
    """Each of these shards' position (0: nothing applied yet)."""
    held = {row["feed"]: int(row["position"]) for row in db.query(
        "SELECT feed, position FROM views_position WHERE feed LIKE :feeds", {"feeds": f"{FEED}/%"})}
    return {shard: held.get(shard_feed(shard), 0) for shard in shards}


def views_position(db: Database) -> int:
    """The last change every shard has applied (0: none): every change up to it is in the
    views."""
    return min(shard_positions(db, range(shard_count(db))).values())


def caught_up_at(db: Database) -> datetime | None:
    """When the views last saw every logged change applied (None: never; with shards, the
    shard that saw it longest ago): every change waiting now was logged after it."""
    seen = {row["feed"]: row["updated_at"] for row in db.query(
        "SELECT feed, updated_at FROM views_position WHERE feed LIKE :feeds",
        {"feeds": f"{CAUGHT_UP_FEED}/%"})}
    times = [seen.get(caught_up_feed(shard)) for shard in range(shard_count(db))]
    return None if None in times else min(t for t in times if t is not None)
