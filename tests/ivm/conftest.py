"""Fixtures for flows.ivm tests: store makers for each kind of store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ivm.stores import PostgresStores, PythonStores, SQLiteStores


@pytest.fixture
def python_stores() -> PythonStores:
    return PythonStores()


@pytest.fixture
def sqlite_stores() -> SQLiteStores:
    return SQLiteStores()


@pytest.fixture
def postgres_stores(postgres_url: str) -> Iterator[PostgresStores]:
    stores = PostgresStores(postgres_url)
    yield stores
    stores.close()
