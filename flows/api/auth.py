"""Who is calling: API keys with roles, and dashboard sessions.

Read keys read; admin keys may also change data or trigger work. A key is sent as
``Authorization: Bearer KEY``, ``X-API-Key: KEY`` or, as Octopus' API takes it, HTTP Basic with
the key as the username (``curl -u KEY:``; any password) — never in the URL (URLs end up in logs and
browser histories: ``?key=`` is refused). Keys are named keys from the database (`flows keys
create NAME --role read|admin`, stored as digests) or, for tests and demos, ``FLOWS_API_KEYS``.
No key → 401; a read key on an admin route → 403. Logs and the audit trail name a key, never
show it.

The dashboard logs in with a form: the session cookie holds a random session id (HttpOnly,
SameSite=Strict, Secure behind HTTPS), not the key. Sessions live in the database as digests
(`flows.db.sessions`: shared by every API process, surviving restarts); a session ends at
logout, after `SESSION_IDLE` without a request, `SESSION_S` after login whatever happens, and
the moment its key is revoked (or, for a key from the environment, is no longer given).
"""

from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import (
    APIKeyHeader,
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
)
from starlette.concurrency import run_in_threadpool

from flows.api.throttle import Failures, client_of
from flows.db import api_keys, sessions


class Role(enum.IntEnum):
    READ = 1
    ADMIN = 2


@dataclass(frozen=True)
class Caller:
    name: str  # the key's name (never the key)
    role: Role
    key_digest: str = ""  # what sessions are tied to (never the key)


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

    def gives(self, key_digest: str) -> bool:
        """Whether a key with this digest is still given (its sessions live on)."""
        return any(hmac.compare_digest(api_keys.digest(key), key_digest) for key in self.roles)

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
        return Caller(name_of(key, role), role, api_keys.digest(key))
    async with request.app.state.connections.connection() as db:
        found = await run_in_threadpool(api_keys.find, db, key)
    if found is None:
        return None
    return Caller(found[0], _role(found[1]), api_keys.digest(key))


def _role(name: str) -> Role:
    return Role.ADMIN if name == "admin" else Role.READ


# Sessions of the dashboard ---------------------------------------------------------------------

SESSION_COOKIE = "flows_session"
SESSION_S = 8 * 3600  # absolute: a session ends this long after login
SESSION_IDLE = timedelta(hours=1)  # and after this long without a request


class Sessions:
    """Dashboard sessions, in the database (`flows.db.sessions`)."""

    async def open(self, request: Request, caller: Caller) -> str:
        async with request.app.state.connections.connection() as db:
            return await run_in_threadpool(
                sessions.open_session, db, caller.key_digest, caller.name,
                "admin" if caller.role == Role.ADMIN else "read", timedelta(seconds=SESSION_S))

    async def caller(self, request: Request, session: str) -> Caller | None:
        """Who the live session ``session`` belongs to, or None (over, or its key revoked)."""
        async with request.app.state.connections.connection() as db:
            found = await run_in_threadpool(sessions.find_session, db, session, SESSION_IDLE)
            if found is None:
                return None
            keys: ApiKeys = request.app.state.keys
            if found.key_revoked or (not found.named_key and not keys.gives(found.key_digest)):
                await run_in_threadpool(sessions.close_session, db, session)
                return None
        return Caller(found.key_name, _role(found.role), found.key_digest)

    async def close(self, request: Request, session: str) -> None:
        async with request.app.state.connections.connection() as db:
            await run_in_threadpool(sessions.close_session, db, session)


# Dependencies ----------------------------------------------------------------------------------

# Declared in OpenAPI (the Authorize button in /docs); checked by `_require`.
bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer KEY")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="X-API-Key: KEY")
basic = HTTPBasic(auto_error=False, realm="Flows",
                  description="HTTP Basic with the key as the username, as Octopus' API")
# The Octopus-compatible surface (`flows.api.routes.octopus`) lives under this prefix.
OCTOPUS_PREFIX = "/v1/"


def is_octopus(path: str) -> bool:
    """Whether ``path`` is on the Octopus-compatible surface: its keys are challenged, and its
    errors answered, as Octopus' API does."""
    return path.startswith(OCTOPUS_PREFIX)


def _challenge(request: Request) -> dict[str, str]:
    basic_auth = is_octopus(request.url.path)
    return {"WWW-Authenticate": 'Basic realm="Flows"' if basic_auth else "Bearer"}


async def _require(request: Request, needed: Role, key: str | None) -> Caller:
    if not key:
        hint = " (?key= is not accepted: a key in a URL ends up in logs)" if (
            "key" in request.query_params) else ""
        raise HTTPException(401, f"an API key is required (Authorization: Bearer KEY){hint}",
                            headers=_challenge(request))
    failures: Failures = request.app.state.failures
    failures.check(client_of(request))
    caller = await identify(request, key)
    if caller is None:
        failures.failed(client_of(request))
        raise HTTPException(401, "unknown API key", headers=_challenge(request))
    return _admitted(request, caller, needed)


def _admitted(request: Request, caller: Caller, needed: Role) -> Caller:
    request.state.key_name = caller.name
    if caller.role < needed:
        raise HTTPException(403, "this API key may only read")
    return caller


Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
HeaderKey = Annotated[str | None, Depends(api_key_header)]
Basic = Annotated[HTTPBasicCredentials | None, Depends(basic)]


def key_sent(bearer_credentials: Bearer, header_key: HeaderKey, basic_credentials: Basic) -> str | None:
    """The key of a request, however it was sent."""
    if bearer_credentials:
        return bearer_credentials.credentials
    return header_key or (basic_credentials.username if basic_credentials else None)


KeySent = Annotated[str | None, Depends(key_sent)]


async def reader(request: Request, key: KeySent) -> Caller:
    return await _require(request, Role.READ, key)


async def admin(request: Request, key: KeySent) -> Caller:
    return await _require(request, Role.ADMIN, key)


class LoginRequired(Exception):
    """A dashboard page asked for without a session: the app redirects to /login, or answers
    401 with the login form when the session sent has ended (``ended``)."""

    def __init__(self, ended: bool = False) -> None:
        super().__init__("log in first")
        self.ended = ended


async def viewer(request: Request, key: KeySent) -> Caller:
    """A dashboard page's caller: a session (the cookie), or a key in a header."""
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        caller = await request.app.state.sessions.caller(request, session)
        if caller is not None:
            return _admitted(request, caller, Role.READ)
    if key:
        return await _require(request, Role.READ, key)
    raise LoginRequired(ended=bool(session))


def key_name(request: Request) -> str:
    """The name of the key the request was let in with."""
    return str(getattr(request.state, "key_name", "unknown"))

