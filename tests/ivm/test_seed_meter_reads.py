"""The seed example (../shared/seeds/stepping-meter-reads.txt) verbatim, on StorePython.

Only the import line differs from the seed (and the store constructor, which is the part of the
seed the issue allows to change for the in-memory store). At the end, the same steps on SQLite and
PostgreSQL, with the store also opened from a second process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg

import flows.ivm as st


class User(st.Data):
    user_id: int
    name: str


class Meter(st.Data):
    meter_id: UUID
    user_id: int


class HalfHourlyMeterRead(st.Data):
    meter_id: UUID
    timestamp: datetime
    value: float


class UserMeter(User, Meter):
    ...


class UserMeterRead(User, Meter, HalfHourlyMeterRead):
    date: date


class DailyUsage(st.Data):
    user_id: int
    meter_id: UUID
    date: date
    value: float


def make_user_meter(p: st.Pair[User, Meter]) -> UserMeter:
    return UserMeter(user_id=p.left.user_id, name=p.left.name, meter_id=p.right.meter_id)


def with_date(p: st.Pair[UserMeter, HalfHourlyMeterRead]) -> UserMeterRead:
    return UserMeterRead(
        user_id=p.left.user_id,
        name=p.left.name,
        meter_id=p.left.meter_id,
        timestamp=p.right.timestamp,
        value=p.right.value,
        date=p.right.timestamp.date(),
    )


def to_daily(p: st.Pair[float, tuple[int, UUID, date]]) -> DailyUsage:
    user_id, meter_id, day = p.right
    return DailyUsage(user_id=user_id, meter_id=meter_id, date=day, value=p.left)


def pick_value(u: UserMeterRead) -> float:
    return u.value


user_1 = User(user_id=1, name="oli")
meter_id_1 = UUID("00000001-b3fb-47ef-b22f-a45ba5b7b645")
meter_id_2 = UUID("00000002-b3fb-47ef-b22f-a45ba5b7b645")
meter_1 = Meter(meter_id=meter_id_1, user_id=1)
half_hourly_reads_1 = [
    HalfHourlyMeterRead(
        meter_id=meter_id_1, timestamp=datetime(2023, 1, 1, 2), value=24.0
    ),
    HalfHourlyMeterRead(
        meter_id=meter_id_1, timestamp=datetime(2023, 1, 1, 3), value=0.0
    ),
    HalfHourlyMeterRead(
        meter_id=meter_id_1, timestamp=datetime(2023, 1, 2, 4), value=12.5
    ),
    HalfHourlyMeterRead(
        meter_id=meter_id_1, timestamp=datetime(2023, 1, 3, 5), value=8.0
    ),
    HalfHourlyMeterRead(
        meter_id=meter_id_1, timestamp=datetime(2023, 1, 2, 6), value=6.0
    ),
    HalfHourlyMeterRead(
        meter_id=meter_id_2, timestamp=datetime(2023, 1, 2, 6), value=100.0
    ),
]


index_daily = st.Index.pick(DailyUsage, lambda d: d.date)
daily_cache = st.Cache[DailyUsage]()


def query(
    users: st.ZSet[User],
    meters: st.ZSet[Meter],
    reads: st.ZSet[HalfHourlyMeterRead],
) -> st.ZSet[DailyUsage]:
    join_meters = st.join(
        users,
        meters,
        on_left=st.Index.pick(User, lambda u: u.user_id),
        on_right=st.Index.pick(Meter, lambda m: m.user_id),
    )
    join_meters_flat = st.map(join_meters, f=make_user_meter)
    join_reads = st.join(
        join_meters_flat,
        reads,
        on_left=st.Index.pick(UserMeter, lambda p: p.meter_id),
        on_right=st.Index.pick(HalfHourlyMeterRead, lambda m: m.meter_id),
    )
    merged = st.map(join_reads, f=with_date)
    grouped = st.group_reduce_flatten(
        merged,
        by=st.Index.pick(UserMeterRead, lambda f: (f.user_id, f.meter_id, f.date)),
        zero=float,
        pick_value=pick_value
    )
    as_daily = st.map(grouped, f=to_daily)

    _ = daily_cache[as_daily](lambda a: st.integrate_indexed(a, indexes=(index_daily,)))

    return as_daily


def test_insert_then_remove() -> None:
    graph = st.compile(query)
    store = st.StorePython.from_graph(graph)
    i_users, i_meters, i_reads = st.actions(store, graph)
    i_users.insert(user_1)
    i_meters.insert(meter_1)
    i_reads.insert(*half_hourly_reads_1)

    actual = list(
        daily_cache.zset(store).iter_by_index(
            index_daily, frozenset((date(2023, 1, 2), date(2023, 1, 3)))
        )
    )
    expected = [
        (
            date(2023, 1, 2),
            DailyUsage(
                user_id=1,
                meter_id=UUID("00000001-b3fb-47ef-b22f-a45ba5b7b645"),
                date=date(2023, 1, 2),
                value=18.5,
            ),
            1,
        ),
        (
            date(2023, 1, 3),
            DailyUsage(
                user_id=1,
                meter_id=UUID("00000001-b3fb-47ef-b22f-a45ba5b7b645"),
                date=date(2023, 1, 3),
                value=8.0,
            ),
            1,
        ),
    ]
    assert actual == expected

    i_reads.remove(half_hourly_reads_1[2])  # remove a read from 2023-01-02
    actual = list(
        daily_cache.zset(store).iter_by_index(
            index_daily, frozenset((date(2023, 1, 2), date(2023, 1, 3)))
        )
    )
    expected = [
        (
            date(2023, 1, 2),
            DailyUsage(
                user_id=1,
                meter_id=UUID("00000001-b3fb-47ef-b22f-a45ba5b7b645"),
                date=date(2023, 1, 2),
                value=6.0,
            ),
            1,
        ),
        (
            date(2023, 1, 3),
            DailyUsage(
                user_id=1,
                meter_id=UUID("00000001-b3fb-47ef-b22f-a45ba5b7b645"),
                date=date(2023, 1, 3),
                value=8.0,
            ),
            1,
        ),
    ]
    assert actual == expected


# The seed on the SQL stores: the same steps, with the store opened from a second process too.

def read_in_another_process(kind: str, target: str, *extra: str) -> list[list[object]]:
    completed = subprocess.run(
        [sys.executable, "-m", "tests.ivm.seed_process", kind, target, *extra],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, check=True,
    )
    return [json.loads(line) for line in completed.stdout.splitlines()]


def run_seed_on(store: st.Store, graph: st.Graph[Any, Any], kind: str, target: str) -> None:
    i_users, i_meters, i_reads = st.actions(store, graph)
    i_users.insert(user_1)
    i_meters.insert(meter_1)
    i_reads.insert(*half_hourly_reads_1)

    actual = list(
        daily_cache.zset(store).iter_by_index(
            index_daily, frozenset((date(2023, 1, 2), date(2023, 1, 3)))
        )
    )
    assert [(day, usage.value, count) for day, usage, count in actual] == [
        (date(2023, 1, 2), 18.5, 1), (date(2023, 1, 3), 8.0, 1)]
    assert read_in_another_process(kind, target) == [["2023-01-02", 18.5, 1], ["2023-01-03", 8.0, 1]]

    i_reads.remove(half_hourly_reads_1[2])  # remove a read from 2023-01-02
    actual = list(
        daily_cache.zset(store).iter_by_index(
            index_daily, frozenset((date(2023, 1, 2), date(2023, 1, 3)))
        )
    )
    expected = [
        (
            date(2023, 1, 2),
            DailyUsage(
                user_id=1,
                meter_id=UUID("00000001-b3fb-47ef-b22f-a45ba5b7b645"),
                date=date(2023, 1, 2),
                value=6.0,
            ),
            1,
        ),
        (
            date(2023, 1, 3),
            DailyUsage(
                user_id=1,
                meter_id=UUID("00000001-b3fb-47ef-b22f-a45ba5b7b645"),
                date=date(2023, 1, 3),
                value=8.0,
            ),
            1,
        ),
    ]
    assert actual == expected
    assert read_in_another_process(kind, target) == [["2023-01-02", 6.0, 1], ["2023-01-03", 8.0, 1]]

    # The other process removes another read; this process sees it on its next iteration.
    i_reads.insert(half_hourly_reads_1[2])
    assert read_in_another_process(kind, target, "remove") == [
        ["2023-01-02", 6.0, 1], ["2023-01-03", 8.0, 1]]
    (changes,) = i_reads.insert(half_hourly_reads_1[2])
    assert {(usage.date, usage.value): count for usage, count in changes.iter()} == {
        (date(2023, 1, 2), 6.0): -1, (date(2023, 1, 2), 18.5): 1}


def test_seed_on_postgres(postgres_conn: psycopg.Connection[Any], postgres_url: str) -> None:
    graph = st.compile(query)
    store = st.StorePostgres.from_graph(postgres_conn, graph, create_tables=True)
    run_seed_on(store, graph, "postgres", postgres_url)


def test_seed_on_sqlite(tmp_path: Path) -> None:
    path = str(tmp_path / "seed.db")
    graph = st.compile(query)
    store = st.StoreSQLite.from_graph(st.connection_sqlite(path), graph, create_tables=True)
    run_seed_on(store, graph, "sqlite", path)
