"""Queries in the style of stepping's documentation (our own copies, written from its API), run
by `test_stepping_examples.py` on flows.ivm and, in stepping's own virtual environment, on
stepping 0.0.3: ``python tests/ivm/stepping_examples.py`` prints every example's outputs as
JSON, on the engine ``STEPPING_ENGINE`` names (``flows``, the default, or ``stepping``).

This file must import under both engines (stepping's venv has no flows): standard library and
the engine only. The examples stay where both engines agree by design (see the README's
"Coming from stepping" for where they differ: a group's last row removed, an outer join with
several matches, forward delays).
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime, timedelta
from typing import Any

if os.environ.get("STEPPING_ENGINE") == "stepping":
    import stepping as st
else:
    import flows.ivm as st  # type: ignore[no-redef]


class User(st.Data):
    user_id: int
    name: str


class Meter(st.Data):
    meter_id: int
    user_id: int


class Read(st.Data):
    meter_id: int
    timestamp: datetime
    value: float


class UserMeter(st.Data):
    user_id: int
    meter_id: int


class UserRead(st.Data):
    user_id: int
    meter_id: int
    day: date
    value: float


class Daily(st.Data):
    user_id: int
    meter_id: int
    day: date
    value: float


def user_meter(p: st.Pair[User, Meter]) -> UserMeter:
    return UserMeter(user_id=p.left.user_id, meter_id=p.right.meter_id)


def user_read(p: st.Pair[UserMeter, Read]) -> UserRead:
    return UserRead(user_id=p.left.user_id, meter_id=p.left.meter_id,
                    day=p.right.timestamp.date(), value=p.right.value)


def to_daily(p: st.Pair[float, tuple[int, int, date]]) -> Daily:
    return Daily(user_id=p.right[0], meter_id=p.right[1], day=p.right[2], value=p.left)


def pick_value(r: UserRead) -> float:
    return r.value


by_day = st.Index.pick(Daily, lambda d: d.day)
daily_cache = st.Cache[Daily]()


def daily_usage(users: st.ZSet[User], meters: st.ZSet[Meter],
                reads: st.ZSet[Read]) -> st.ZSet[Daily]:
    """The documentation's main example: half-hourly reads summed per user, meter and day."""
    joined = st.join(users, meters, on_left=st.Index.pick(User, lambda u: u.user_id),
                     on_right=st.Index.pick(Meter, lambda m: m.user_id))
    flat = st.map(joined, f=user_meter)
    with_reads = st.join(flat, reads, on_left=st.Index.pick(UserMeter, lambda u: u.meter_id),
                         on_right=st.Index.pick(Read, lambda r: r.meter_id))
    merged = st.map(with_reads, f=user_read)
    summed = st.group_reduce_flatten(
        merged, by=st.Index.pick(UserRead, lambda r: (r.user_id, r.meter_id, r.day)),
        zero=float, pick_value=pick_value)
    daily = st.map(summed, f=to_daily)
    _ = daily_cache[daily](lambda a: st.integrate_indexed(a, indexes=(by_day,)))
    return daily


def pick_name_length(u: User) -> int:
    return len(u.name)


def after_first(u: User) -> bool:
    return u.user_id > 1


def name_of(u: User) -> str:
    return u.name


def user_stats(users: st.ZSet[User]) -> tuple[st.ZSet[int], st.ZSet[int], st.ZSet[str]]:
    """reduce, count, and distinct of a filtered map (stepping: one operator per line)."""
    total = st.reduce(users, zero=int, pick_value=pick_name_length)
    how_many = st.count(users)
    later = st.filter(users, f=after_first)
    named = st.map(later, f=name_of)
    names = st.distinct(named)
    return total, how_many, names


def reachable(edges: st.ZSet[st.Pair[int, int]]) -> st.ZSet[st.Pair[int, int]]:
    closure = st.transitive_closure(edges)
    return closure


def integrated(a: st.ZSet[str]) -> st.ZSet[str]:
    summed = st.integrate(a)
    return summed


def scalars(a: st.ZSet[int]) -> tuple[st.ZSet[int], st.ZSet[int]]:
    scalar = st.make_scalar(a, zero=int)
    delayed = st.delay(scalar)
    now = st.make_set(scalar)
    before = st.make_set(delayed)
    return now, before


# Canonical forms: values as JSON both engines print alike ----------------------------------


def canonical(value: Any) -> Any:
    if isinstance(value, st.Pair):
        return ["Pair", canonical(value.left), canonical(value.right)]
    if isinstance(value, st.Data):
        return [type(value).__name__, *(canonical(getattr(value, name))
                                        for name in value.st_field_names)]
    if isinstance(value, tuple):
        return [canonical(part) for part in value]
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def zset(z: Any) -> list[Any]:
    return sorted(([canonical(value), count] for value, count in z.iter()), key=json.dumps)


def run() -> dict[str, Any]:
    """Every example's outputs, call by call."""
    out: dict[str, Any] = {}
    graph = st.compile(daily_usage)
    store = st.StorePython.from_graph(graph)
    i_users, i_meters, i_reads = st.actions(store, graph)
    start = datetime(2023, 1, 1, 23)
    reads = [Read(meter_id=m, timestamp=start + timedelta(minutes=30 * n), value=0.25 * n)
             for m in (1, 2) for n in range(4)]
    calls = [i_users.insert(User(user_id=1, name="ann"), User(user_id=2, name="bo")),
             i_meters.insert(Meter(meter_id=1, user_id=1), Meter(meter_id=2, user_id=2)),
             i_reads.insert(*reads),
             i_reads.remove(reads[0]),
             i_reads.replace(reads[5], Read(meter_id=2, timestamp=reads[5].timestamp, value=9.0)),
             i_meters.insert(Meter(meter_id=2, user_id=1))]  # shared: no group empties
    out["daily_usage"] = [[zset(z) for z in outputs] for outputs in calls]
    out["daily_cache"] = sorted(
        ([canonical(key), canonical(value), count] for key, value, count in
         daily_cache.zset(store).iter_by_index(by_day, frozenset({date(2023, 1, 2)}))),
        key=json.dumps)

    graph_stats = st.compile(user_stats)
    (i_stats,) = st.actions(st.StorePython.from_graph(graph_stats), graph_stats)
    out["user_stats"] = [[zset(z) for z in outputs] for outputs in (
        i_stats.insert(User(user_id=1, name="ann"), User(user_id=2, name="bo"),
                       User(user_id=3, name="bo")),
        i_stats.remove(User(user_id=2, name="bo")))]

    graph_reach = st.compile(reachable)
    (i_edges,) = st.actions(st.StorePython.from_graph(graph_reach), graph_reach)
    out["reachable"] = [[zset(z) for z in outputs] for outputs in (
        i_edges.insert(st.Pair(1, 2), st.Pair(2, 3)), i_edges.insert(st.Pair(3, 4)),
        i_edges.remove(st.Pair(2, 3)))]

    graph_int = st.compile(integrated)
    store_int = st.StorePython.from_graph(graph_int)
    out["iteration_weights"] = [zset(z) for inputs in (
        (st.ZSetPython({"b": -1}),), (st.ZSetPython({"b": 2, "c": 1}),))
        for z in st.iteration(store_int, graph_int, inputs)]

    graph_scalars = st.compile(scalars)
    store_scalars = st.StorePython.from_graph(graph_scalars)
    (i_numbers,) = st.actions(store_scalars, graph_scalars)
    out["scalars"] = [[zset(z) for z in outputs] for outputs in (
        i_numbers.insert(5), i_numbers.insert(7),
        st.iteration(store_scalars, graph_scalars, (st.ZSetPython(),)), i_numbers.insert(3))]
    return out


if __name__ == "__main__":
    print(json.dumps(run()))
