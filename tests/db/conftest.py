"""Every flows.db test runs on SQLite and on PostgreSQL (each test on a fresh database).

PostgreSQL databases are copies of one migrated template, made once per session: migrating
(with its monthly partitions) for every test would be slow.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from flows.db import Database, connect, migrate


def _url(server_url: str, name: str) -> str:
    params = conninfo_to_dict(server_url)
    user = f"{params['user']}@" if params.get("user") else ""
    return f"postgresql://{user}{params.get('host', '127.0.0.1')}:{params.get('port', 5432)}/{name}"


@pytest.fixture(scope="session")
def migrated_template(postgres_server_url: str) -> Iterator[str]:
    name = f"flows_template_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    with connect(_url(postgres_server_url, name)) as template:
        migrate(template)
    yield name
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def migrated_postgres_url(postgres_server_url: str, migrated_template: str) -> Iterator[str]:
    name = f"flows_db_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
    yield _url(postgres_server_url, name)
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'flows.db'}"
    else:
        url = request.getfixturevalue("migrated_postgres_url")
    database = connect(url)
    assert database.engine == request.param
    migrate(database)
    yield database
    database.close()
