"""Sync cycles in the database: which meters a cycle still needs, and claims on them.

A cycle is one pass of one frequency over a scope of meters ("all", "esco:CODE",
"meter:SERIAL"). Collectors join the open cycle of their frequency and scope, claim meters one
by one, and record each finished meter in ``sync_cycle_meters``. On PostgreSQL a claim is a
session advisory lock (`flows.db.claims`): when a collector dies or freezes, its claims vanish
and the others take its unfinished meters over. Whatever happens, the done-mark's primary key
lets only one collector record a meter for a cycle. On
SQLite (one collector per database file) a claim is implied by the meter not being done when
the pass began.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from flows.db import claims
from flows.db.connection import Database
from flows.meterdata import Frequency


@dataclass(frozen=True)
class Cycle:
    id: int
    frequency: str
    scope: str
    slot: datetime | None
    finished: bool


def _cycle(row: dict[str, Any]) -> Cycle:
    return Cycle(int(row["id"]), row["frequency"], row["scope"], row["slot"],
                 row["finished_at"] is not None)


def _find(db: Database, where: str, params: dict[str, Any]) -> Cycle | None:
    rows = db.query("SELECT id, frequency, scope, slot, finished_at FROM sync_cycles "
                    f"WHERE frequency = :frequency AND scope = :scope AND {where}", params)
    return _cycle(rows[0]) if rows else None


def join_cycle(db: Database, frequency: str, scope: str, slot: datetime | None = None,
               now: datetime | None = None) -> Cycle:
    """The cycle to work on: the slot's cycle if it exists (perhaps finished already), else the
    open cycle of this frequency and scope, else a new one (for ``slot`` when given). An open
    cycle with another slot is returned as is: finish it first, then ask again."""
    now = now or datetime.now(UTC)
    params: dict[str, Any] = {"frequency": frequency, "scope": scope, "slot": slot,
                              "stale": now - Frequency(frequency).period, "now": now}
    db.execute("UPDATE sync_cycles SET finished_at = :now, abandoned = TRUE "
               "WHERE frequency = :frequency AND scope = :scope AND finished_at IS NULL "
               "AND started_at < :stale", params)
    for _ in range(3):  # lost races: another collector opened or finished one meanwhile
        if slot is not None and (found := _find(db, "slot = :slot", params)):
            return found
        if found := _find(db, "finished_at IS NULL", params):
            return found
        db.execute("INSERT INTO sync_cycles (frequency, scope, slot, started_at) "
                   "VALUES (:frequency, :scope, :slot, :now) ON CONFLICT DO NOTHING", params)
    raise RuntimeError(f"could not join a {frequency} cycle for {scope}")  # pragma: no cover


def done_meters(db: Database, cycle: Cycle) -> set[UUID]:
    rows = db.query("SELECT meter_id FROM sync_cycle_meters WHERE cycle_id = :c", {"c": cycle.id})
    return {row["meter_id"] for row in rows}


def _lock_key(cycle: Cycle, meter_id: UUID) -> dict[str, Any]:
    return {"key": f"{cycle.id}:{meter_id}"}


def claim(db: Database, cycle: Cycle, meter_id: UUID) -> bool:
    """Whether this collector now owns the meter for the cycle (not done, nobody else on it)."""
    if db.engine != "postgres":
        return True  # one collector per SQLite file: it asked for the meters not done
    locked = db.query("SELECT pg_try_advisory_lock(hashtextextended(:key, 0)) AS ok",
                      _lock_key(cycle, meter_id))
    if not locked[0]["ok"]:
        return False
    # Checked after locking: a meter another collector finished just now is not done twice.
    done = db.query("SELECT 1 AS done FROM sync_cycle_meters WHERE cycle_id = :c AND meter_id = :m",
                    {"c": cycle.id, "m": meter_id})
    if done:
        release(db, cycle, meter_id)
    return not done


def end_frozen_claimers(db: Database, cycle: Cycle, meter_ids: Iterable[UUID]) -> int:
    """PostgreSQL: end the sessions holding claims on these meters of the cycle that have
    waited for their client in the middle of a statement for longer than the claim timeout —
    a collector frozen while writing, which no idle timeout ends (`claims`); its meters are
    free then. How many."""
    names = [_lock_key(cycle, meter_id)["key"] for meter_id in meter_ids]
    if db.engine != "postgres" or not names:
        return 0
    keys = db.query("SELECT hashtextextended(name, 0) AS key FROM unnest(CAST(:names AS text[])) "
                    "AS name", {"names": names})
    return claims.end_stalled_sessions(db, lock_keys=tuple(int(row["key"]) for row in keys))


def release(db: Database, cycle: Cycle, meter_id: UUID) -> None:
    if db.engine == "postgres":
        db.query("SELECT pg_advisory_unlock(hashtextextended(:key, 0)) AS released",
                 _lock_key(cycle, meter_id))


def finish_meter(db: Database, cycle: Cycle, meter_id: UUID, collector: str,
                 reason: str | None) -> None:
    """Record the meter done for the cycle (its claim is released by `release`)."""
    db.execute("INSERT INTO sync_cycle_meters (cycle_id, meter_id, collector, healthy, reason, "
               "finished_at) VALUES (:c, :m, :collector, :healthy, :reason, :now)",
               {"c": cycle.id, "m": meter_id, "collector": collector, "healthy": reason is None,
                "reason": reason, "now": datetime.now(UTC)})


def close_cycle(db: Database, cycle: Cycle) -> None:
    db.execute("UPDATE sync_cycles SET finished_at = :now WHERE id = :c AND finished_at IS NULL",
               {"c": cycle.id, "now": datetime.now(UTC)})
