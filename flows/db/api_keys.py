"""Named API keys: created with a role (read or admin), shown once, stored as a digest, listed,
revoked. The API looks a presented key up by its digest."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import Any

from flows.db.connection import ConflictError, Database, InvalidValueError, NotFoundError

ROLES = ("read", "admin")


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create(db: Database, name: str, role: str) -> str:
    """A new key named ``name``; the key itself is returned once and never stored."""
    if role not in ROLES:
        raise InvalidValueError(f"role must be read or admin, not {role!r}")
    if not name.strip() or len(name) > 64:
        raise InvalidValueError("a key needs a name of 1 to 64 characters")
    key = secrets.token_urlsafe(32)
    try:
        db.execute("INSERT INTO api_keys (name, role, key_digest, created_at) VALUES "
                   "(:name, :role, :digest, :now)",
                   {"name": name, "role": role, "digest": digest(key), "now": datetime.now(UTC)})
    except ConflictError:
        raise ConflictError(f"a key named {name!r} exists already") from None
    return key


def find(db: Database, key: str) -> tuple[str, str] | None:
    """(name, role) of the live key ``key``, or None."""
    rows = db.query("SELECT name, role FROM api_keys WHERE key_digest = :digest "
                    "AND revoked_at IS NULL", {"digest": digest(key)})
    return (rows[0]["name"], rows[0]["role"]) if rows else None


def listed(db: Database) -> list[dict[str, Any]]:
    """Every key: name, role, created_at, revoked_at (never the key)."""
    return db.query("SELECT name, role, created_at, revoked_at FROM api_keys ORDER BY name")


def revoke(db: Database, name: str) -> None:
    """Revoke the key: it opens nothing from now on, and its dashboard sessions end."""
    with db.transaction():
        if not db.execute("UPDATE api_keys SET revoked_at = :now WHERE name = :name "
                          "AND revoked_at IS NULL", {"name": name, "now": datetime.now(UTC)}):
            raise NotFoundError(f"no live key named {name!r}")
        db.execute("DELETE FROM api_sessions WHERE key_digest = (SELECT key_digest FROM api_keys "
                   "WHERE name = :name)", {"name": name})


def any_live(db: Database) -> bool:
    return bool(db.query("SELECT 1 AS live FROM api_keys WHERE revoked_at IS NULL LIMIT 1"))
