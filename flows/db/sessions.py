"""Dashboard sessions (``api_sessions``): opened with a key, kept as digests (the session id
in the cookie is 32 random bytes, the table holds its SHA-256), ended by logout, by their
idle or absolute timeout, or by revoking the key they were opened with."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flows.db.api_keys import digest
from flows.db.connection import Database

SEEN_EVERY = timedelta(minutes=1)  # how often a session's last use is written down


@dataclass(frozen=True)
class Session:
    key_digest: str
    key_name: str
    role: str
    named_key: bool  # opened with a named key (else a key given in the environment)
    key_revoked: bool


def open_session(db: Database, key_digest: str, key_name: str, role: str,
                 lifetime: timedelta) -> str:
    """A new session; its id (for the cookie), never stored. Sessions past their absolute
    timeout go first (one never used again would otherwise stay)."""
    session, now = secrets.token_urlsafe(32), datetime.now(UTC)
    db.execute("DELETE FROM api_sessions WHERE expires_at <= :now", {"now": now})
    db.execute("INSERT INTO api_sessions (id_digest, key_digest, key_name, role, created_at, "
               "last_seen_at, expires_at) VALUES (:id, :key, :name, :role, :now, :now, :ends)",
               {"id": digest(session), "key": key_digest, "name": key_name, "role": role,
                "now": now, "ends": now + lifetime})
    return session


def find_session(db: Database, session: str, idle: timedelta) -> Session | None:
    """The live session ``session`` (not past its absolute or idle timeout), its use noted."""
    now = datetime.now(UTC)
    rows = db.query("SELECT s.key_digest, s.key_name, s.role, s.last_seen_at, s.expires_at, "
                    "k.name AS named, k.revoked_at FROM api_sessions s LEFT JOIN api_keys k "
                    "ON k.key_digest = s.key_digest WHERE s.id_digest = :id",
                    {"id": digest(session)})
    if not rows:
        return None
    row = rows[0]
    if row["expires_at"] <= now or row["last_seen_at"] + idle <= now:
        close_session(db, session)
        return None
    if now - row["last_seen_at"] >= SEEN_EVERY:
        db.execute("UPDATE api_sessions SET last_seen_at = :now WHERE id_digest = :id",
                   {"now": now, "id": digest(session)})
    return Session(row["key_digest"], row["key_name"], row["role"], row["named"] is not None,
                   row["revoked_at"] is not None)


def close_session(db: Database, session: str) -> None:
    db.execute("DELETE FROM api_sessions WHERE id_digest = :id", {"id": digest(session)})

