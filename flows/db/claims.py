"""Claims a process holds through its database session (PostgreSQL session advisory locks):
collectors claim the meters of a sync cycle (`flows.db.cycles`), the views' feeders their
shards of the change log (`flows.views.shards`).

A claim goes with its session: a process that dies closes its connection and its claims
vanish with it. One that is alive but frozen (SIGSTOP, a stalled VM) keeps its connection, so
while it holds claims its session is set to end once idle, or idle in a transaction, for
`CLAIM_TIMEOUT_S`, and the process `heartbeat`s more often. A session ended so rolls back
what it had not committed, and the frozen process, when it wakes, finds its connection gone:
it can no longer write under a claim someone else holds now.

A process frozen in the middle of a statement — a pipeline of writes, a COPY — leaves its
session active, waiting for the client, where neither timeout applies: the live processes
end such sessions of their peers (`end_stalled_sessions`). Such a session may hold a lock the
live ones wait for (an esco's, the change log's numbering lock): so that they do not wait for
ever (and never end it), a claiming session also gives up any lock wait after
`CLAIM_TIMEOUT_S` (`lock_timeout`: its transaction fails with `LockTimeoutError` and is tried
again after the stalled session is ended).
"""

from __future__ import annotations

import os
from typing import Any

from flows.db.connection import Database

# How long a frozen process keeps its claims (env FLOWS_CLAIM_TIMEOUT, seconds).
CLAIM_TIMEOUT_S = int(os.environ.get("FLOWS_CLAIM_TIMEOUT", "30"))
_TIMEOUTS = ("idle_session_timeout", "idle_in_transaction_session_timeout", "lock_timeout")
# How long `end_stalled_sessions` waits for a session it ends to be gone (it exits within
# milliseconds; a busy server may take longer).
_END_WAIT_MS = 5000


def expire_claims_when_idle(db: Database) -> None:
    """PostgreSQL: end this session (and its claims) once idle, or idle in a transaction, for
    `CLAIM_TIMEOUT_S`, and give up a lock wait after as long; the caller calls `heartbeat`
    more often meanwhile."""
    for name in _TIMEOUTS:
        db.set_session(name, f"'{CLAIM_TIMEOUT_S}s'")


def keep_claims_when_idle(db: Database) -> None:
    """An idle session is fine again (no claims held, or a long pause on purpose)."""
    for name in _TIMEOUTS:
        db.set_session(name, "0")


def end_stalled_sessions(db: Database, lock_classes: tuple[int, ...] = (),
                         lock_keys: tuple[int, ...] = ()) -> int:
    """PostgreSQL: end the sessions of this database holding advisory locks — claims of these
    classes (two-key locks) or these one-key locks — that have waited for their client in the
    middle of a statement for longer than `CLAIM_TIMEOUT_S` (a frozen peer); how many. Each is
    waited for (up to `_END_WAIT_MS`): when this returns, what they held is free."""
    rows = db.query(
        "SELECT pg_terminate_backend(a.pid, :wait_ms) AS ended FROM pg_stat_activity a WHERE "
        "a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.state = 'active' "
        "AND a.wait_event = 'ClientRead' AND greatest(a.query_start, a.state_change) < "
        "now() - make_interval(secs => :timeout) AND EXISTS (SELECT 1 FROM pg_locks l WHERE "
        "l.pid = a.pid AND l.locktype = 'advisory' AND l.granted AND ((l.objsubid = 2 AND "
        "l.classid::bigint = ANY(:classes)) OR (l.objsubid = 1 AND (l.classid::bigint << 32 "
        "| l.objid::bigint) = ANY(:keys))))",
        {"timeout": CLAIM_TIMEOUT_S, "classes": list(lock_classes), "keys": list(lock_keys),
         "wait_ms": _END_WAIT_MS})
    return sum(1 for row in rows if row["ended"])


# Advisory locks of this database held by any session, of one class (two-key locks).
_HELD = ("SELECT objid::bigint AS key, pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
         "AND objsubid = 2 AND classid::bigint = :lock AND database = "
         "(SELECT oid FROM pg_database WHERE datname = current_database())")


def held(db: Database, lock_class: int) -> dict[int, int]:
    """PostgreSQL: the claims of one class held by any session: key → the server process id
    of the session holding it."""
    return {int(row["key"]): int(row["pid"]) for row in db.query(_HELD, {"lock": lock_class})}


def try_claim(db: Database, lock_class: int, key: int) -> bool:
    """Claim (lock_class, key) for this session unless another session holds it."""
    return bool(db.query("SELECT pg_try_advisory_lock(:lock, :key) AS ok",
                         {"lock": lock_class, "key": key})[0]["ok"])


def release_claim(db: Database, lock_class: int, key: int) -> None:
    db.query("SELECT pg_advisory_unlock(:lock, :key) AS released", {"lock": lock_class, "key": key})


def lock_in_order(db: Database, lock_class: int, keys_sql: str, params: dict[str, Any]) -> None:
    """PostgreSQL: take, to the commit, the transaction locks ``(lock_class, key)`` of the keys
    ``keys_sql`` selects (a column ``key``), in key order and in one statement: sessions taking
    overlapping sets this way never wait for each other's locks."""
    db.query("SELECT count(pg_advisory_xact_lock(:lock_class, key)) AS locked FROM "
             f"({keys_sql} ORDER BY key) AS keys", {**params, "lock_class": lock_class})


def release_all(db: Database) -> None:
    """Give up every claim of this session now. Closing the connection gives them up too, but
    only once the server has ended the session, after the client has gone: a process that
    connects again at once (two updates back to back) could find its own claims still held."""
    db.query("SELECT pg_advisory_unlock_all() IS NULL AS released")


def heartbeat(db: Database) -> None:
    db.query("SELECT 1 AS alive")
