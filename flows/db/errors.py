"""The database's errors, by kind (as psycopg's errors module): what callers catch and the API
maps to HTTP statuses by type; and driver errors translated into them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg


class DatabaseError(Exception):
    """A problem with the Flows database (connection, migration, bad data)."""


class NotFoundError(DatabaseError):
    """What was asked for (a meter, a register, a customer, a value) is not stored."""


class ConflictError(DatabaseError):
    """The change clashes with what is stored (a duplicate serial, esco or customer)."""


class InvalidValueError(DatabaseError):
    """A value the database or its rules refuse (unknown hardware, negative reading, ...)."""


class UnavailableError(DatabaseError):
    """The database cannot be reached or opened."""


class LockTimeoutError(UnavailableError):
    """A lock was not granted within the session's ``lock_timeout`` (another session holds
    it: the transaction is rolled back, trying again later may work)."""


def integrity_error(error: Exception) -> DatabaseError:
    text = str(error).strip()
    if isinstance(error, psycopg.errors.UniqueViolation) or "UNIQUE constraint" in text:
        return ConflictError(f"rejected by the database: {text}")
    return InvalidValueError(f"rejected by the database: {text}")


# SQLite errors that say the file cannot be used right now (another writer holds the lock past
# the busy timeout, the file or its directory is read-only, the disk failed), not a bug.
_SQLITE_UNAVAILABLE = ("database is locked", "readonly database", "unable to open database",
                       "disk I/O error", "database or disk is full")


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database cannot be reached or used right now (a restart, a
    lost connection, a lock or a read-only file) rather than that a statement is wrong."""
    if isinstance(error, UnavailableError):
        return True
    if isinstance(error, psycopg.OperationalError):  # AdminShutdown, connection lost or closed
        return True
    if isinstance(error, psycopg.InterfaceError):
        return True
    if isinstance(error, sqlite3.OperationalError):
        return any(text in str(error) for text in _SQLITE_UNAVAILABLE)
    return False


@contextmanager
def translated_errors(url: str) -> Iterator[None]:
    """Driver errors as `DatabaseError` kinds: constraint violations, and outages (``url``:
    the database's, without its password, for the message)."""
    try:
        yield
    except (sqlite3.IntegrityError, psycopg.errors.IntegrityError) as error:
        raise integrity_error(error) from error
    except psycopg.errors.LockNotAvailable as error:
        raise LockTimeoutError(f"a lock was not granted in time: {str(error).strip()}") from error
    except (sqlite3.OperationalError, psycopg.Error) as error:
        if not is_unavailable(error):
            raise
        raise UnavailableError(f"the database {url} is unavailable: "
                               f"{str(error).strip() or type(error).__name__}") from error


