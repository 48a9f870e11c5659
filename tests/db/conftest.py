"""Every flows.db test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.db import Database, connect, migrate


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'flows.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    database = connect(url)
    assert database.engine == request.param
    migrate(database)
    yield database
    database.close()
