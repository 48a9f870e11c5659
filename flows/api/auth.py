"""Who is calling: API keys with roles, and dashboard sessions.

Read keys read; admin keys may also change data or trigger work. A key is sent as
``Authorization: Bearer KEY`` or ``X-API-Key: KEY`` — never in the URL (URLs end up in logs and
browser histories: ``?key=`` is refused). Keys are named keys from the database (`flows keys
create NAME --role read|admin`, stored as digests) or, for tests and demos, ``FLOWS_API_KEYS``.
No key → 401; a read key on an admin route → 403. Logs and the audit trail name a key, never
show it.

The dashboard logs in with a form: the session cookie holds a random session id (HttpOnly,
SameSite=Strict, Secure behind HTTPS, 8 hours), not the key; sessions live in the server's
memory (a restart logs everyone out).
"""

from __future__ import annotations

import enum
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from flows.db import api_keys


class Role(enum.IntEnum):
    READ = 1
    ADMIN = 2


@dataclass(frozen=True)
class Caller:
    name: str  # the key's name (never the key)
    role: Role


@dataclass(frozen=True)
class ApiKeys:
    """Keys given in the environment (``KEY=read,KEY2=admin``), for tests and demos."""

    roles: dict[str, Role]

    @classmethod
    def parse(cls, text: str) -> ApiKeys:
        roles: dict[str, Role] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, _, role = item.partition("=")
            if role not in ("read", "admin") or len(key) < 8:
                raise ValueError(f"API key entry {item[:4]}…: expected KEY=read or KEY=admin "
                                 "with a key of at least 8 characters")
            roles[key] = Role.ADMIN if role == "admin" else Role.READ
        return cls(roles)

    def role_of(self, key: str) -> Role | None:
        # Compare every key in constant time, so timing does not tell how much of a key matched.
        found = None
        for known, role in self.roles.items():
            if hmac.compare_digest(known.encode(), key.encode()):
                found = role
        return found


def name_of(key: str, role: Role) -> str:
    """What logs and the audit trail call an environment key: its role and a digest."""
    return f"{'admin' if role == Role.ADMIN else 'read'}-key-{api_keys.digest(key)[:8]}"


async def identify(request: Request, key: str) -> Caller | None:
    """The caller a key belongs to: an environment key, else a live named key."""
    keys: ApiKeys = request.app.state.keys
    role = keys.role_of(key)
    if role is not None:
        return Caller(name_of(key, role), role)
    async with request.app.state.connections.connection() as db:
        found = await run_in_threadpool(api_keys.find, db, key)
    if found is None:
        return None
    return Caller(found[0], Role.ADMIN if found[1] == "admin" else Role.READ)


# Sessions of the dashboard ---------------------------------------------------------------------

SESSION_COOKIE = "flows_session"
SESSION_S = 8 * 3600


@dataclass
class Sessions:
    _live: dict[str, tuple[Caller, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self, caller: Caller) -> str:
        session = secrets.token_urlsafe(32)
        with self._lock:
            self._live[session] = (caller, time.monotonic() + SESSION_S)
        return session

    def caller(self, session: str) -> Caller | None:
        with self._lock:
            found = self._live.get(session)
            if found is None:
                return None
            if found[1] < time.monotonic():
                del self._live[session]
                return None
            return found[0]

    def close(self, session: str) -> None:
        with self._lock:
            self._live.pop(session, None)


# Dependencies ----------------------------------------------------------------------------------

# Declared in OpenAPI (the Authorize button in /docs); checked by `_require`.
bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer KEY")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="X-API-Key: KEY")


async def _require(request: Request, needed: Role, credentials: HTTPAuthorizationCredentials | None,
                   header_key: str | None) -> Caller:
    key = credentials.credentials if credentials else header_key
    if not key:
        hint = " (?key= is not accepted: a key in a URL ends up in logs)" if (
            "key" in request.query_params) else ""
        raise HTTPException(401, f"an API key is required (Authorization: Bearer KEY){hint}",
                            headers={"WWW-Authenticate": "Bearer"})
    caller = await identify(request, key)
    if caller is None:
        raise HTTPException(401, "unknown API key", headers={"WWW-Authenticate": "Bearer"})
    return _admitted(request, caller, needed)


def _admitted(request: Request, caller: Caller, needed: Role) -> Caller:
    request.state.key_name = caller.name
    if caller.role < needed:
        raise HTTPException(403, "this API key may only read")
    return caller


Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
HeaderKey = Annotated[str | None, Depends(api_key_header)]


async def reader(request: Request, credentials: Bearer, header_key: HeaderKey) -> Caller:
    return await _require(request, Role.READ, credentials, header_key)


async def admin(request: Request, credentials: Bearer, header_key: HeaderKey) -> Caller:
    return await _require(request, Role.ADMIN, credentials, header_key)


class LoginRequired(Exception):
    """A dashboard page asked for without a session: the app redirects to /login."""


async def viewer(request: Request, credentials: Bearer, header_key: HeaderKey) -> Caller:
    """A dashboard page's caller: a session (the cookie), or a key in a header."""
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        caller = request.app.state.sessions.caller(session)
        if caller is not None:
            return _admitted(request, caller, Role.READ)
    if credentials or header_key:
        return await _require(request, Role.READ, credentials, header_key)
    raise LoginRequired


def key_name(request: Request) -> str:
    """The name of the key the request was let in with."""
    return str(getattr(request.state, "key_name", "unknown"))

