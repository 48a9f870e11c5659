"""`connect(url)`: one small interface over SQLite (embedded default) and PostgreSQL.

SQL in flows.db is written once with ``:name`` parameters. Values go in and come out typed on
both engines: timestamps as UTC-aware datetimes, ids as UUIDs, local days as dates, money and
energy columns as Decimals. SQLite stores them as text (ISO 8601 that sorts in time order,
canonical UUIDs, decimal text); `Database.query` turns that text back into the same types
PostgreSQL returns (`flows.db.adapt`), so no caller converts anything. PostgreSQL tables live
in the schema ``flows`` (the search path is set on connect). Errors: `flows.db.errors`; URLs:
`flows.db.conninfo` (this module re-exports both, for older imports).
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, overload

import psycopg
from psycopg.rows import dict_row, tuple_row

from flows.db.adapt import (
    DECIMAL_COLUMNS,
    id_text,
    iso_time,
    sqlite_converter,
    sqlite_slot_time,
    sqlite_time,
    sqlite_value,
)
from flows.db.conninfo import DEFAULT_URL, check_url, safe_url, sqlite_path
from flows.db.errors import (
    ConflictError,
    DatabaseError,
    InvalidValueError,
    NotFoundError,
    UnavailableError,
    is_unavailable,
    translated_errors,
)

__all__ = ["DECIMAL_COLUMNS", "DEFAULT_URL", "ConflictError", "Database", "DatabaseError",
           "InvalidValueError", "NotFoundError", "UnavailableError", "check_url", "connect",
           "execute_in", "id_text", "is_unavailable", "iso_time", "query_in", "query_in_rows",
           "sqlite_path", "sqlite_slot_time", "sqlite_time"]

T = TypeVar("T")
SQLITE_BUSY_TIMEOUT_S = 60.0  # how long a statement waits for another writer's lock
_PARAM = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")


def query_in(db: Database, sql: str, values: Iterable[Any], size: int = 500,
             params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The rows of ``sql`` whose ``{values}`` stands for an ``IN`` list of ``values``, asked
    in lists of at most ``size`` (a statement's parameters are limited); ``params``: the
    statement's other parameters."""
    found: list[dict[str, Any]] = []
    for sql_in, all_params in _in_lists(sql, values, size, params):
        found += db.query(sql_in, all_params)
    return found


def query_in_rows(db: Database, sql: str, values: Iterable[Any], params: Mapping[str, Any],
                  times: tuple[int, ...] = (), size: int = 500) -> list[tuple[Any, ...]]:
    """`query_in` as `Database.query_rows`: tuples, converted only where asked."""
    found: list[tuple[Any, ...]] = []
    for sql_in, all_params in _in_lists(sql, values, size, params):
        found += db.query_rows(sql_in, all_params, times=times)
    return found


def execute_in(db: Database, sql: str, values: Iterable[Any], size: int = 500,
               params: Mapping[str, Any] | None = None) -> int:
    """Run ``sql`` (its ``{values}`` an ``IN`` list) for ``values`` in lists of at most
    ``size``; the rows changed."""
    return sum(db.execute(sql_in, all_params)
               for sql_in, all_params in _in_lists(sql, values, size, params))


def _in_lists(sql: str, values: Iterable[Any], size: int, params: Mapping[str, Any] | None
              ) -> Iterator[tuple[str, dict[str, Any]]]:
    values = list(values)
    for start in range(0, len(values), size):
        listed = {f"p{n}": value for n, value in enumerate(values[start:start + size])}
        yield (sql.format(values=", ".join(":" + name for name in listed)),
               {**(params or {}), **listed})


class Database:
    """A connection to the Flows database. ``engine`` is ``"sqlite"`` or ``"postgres"``."""

    def __init__(self, url: str, raw: Any, engine: str) -> None:
        self.shown_url = safe_url(url)  # for messages: without the password
        self.url, self.raw, self.engine = url, raw, engine
        self._session_settings: dict[str, str] = {}

    def reconnect(self) -> None:
        """Replace the connection with a new one to the same database (after a restart or a
        lost connection), with the session settings given to `set_session`. Raises
        `UnavailableError` while the database is still unreachable."""
        with contextlib.suppress(Exception):
            self.raw.close()
        fresh = connect(self.url)
        self.raw = fresh.raw
        for name, value in self._session_settings.items():
            self.execute(f"SET {name} = {value}")

    def set_session(self, name: str, value: str) -> None:
        """PostgreSQL: ``SET name = value`` for this session, again after every `reconnect`
        (``name`` and ``value`` are SQL, written by Flows, never taken from input)."""
        self.execute(f"SET {name} = {value}")
        self._session_settings[name] = value

    def setting(self, name: str) -> str:
        """PostgreSQL: the session's value of the setting ``name`` (``current_setting``)."""
        if self.engine != "postgres":
            raise InvalidValueError("settings are read from PostgreSQL")
        return str(self.query("SELECT current_setting(:name) AS value", {"name": name})[0]["value"])

    def _sql(self, sql: str) -> str:
        if self.engine == "postgres":
            return _PARAM.sub(r"%(\1)s", sql.replace("%", "%%"))
        return sql

    def _params(self, params: Mapping[str, Any] | None) -> Any:
        if not params:
            return {}
        if self.engine == "sqlite":
            return {key: sqlite_value(value) for key, value in params.items()}
        return dict(params)

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run one statement; the number of rows it changed. A constraint violation (a
        duplicate serial, say) raises `DatabaseError` naming it."""
        with translated_errors(self.shown_url):
            cursor = self.raw.execute(self._sql(sql), self._params(params))
        return int(cursor.rowcount)

    def executemany(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run one statement for each of ``rows`` (one call, pipelined on PostgreSQL)."""
        if not rows:
            return
        with translated_errors(self.shown_url):
            if self.engine == "sqlite":
                self.raw.executemany(sql, [self._params(row) for row in rows])
            else:
                with self.raw.cursor() as cursor:
                    cursor.executemany(self._sql(sql), rows)

    def executemany_raw(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each row given exactly as the driver takes it (positional
        parameters in the engine's own style and types: ``?`` and text timestamps on
        SQLite): for bulk writes that would otherwise convert every value."""
        if rows:
            with translated_errors(self.shown_url):
                if self.engine == "sqlite":
                    self.raw.executemany(sql, rows)
                else:
                    with self.raw.cursor() as cursor:
                        cursor.executemany(sql, rows)

    @contextmanager
    def copy(self, statement: str) -> Iterator[Any]:
        """PostgreSQL: ``COPY ... FROM STDIN``; write the data (``write`` of COPY's text
        format, or ``write_row``) on what this yields: the fastest way in for many rows."""
        if self.engine != "postgres":
            raise InvalidValueError("COPY is a PostgreSQL feature")
        with translated_errors(self.shown_url), self.raw.cursor() as cursor, \
                cursor.copy(statement) as copy:
            yield copy

    def query_rows(self, sql: str, params: Mapping[str, Any] | None = None,
                   times: tuple[int, ...] = ()) -> list[tuple[Any, ...]]:
        """The rows as tuples, converted only where asked: on SQLite the columns at positions
        ``times`` from timestamp text to datetimes (for hot paths: no dict per row)."""
        if self.engine == "postgres":
            with translated_errors(self.shown_url), self.raw.cursor(row_factory=tuple_row) as cursor:
                return list(cursor.execute(self._sql(sql), self._params(params)).fetchall())
        with translated_errors(self.shown_url):
            fetched: list[tuple[Any, ...]] = self.raw.execute(sql, self._params(params)).fetchall()
        if not times or not fetched:
            return fetched
        parse = datetime.fromisoformat
        if times == (0,):
            return [(parse(row[0]), *row[1:]) for row in fetched]
        return [tuple(parse(value) if n in times else value for n, value in enumerate(row))
                for row in fetched]

    @overload
    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]: ...

    @overload
    def query(self, sql: str, params: Mapping[str, Any] | None, row: Callable[..., T]
              ) -> list[T]: ...

    def query(self, sql: str, params: Mapping[str, Any] | None = None,
              row: Callable[..., T] | None = None) -> list[dict[str, Any]] | list[T]:
        """The rows, as dicts of typed values (the same types on both engines), or each made
        into ``row`` (a dataclass or any callable taking the columns by name)."""
        rows = self._dicts(sql, params)
        return rows if row is None else [row(**found) for found in rows]

    def _dicts(self, sql: str, params: Mapping[str, Any] | None) -> list[dict[str, Any]]:
        if self.engine == "postgres":  # dict rows whatever the connection's row factory
            with translated_errors(self.shown_url), self.raw.cursor(row_factory=dict_row) as cursor:
                return list(cursor.execute(self._sql(sql), self._params(params)).fetchall())
        with translated_errors(self.shown_url):
            cursor = self.raw.execute(self._sql(sql), self._params(params))
            fetched = cursor.fetchall()
        if not fetched:
            return []
        names = [d[0] for d in cursor.description]
        # Columns hold one type each: a column whose first value is a number stays as it is
        # (Decimal columns excepted), so only text is looked at, row by row.
        first = fetched[0]
        converting = [(name, sqlite_converter(name)) for position, name in enumerate(names)
                      if name in DECIMAL_COLUMNS or first[position] is None
                      or type(first[position]) is str]
        rows = [dict(zip(names, row)) for row in fetched]
        for name, convert in converting:
            for row in rows:
                row[name] = convert(row[name])
        return rows

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """All or nothing: commits on success, rolls back on any exception. Inside another
        transaction it is a savepoint of it (as psycopg nests them)."""
        if self.engine == "sqlite" and self.raw.in_transaction:
            with translated_errors(self.shown_url):
                self.raw.execute("SAVEPOINT nested")
            try:
                yield self
            except BaseException:
                if self.raw.in_transaction:
                    self.raw.execute("ROLLBACK TO nested")
                    self.raw.execute("RELEASE nested")
                raise
            with translated_errors(self.shown_url):
                self.raw.execute("RELEASE nested")
        elif self.engine == "sqlite":
            with translated_errors(self.shown_url):
                self.raw.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                if self.raw.in_transaction:
                    self.raw.execute("ROLLBACK")
                raise
            with translated_errors(self.shown_url):
                self.raw.execute("COMMIT")
        else:
            with translated_errors(self.shown_url), self.raw.transaction():
                yield self

    def use_flows_schema(self) -> None:
        """On PostgreSQL, resolve table names in the schema ``flows`` (as `connect` does), for a
        connection opened elsewhere (the views' store opens its own)."""
        if self.engine == "postgres":
            self.raw.execute("SET search_path TO flows, public")

    def ping(self) -> None:
        """Ask the database for nothing: `UnavailableError` unless it answers."""
        self.query("SELECT 1 AS ready")

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(url: str = DEFAULT_URL, create: bool = True) -> Database:
    """``sqlite:///path/flows.db`` (or a plain path) or ``postgresql://…``. ``create=False``:
    an SQLite file that does not exist yet is an error (`NotFoundError`), not a new database."""
    check_url(url)
    path = sqlite_path(url)
    if not create and path is not None and not Path(path).exists():
        raise NotFoundError(f"no database at {path}: create one with `flows db migrate "
                            f"--database {url}` (is the path right?)")
    if url.startswith(("postgresql://", "postgres://")):
        try:
            raw = psycopg.connect(url, autocommit=True, row_factory=dict_row)
            raw.execute("CREATE SCHEMA IF NOT EXISTS flows")
            raw.execute("SET search_path TO flows, public")
            raw.execute("SET TimeZone TO 'UTC'")
        except psycopg.OperationalError as error:
            raise UnavailableError(f"cannot connect to {safe_url(url)}: {error}") from None
        return Database(url, raw, "postgres")
    if "=" in url and not url.startswith("sqlite:"):
        raise InvalidValueError(f"{url!r} looks like a PostgreSQL conninfo string: give a "
                            "postgresql://user@host:port/dbname URL (or sqlite:///path)")
    path = url.removeprefix("sqlite:///").removeprefix("sqlite://")
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    with translated_errors(safe_url(url)):
        raw_sqlite = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                     timeout=SQLITE_BUSY_TIMEOUT_S)
        raw_sqlite.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL never corrupts the database; a power cut may lose the last commits,
        # which the next sync collects again (the meters keep their registers). Each commit then
        # costs no fsync, which is what lets one collector write thousands of meters a second.
        raw_sqlite.execute("PRAGMA synchronous=NORMAL")
        raw_sqlite.execute("PRAGMA foreign_keys=ON")
        raw_sqlite.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        # Up to 32 MiB of pages (the default is 2): a bulk write's index pages stay in memory
        # until its commit instead of spilling (87k → 115k profile rows/s, 50 meters a commit).
        raw_sqlite.execute("PRAGMA cache_size=-32768")
    return Database(url, raw_sqlite, "sqlite")
