"""Database URLs: which engine, which SQLite file, and a URL fit for messages (no password)."""

from __future__ import annotations

import re

from flows.db.errors import InvalidValueError

DEFAULT_URL = "sqlite:///flows.db"


def safe_url(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)


def check_url(url: str) -> None:
    """Refuse what cannot be a Flows database URL, naming the problem (a typo must not become
    a new, empty database)."""
    scheme, separator, _ = url.partition("://")
    if separator and scheme not in ("sqlite", "postgresql", "postgres"):
        raise InvalidValueError(f"unknown database URL scheme {scheme + '://'!r} in {safe_url(url)!r}: "
                                "use sqlite:///path/flows.db or postgresql://user@host/dbname")
    if not separator and ":" in url.split("/")[0]:
        raise InvalidValueError(f"{url!r} is not a database URL: use sqlite:///path/flows.db or "
                                "postgresql://user@host/dbname")


def sqlite_path(url: str) -> str | None:
    """The file of an SQLite URL (None: PostgreSQL, or an in-memory database)."""
    if url.startswith(("postgresql://", "postgres://")):
        return None
    path = url.removeprefix("sqlite:///").removeprefix("sqlite://")
    return None if path == ":memory:" else path


