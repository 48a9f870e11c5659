"""Shared fixtures: a real, throwaway PostgreSQL cluster for the whole test session; and the
markers every test gets by what it uses (`postgres`, `browser`, `interop`; `slow` is set by
hand on tests of several seconds): `make test-fast` leaves out slow, browser and interop.

Set ``FLOWS_TEST_DATABASE_URL`` to use an existing server instead (each test still gets its own
database there). Otherwise a cluster is created with ``initdb`` in a temporary directory and
started with ``pg_ctl`` on a free loopback port; as root, both run as the ``postgres`` user
because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from flows.db import Database, connect, migrate
from flows.devtools.postgres import TemporaryCluster

POSTGRES_FIXTURES = {"postgres_server_url", "postgres_url", "postgres_conn", "migrated_template",
                     "migrated_postgres_url", "migrated_postgres_url_module"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = item.path.as_posix()
        fixtures = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        engine = callspec.params.get("db") if callspec is not None else None
        if fixtures & POSTGRES_FIXTURES or engine == "postgres" or "[postgres" in item.name:
            item.add_marker(pytest.mark.postgres)
        if "/tests/interop/" in path:
            item.add_marker(pytest.mark.interop)
        if path.endswith("_browser.py"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of a PostgreSQL server (superuser) for the whole session."""
    external = os.environ.get("FLOWS_TEST_DATABASE_URL")
    if external:
        yield external
        return
    cluster = TemporaryCluster()
    try:
        yield cluster.url
    finally:
        cluster.stop()


def _database_url(server_url: str, name: str) -> str:
    """A postgresql:// URL (as FLOWS_DATABASE_URL would be) for database ``name`` on the server."""
    params = conninfo_to_dict(server_url)
    user = params.get("user") or ""
    if user and params.get("password"):
        user = f"{user}:{params['password']}"
    return (f"postgresql://{user + '@' if user else ''}{params.get('host', '127.0.0.1')}:"
            f"{params.get('port', 5432)}/{name}")


@contextmanager
def _throwaway_database(server_url: str, prefix: str, template: str | None = None) -> Iterator[str]:
    """A new database (a copy of ``template``), dropped afterwards; its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"{copy}')
    try:
        yield name
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """URL of a fresh, empty database for one test; dropped afterwards."""
    with _throwaway_database(postgres_server_url, "flows_test") as name:
        yield _database_url(postgres_server_url, name)


@pytest.fixture
def postgres_conn(postgres_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A connection to the test's own database (as the seed's ``postgres_conn``)."""
    with psycopg.connect(postgres_url) as conn:
        yield conn


# The Flows database on both engines (each test on a fresh database). PostgreSQL databases are
# copies of one migrated template, made once per session: migrating for every test is slow.


@pytest.fixture(scope="session")
def migrated_template(postgres_server_url: str) -> Iterator[str]:
    with _throwaway_database(postgres_server_url, "flows_template") as name:
        with connect(_database_url(postgres_server_url, name)) as template:
            migrate(template)
        yield name


@pytest.fixture
def migrated_postgres_url(postgres_server_url: str, migrated_template: str) -> Iterator[str]:
    with _throwaway_database(postgres_server_url, "flows_db", migrated_template) as name:
        yield _database_url(postgres_server_url, name)


@pytest.fixture(scope="module")
def migrated_postgres_url_module(postgres_server_url: str, migrated_template: str
                                 ) -> Iterator[str]:
    """`migrated_postgres_url` shared by a module's tests (each keeping to its own rows)."""
    with _throwaway_database(postgres_server_url, "flows_module", migrated_template) as name:
        yield _database_url(postgres_server_url, name)


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, made once: copying it (milliseconds) beats migrating (~1 s)."""
    path = tmp_path_factory.mktemp("template") / "flows.db"
    with connect(f"sqlite:///{path}") as template:
        migrate(template)
        template.raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        path = tmp_path / "flows.db"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("migrated_postgres_url")
    database = connect(url)
    assert database.engine == request.param
    migrate(database)
    yield database
    database.close()
