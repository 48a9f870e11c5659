"""API keys with roles: read keys read; admin keys may also change data or trigger work.

A key is sent as ``Authorization: Bearer KEY`` or ``X-API-Key: KEY`` (the dashboard also takes
``?key=KEY`` once and keeps it in a cookie). No key → 401; a read key on an admin route → 403.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fastapi import HTTPException, Request


class Role(enum.IntEnum):
    READ = 1
    ADMIN = 2


@dataclass(frozen=True)
class ApiKeys:
    roles: dict[str, Role]

    @classmethod
    def parse(cls, text: str) -> ApiKeys:
        """``KEY=read,KEY2=admin`` (as FLOWS_API_KEYS holds them)."""
        roles: dict[str, Role] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, _, role = item.partition("=")
            if role not in ("read", "admin") or len(key) < 8:
                raise ValueError(f"API key entry {item[:4]}…: expected KEY=read or KEY=admin "
                                 "with a key of at least 8 characters")
            roles[key] = Role.ADMIN if role == "admin" else Role.READ
        return cls(roles)

    @classmethod
    def generate(cls) -> ApiKeys:
        return cls({secrets.token_urlsafe(18): Role.READ, secrets.token_urlsafe(18): Role.ADMIN})

    def role_of(self, key: str) -> Role | None:
        # Compare every key in constant time, so timing does not tell how much of a key matched.
        found = None
        for known, role in self.roles.items():
            if hmac.compare_digest(known.encode(), key.encode()):
                found = role
        return found


COOKIE = "flows_key"


def presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return (request.headers.get("x-api-key") or request.query_params.get("key")
            or request.cookies.get(COOKIE))


def require(request: Request, needed: Role) -> Role:
    keys: ApiKeys = request.app.state.keys
    key = presented_key(request)
    if not key:
        raise HTTPException(401, "an API key is required (Authorization: Bearer KEY)",
                            headers={"WWW-Authenticate": "Bearer"})
    role = keys.role_of(key)
    if role is None:
        raise HTTPException(401, "unknown API key", headers={"WWW-Authenticate": "Bearer"})
    request.state.key_name = name_of(key, role)
    if role < needed:
        raise HTTPException(403, "this API key may only read")
    return role


def name_of(key: str, role: Role) -> str:
    """What logs and the audit trail call a key: its role and a digest, never the key."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    return f"{'admin' if role == Role.ADMIN else 'read'}-key-{digest}"


def key_name(request: Request) -> str:
    """The name of the key the request was let in with (see `name_of`)."""
    return str(getattr(request.state, "key_name", "unknown"))


# async: a few microseconds of work, which FastAPI would otherwise hand to a worker thread.
async def reader(request: Request) -> Role:
    return require(request, Role.READ)


async def admin(request: Request) -> Role:
    return require(request, Role.ADMIN)
