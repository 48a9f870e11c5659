"""The session PostgreSQL fixture gives each test a real, separate, writable database."""

from __future__ import annotations

import psycopg


def test_database_is_real_and_writable(postgres_conn: psycopg.Connection[tuple[object, ...]]) -> None:
    row = postgres_conn.execute("SHOW server_version_num").fetchone()
    assert row is not None and int(str(row[0])) >= 120000
    postgres_conn.execute("CREATE TABLE probe (id bigint PRIMARY KEY)")
    postgres_conn.execute("INSERT INTO probe VALUES (1), (2)")
    assert postgres_conn.execute("SELECT count(*) FROM probe").fetchone() == (2,)


def test_each_test_gets_an_empty_database(postgres_conn: psycopg.Connection[tuple[object, ...]]) -> None:
    tables = postgres_conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
    ).fetchone()
    assert tables == (0,)
