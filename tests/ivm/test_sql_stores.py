"""SQL stores: readable, typed tables; clear errors when a store does not match the query."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest

import flows.ivm as st
from flows.ivm.sql.store import table_name
from tests.ivm import test_seed_meter_reads as seed
from tests.ivm import workload


def sqlite_store(path: Path, create: bool = True) -> tuple[st.StoreSQLite, Any]:
    conn = st.connection_sqlite(path)
    return st.StoreSQLite.from_graph(conn, st.compile(seed.query), create_tables=create), conn


def fill(store: st.Store) -> None:
    i_users, i_meters, i_reads = st.actions(store, st.compile(seed.query))
    i_users.insert(seed.user_1)
    i_meters.insert(seed.meter_1)
    i_reads.insert(*seed.half_hourly_reads_1)


def test_table_names_are_readable_and_stable() -> None:
    assert table_name("query.daily_cache", "values") == "query__daily_cache"
    assert table_name("query.join_reads", "right") == "query__join_reads__right"
    long = table_name("q." + "x" * 80, "left")
    assert len(long) <= 60 and long == table_name("q." + "x" * 80, "left")
    assert table_name("query.Daily", "values") != table_name("query.daily", "values")


def test_sqlite_cache_is_plain_sql_with_typed_key_columns(tmp_path: Path) -> None:
    store, conn = sqlite_store(tmp_path / "s.db")
    fill(store)
    rows = conn.execute("SELECT key_date, count, value FROM query__daily_cache "
                        "WHERE key_date = '2023-01-02'").fetchall()
    assert rows == [("2023-01-02", 1, '{"user_id":1,"meter_id":"00000001-b3fb-47ef-b22f-'
                     'a45ba5b7b645","date":"2023-01-02","value":18.5}')]
    plan = " ".join(str(row) for row in conn.execute(
        "EXPLAIN QUERY PLAN SELECT value, NULL, count FROM query__daily_cache "
        "WHERE key_date IN (?) ORDER BY key_date", ("2023-01-02",)).fetchall())
    # The cache is clustered by its first index: the primary key (key_date, value) serves it.
    assert "USING PRIMARY KEY (key_date=?)" in plan and "SCAN" not in plan


def test_postgres_cache_is_plain_sql_with_typed_key_columns(
        postgres_conn: psycopg.Connection[Any]) -> None:
    store = st.StorePostgres.from_graph(postgres_conn, st.compile(seed.query), create_tables=True)
    fill(store)
    column_type = postgres_conn.execute(
        "SELECT data_type FROM information_schema.columns WHERE table_name = "
        "'query__daily_cache' AND column_name = 'key_date'").fetchone()
    assert column_type == ("date",)
    rows = postgres_conn.execute("SELECT sum((value::jsonb->>'value')::float) FROM "
                                 "query__daily_cache WHERE key_date = '2023-01-02'").fetchone()
    assert rows == (18.5,)
    postgres_conn.execute("SET enable_seqscan = off")  # tiny table: ask whether an index serves
    plan = postgres_conn.execute("EXPLAIN SELECT value FROM query__daily_cache WHERE key_date = "
                                 "ANY(ARRAY['2023-01-02'::date])").fetchall()
    assert "query__daily_cache_pkey" in str(plan)


def test_a_data_cache_is_a_typed_view_plain_sql_reads_on_postgres(
        postgres_conn: psycopg.Connection[Any]) -> None:
    store = st.StorePostgres.from_graph(postgres_conn, st.compile(seed.query), create_tables=True)
    fill(store)
    *_, i_reads = st.actions(store, st.compile(seed.query))
    i_reads.remove(seed.half_hourly_reads_1[0])  # the view follows every iteration
    day = date(2023, 1, 2)
    by_index = sorted((d.user_id, d.meter_id, d.date, d.value, count) for _, d, count in
                      seed.daily_cache.zset(store).iter_by_index(seed.index_daily, frozenset({day})))
    assert by_index
    rows = postgres_conn.execute(
        "SELECT user_id, meter_id, date, value, count FROM query__daily_cache__rows "
        "WHERE date = %s ORDER BY 1, 2, 3, 4", (day,)).fetchall()
    assert rows == by_index  # typed: int, uuid, date, double precision
    types = dict(postgres_conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'query__daily_cache__rows'").fetchall())
    assert types == {"user_id": "bigint", "meter_id": "uuid", "date": "date",
                     "value": "double precision", "count": "bigint"}
    postgres_conn.execute("SET enable_seqscan = off")
    plan = postgres_conn.execute("EXPLAIN SELECT * FROM query__daily_cache__rows "
                                 "WHERE date = '2023-01-02'").fetchall()
    assert "query__daily_cache_pkey" in str(plan)  # the date filter uses the cache's index
    postgres_conn.execute("SET enable_seqscan = on")
    # A reader's own view on it survives the store being opened again.
    postgres_conn.execute("CREATE VIEW my_days AS SELECT date, sum(value) AS kwh "
                          "FROM query__daily_cache__rows GROUP BY date")
    st.StorePostgres.from_graph(postgres_conn, st.compile(seed.query), create_tables=True)
    assert postgres_conn.execute("SELECT count(*) FROM my_days").fetchone() == (3,)
    postgres_conn.execute("DROP VIEW my_days")
    assert st.StorePostgres.drop(postgres_conn, st.compile(seed.query))  # views go too


def test_a_data_cache_is_a_view_on_sqlite(tmp_path: Path) -> None:
    store, conn = sqlite_store(tmp_path / "s.db")
    fill(store)
    day = date(2023, 1, 2)
    by_index = sorted((d.user_id, str(d.meter_id), d.date.isoformat(), d.value, count)
                      for _, d, count in seed.daily_cache.zset(store).iter_by_index(
                          seed.index_daily, frozenset({day})))
    rows = conn.execute("SELECT user_id, meter_id, date, value, count FROM "
                        "query__daily_cache__rows WHERE date = '2023-01-02'").fetchall()
    assert sorted(rows) == by_index and by_index


def test_opening_without_tables_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(st.StoreError, match=r"no store for query 'query'.*create_tables=True"):
        sqlite_store(tmp_path / "empty.db", create=False)


def test_opening_with_another_query_shape_is_refused(tmp_path: Path) -> None:
    sqlite_store(tmp_path / "s.db")

    def query(users: st.ZSet[seed.User]) -> st.ZSet[seed.User]:  # same name, other shape
        return st.distinct(users)

    conn = st.connection_sqlite(tmp_path / "s.db")
    for create in (True, False):
        with pytest.raises(st.StoreError, match="created by a query of a different shape"):
            st.StoreSQLite.from_graph(conn, st.compile(query), create_tables=create)


def test_reopening_with_create_tables_keeps_the_data(tmp_path: Path) -> None:
    store, _ = sqlite_store(tmp_path / "s.db")
    fill(store)
    again, _ = sqlite_store(tmp_path / "s.db", create=True)
    days = frozenset((date(2023, 1, 2),))
    rows = seed.daily_cache.zset(again).iter_by_index(seed.index_daily, days)
    assert [usage.value for _, usage, _ in rows] == [18.5]


def test_a_failed_iteration_leaves_sql_state_unchanged(tmp_path: Path) -> None:
    store = workload.open_store("sqlite", str(tmp_path / "w.db"), create=True)
    (i_reads,) = st.actions(store, st.compile(workload.daily_usage))
    i_reads.insert(*workload.make_reads(0, 20))
    with pytest.raises(st.RemoveError):
        i_reads.remove(*workload.make_reads(15, 10))  # 20..24 were never inserted
    assert dict(workload.daily_cache.zset(store).iter()) == workload.expected_daily(
        workload.make_reads(0, 20))
    i_reads.remove(*workload.make_reads(15, 5))
    assert dict(workload.daily_cache.zset(store).iter()) == workload.expected_daily(
        workload.make_reads(0, 15))


def test_open_transaction_on_the_connection_is_refused(tmp_path: Path) -> None:
    conn = st.connection_sqlite(tmp_path / "t.db")
    conn.execute("BEGIN")
    with pytest.raises(st.StoreError, match="inside a transaction"):
        st.StoreSQLite.from_graph(conn, st.compile(seed.query), create_tables=True)


def test_sqlite_checkpoints_run_beside_the_iterations(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.ivm.sql.sqlite import Checkpointer

    monkeypatch.setattr(Checkpointer, "WAL_LIMIT_BYTES", 1)
    path = tmp_path / "c.db"
    conn = st.connection_sqlite(path)
    store = st.StoreSQLite.from_graph(conn, st.compile(workload.daily_usage), create_tables=True)
    # The writer's own checkpoints only bound the WAL (pages: twice the limit, here tiny).
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone() == (1,)
    checkpointer = Checkpointer.for_connection(conn)
    assert checkpointer is not None
    passes, checkpoints = checkpointer.passes, checkpointer.checkpoints
    (i_reads,) = st.actions(store, st.compile(workload.daily_usage))
    i_reads.insert(*workload.make_reads(0, 200))
    assert checkpointer.wait_for_pass(passes, timeout=30)
    assert checkpointer.checkpoints > checkpoints
    assert dict(workload.daily_cache.zset(store).iter()) == workload.expected_daily(
        workload.make_reads(0, 200))


def test_postgres_tables_rewritten_by_iterations_are_vacuumed_beside_them(
        postgres_conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.ivm.sql.postgres import PostgresDialect, Vacuumer

    monkeypatch.setattr(Vacuumer, "MIN_ROWS", 50)
    graph = st.compile(workload.daily_usage)
    store = st.StorePostgres.from_graph(postgres_conn, graph, create_tables=True)
    assert isinstance(store.dialect, PostgresDialect)
    vacuumer = store.dialect.vacuumer
    (i_reads,) = st.actions(store, graph)
    for start in range(0, 200, 20):  # every batch rewrites the daily rows it touches
        i_reads.insert(*workload.make_reads(start, 20))
    assert vacuumer.wait_for_pass(0, timeout=30)
    assert vacuumer.vacuums > 0
    vacuumed = postgres_conn.execute(
        "SELECT max(vacuum_count) FROM pg_stat_user_tables WHERE relname LIKE 'daily_usage%'"
    ).fetchone()
    assert vacuumed is not None and vacuumed[0] > 0
    assert dict(workload.daily_cache.zset(store).iter()) == workload.expected_daily(
        workload.make_reads(0, 200))


def test_before_commit_writes_commit_with_the_iteration_or_not_at_all(tmp_path: Path) -> None:
    conn = st.connection_sqlite(tmp_path / "h.db")
    conn.execute("CREATE TABLE feed_position (position INTEGER)")
    graph = st.compile(workload.daily_usage)
    store = st.StoreSQLite.from_graph(conn, graph, create_tables=True)
    reads = workload.make_reads(0, 10)

    def failing(outputs: Any) -> None:
        conn.execute("INSERT INTO feed_position VALUES (1)")
        raise RuntimeError("lost")

    with pytest.raises(RuntimeError):
        st.iteration(store, graph, [st.ZSetPython({r: 1 for r in reads})], before_commit=failing)
    assert conn.execute("SELECT count(*) FROM feed_position").fetchone() == (0,)
    assert dict(workload.daily_cache.zset(store).iter()) == {}
    seen: list[Any] = []

    def record(outputs: Any) -> None:
        seen.append(outputs)
        conn.execute("INSERT INTO feed_position VALUES (2)")

    st.iteration(store, graph, [st.ZSetPython({r: 1 for r in reads})], before_commit=record)
    assert conn.execute("SELECT position FROM feed_position").fetchall() == [(2,)]
    assert dict(workload.daily_cache.zset(store).iter()) == workload.expected_daily(reads)
    assert len(seen) == 1 and dict(seen[0][0].iter())  # the iteration's output changes
