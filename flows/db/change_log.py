"""The change log of register values (``register_value_changes``): every insert, update and
delete of a profile value, register read or export read, and every change to a meter's
registers, customer links or esco (source ``meter``, the meter's id in ``register_id``),
numbered in commit order by triggers. The views read it after their position."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import psycopg

from flows.db.connection import Database, UnavailableError

REGISTRY_SOURCE = "meter"  # a change to a meter's registers, links or esco; register_id is the meter
RETRY_SOURCE = "retry"  # apply a quarantined meter's whole history again; register_id is the meter
NOTIFY_CHANNEL = "flows_register_changes"  # notified by the change-log trigger (PostgreSQL)
# PostgreSQL: the transaction lock a change's number is taken under, held to the commit (so
# numbers follow commit order); taken by the logging triggers' `flows.next_change()`.
CHANGE_LOG_LOCK = 7378707111521281379


@dataclass
class ChangeBatch:
    """Up to a limit of logged changes after a change number, summed up for the views: per
    (source, register) the earliest and latest changed timestamp (source "meter": a meter
    whose registers, links or esco changed, its id in place of the register)."""

    changes: int
    last: int  # the number of the batch's last change
    windows: dict[tuple[str, UUID], tuple[datetime, datetime]]

    def changed_meters(self) -> set[UUID]:
        """The meters whose registers, customer links or esco changed."""
        return {key for source, key in self.windows if source == REGISTRY_SOURCE}

    def retried_meters(self) -> set[UUID]:
        """The quarantined meters asked to be applied again (`log_retry`)."""
        return {key for source, key in self.windows if source == RETRY_SOURCE}

    def value_windows(self) -> dict[tuple[str, UUID], tuple[datetime, datetime]]:
        """(source, register) → the earliest and latest changed value."""
        return {key: window for key, window in self.windows.items()
                if key[0] not in (REGISTRY_SOURCE, RETRY_SOURCE)}


def change_batch(db: Database, after: int, limit: int, shard: int | None = None) -> ChangeBatch:
    """The next ``limit`` logged changes after change number ``after`` (of ``shard`` only,
    when given: the views' shard of the change's meter), summed up in SQL (one row per source
    and register, not one per change)."""
    of_shard = "" if shard is None else "shard = :shard AND "
    rows = db.query(
        "SELECT source, register_id, min(timestamp) AS first_at, max(timestamp) AS last_at, "
        "count(*) AS changes, max(seq) AS last_seq FROM (SELECT seq, source, register_id, "
        f"timestamp FROM register_value_changes WHERE {of_shard}seq > :after ORDER BY seq "
        "LIMIT :limit) AS batch GROUP BY source, register_id",
        {"after": after, "limit": limit, "shard": shard})
    return ChangeBatch(
        changes=sum(int(row["changes"]) for row in rows),
        last=max((int(row["last_seq"]) for row in rows), default=after),
        windows={(row["source"], row["register_id"]): (row["first_at"], row["last_at"])
                 for row in rows})


def log_retry(db: Database, meters: list[UUID]) -> None:
    """Ask the views to apply these meters' whole history again (a change of source
    `RETRY_SOURCE` each, numbered like every other change: whichever feeder runs applies it)."""
    for meter in meters:
        if db.engine == "postgres":
            db.execute("SELECT pg_notify(:channel, '')", {"channel": NOTIFY_CHANNEL})
            db.execute("INSERT INTO register_value_changes (seq, register_id, timestamp, old_wh, "
                       "new_wh, source, shard) VALUES (flows.next_change(), :m, now(), NULL, "
                       "NULL, :source, flows.meter_shard(:m))", {"m": meter, "source": RETRY_SOURCE})
        else:
            db.execute("INSERT INTO register_value_changes (source, register_id, timestamp, "
                       "old_wh, new_wh) VALUES (:source, :m, :now, NULL, NULL)",
                       {"m": meter, "source": RETRY_SOURCE, "now": datetime.now(UTC)})


def prune(db: Database, applied: int, limit: int) -> int:
    """Delete up to ``limit`` of the oldest changes numbered up to ``applied`` (every reader
    has applied them), always keeping the newest change (the log's number goes on from it);
    how many. On PostgreSQL one process prunes at a time (others skip: nothing to wait for)."""
    if db.engine == "postgres" and not db.query(
            "SELECT pg_try_advisory_xact_lock(:lock) AS ok", {"lock": _PRUNE_LOCK})[0]["ok"]:
        return 0
    return db.execute("DELETE FROM register_value_changes WHERE seq IN (SELECT seq FROM "
                      "register_value_changes WHERE seq <= :applied AND seq < (SELECT max(seq) "
                      "FROM register_value_changes) ORDER BY seq LIMIT :limit)",
                      {"applied": applied, "limit": limit})


_PRUNE_LOCK = CHANGE_LOG_LOCK + 1
# meter_shard() with the count written in (so that the logging triggers inline it).
_METER_SHARD = ("CREATE OR REPLACE FUNCTION flows.meter_shard(meter uuid) RETURNS integer "
                "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT (get_byte(uuid_send(meter), "
                "14) * 256 + get_byte(uuid_send(meter), 15)) % {shards} $$")


def reshard(db: Database, shards: int, after: int) -> None:
    """PostgreSQL, inside the caller's transaction: split the log into ``shards`` from now
    on, placing again the changes numbered after ``after``. Logging waits meanwhile (the
    numbering lock, held to the commit)."""
    db.query("SELECT pg_advisory_xact_lock(:lock) AS locked", {"lock": CHANGE_LOG_LOCK})
    db.execute("UPDATE views_shards SET shards = :n", {"n": shards})
    db.execute(_METER_SHARD.format(shards=int(shards)))
    db.execute("UPDATE register_value_changes SET shard = CASE WHEN source IN (:meter, :retry) "
               "THEN flows.meter_shard(register_id) ELSE flows.register_shard(register_id) END "
               "WHERE seq > :after",
               {"after": after, "meter": REGISTRY_SOURCE, "retry": RETRY_SOURCE})


def last_change(db: Database) -> int:
    """The number of the newest logged change (0: none). Changes are numbered in commit
    order, so every change numbered up to it has committed (or rolled back) already: a
    reader that finds none of some kind up to it later never will."""
    return int(db.query("SELECT coalesce(max(seq), 0) AS n FROM register_value_changes")[0]["n"])


@contextlib.contextmanager
def change_listener(db: Database) -> Iterator[Callable[[float], bool]]:
    """A function that waits up to N seconds and tells whether changes were logged meanwhile:
    on PostgreSQL woken by the change-log trigger's NOTIFY, on SQLite it only sleeps."""
    if db.engine != "postgres":
        def sleep(seconds: float) -> bool:
            time.sleep(seconds)
            return False
        yield sleep
        return
    try:
        conn = psycopg.connect(db.url, autocommit=True)
        conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
    except psycopg.OperationalError as error:
        raise UnavailableError(f"cannot listen for changes: {error}") from None

    def wait(seconds: float) -> bool:
        try:
            return any(True for _ in conn.notifies(timeout=seconds, stop_after=1))
        except psycopg.OperationalError as error:  # the server restarted or the link broke
            raise UnavailableError(f"lost the change listener: {error}") from None

    with conn:
        yield wait
