"""The feeder: applies every change of the profile log and of the register reads to the views
exactly once.

Changes are read from ``register_value_changes`` after the views' position and applied in
batches; each batch is one flows.ivm iteration whose transaction also moves the position and
writes ``register_interval_hh`` and ``views_spans``, so a process killed at any point resumes where the last
committed batch ended. The registers and customer links are compared with their tables at each
update and their differences go into the first batch. One feeder at a time per database (a lock
that the operating system or PostgreSQL releases when the process dies).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flows.ivm as st
from flows.db import Database, DatabaseError, customers, intervals, registry
from flows.views import query as q
from flows.views.consecutive import changes_for, touched_windows, write_spans

log = logging.getLogger(__name__)
DEFAULT_BATCH = 5_000
FEED = "register_value_changes"
_FEEDER_LOCK = 0x666C6F7773_76  # "flows" "v"


class ViewsError(Exception):
    """A problem maintaining the views (another feeder running, a store of another shape)."""


@dataclass
class UpdateSummary:
    changes: int = 0
    batches: int = 0
    position: int = 0
    duration_s: float = 0.0

    def line(self) -> str:
        return (f"views: {self.changes:,} register value changes applied in {self.batches} batches "
                f"(position {self.position}) in {self.duration_s:.1f} s")


@dataclass
class Views:
    """The views' store, on its own connection to the Flows database."""

    store: st.Store
    graph: st.Graph[Any, Any]
    writer: Database  # the store's connection: writes commit with the iteration

    def position(self, feed: str = FEED) -> int:
        rows = list(q.positions_cache.zset(self.store).iter_by_index(q.index_feed, frozenset((feed,))))
        return max((value.position for _, value, _ in rows), default=0)


_graph = st.compile(q.views)


@contextlib.contextmanager
def open_views(db: Database) -> Iterator[Views]:
    """The views of ``db`` (created on first use), locked for this process."""
    lock: Any = None
    conn: Any
    if db.engine == "postgres":
        conn = st.connection_postgres(db.url)
        writer = Database(db.url, conn, db.engine)
        writer.use_flows_schema()
        if not writer.try_advisory_lock(_FEEDER_LOCK):
            conn.close()
            raise ViewsError("another process is updating the views of this database")
        store: st.Store = st.StorePostgres.from_graph(conn, _graph, create_tables=True)
    else:
        path = db.url.removeprefix("sqlite:///").removeprefix("sqlite://")
        lock = _file_lock(Path(path + ".views-lock"))
        conn = st.connection_sqlite(path)
        store = st.StoreSQLite.from_graph(conn, _graph, create_tables=True)
    try:
        yield Views(store, _graph, Database(db.url, conn, db.engine))
    finally:
        conn.close()
        if lock is not None:
            lock.close()


def _file_lock(path: Path) -> Any:
    handle = path.open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ViewsError("another process is updating the views of this database") from None
    return handle


# Reading the tables -------------------------------------------------------------------------


def _table_diff(current: dict[Any, int], wanted: set[Any]) -> st.ZSetPython[Any]:
    changes = {value: -count for value, count in current.items() if value not in wanted}
    changes.update({value: 1 for value in wanted if value not in current})
    return st.ZSetPython(changes)


def registry_changes(db: Database, views: Views) -> tuple[st.ZSetPython[Any], st.ZSetPython[Any]]:
    """What changed in meter_registers and customer_meters since the views last saw them."""
    registers = {q.Register(register_id=register, meter_id=meter)
                 for register, meter in registry.register_meters(db)}
    links = {q.CustomerMeter(customer_id=r["customer_id"], meter_id=r["meter_id"],
                             valid_from=r["valid_from"], valid_to=r["valid_to"])
             for r in customers.links(db)}
    return (_table_diff(dict(q.registers_cache.zset(views.store).iter()), registers),
            _table_diff(dict(q.links_cache.zset(views.store).iter()), links))


# Writing register_interval_hh in the iteration's transaction ---------------------------------


def views_writer(writer: Database, spans: dict[q.Span, int]
                 ) -> Callable[[tuple[st.ZSetPython[Any], ...]], None]:
    def write(outputs: tuple[st.ZSetPython[Any], ...]) -> None:
        write_spans(writer, spans)
        removed: list[q.Interval] = []
        added: list[q.Interval] = []
        for interval, count in outputs[0].iter():
            (added if count > 0 else removed).append(interval)
        intervals.write_intervals(writer, removed, added)
    return write


# Update and follow --------------------------------------------------------------------------


def apply_batch(views: Views, registers: st.ZSetPython[Any], links: st.ZSetPython[Any],
                rows: list[dict[str, Any]], position: int) -> int:
    """One iteration: the registry differences, the changed values and spans, the new
    position."""
    new_position = int(rows[-1]["seq"]) if rows else position
    positions: dict[q.FeedPosition, int] = {}
    if new_position != position:
        if position:
            positions[q.FeedPosition(feed=FEED, position=position)] = -1
        positions[q.FeedPosition(feed=FEED, position=new_position)] = 1
    changes = changes_for(views.writer, touched_windows(rows))
    st.iteration(views.store, views.graph,
                 [registers, st.ZSetPython(changes.actual), st.ZSetPython(changes.spans), links,
                  st.ZSetPython(positions)],
                 before_commit=views_writer(views.writer, changes.spans))
    return new_position


def update(db: Database, batch: int = DEFAULT_BATCH, max_batches: int | None = None) -> UpdateSummary:
    """Apply every profile change committed so far (``max_batches``: stop after that many)."""
    started = time.monotonic()
    summary = UpdateSummary()
    try:
        with open_views(db) as views:
            position = views.position()
            registers, links = registry_changes(db, views)
            while max_batches is None or summary.batches < max_batches:
                rows = intervals.value_changes(db, position, batch)
                if not rows and not (registers or links):
                    break
                position = apply_batch(views, registers, links, rows, position)
                registers, links = st.ZSetPython({}), st.ZSetPython({})
                summary.changes += len(rows)
                summary.batches += 1
            summary.position = position
    except (st.StoreError, DatabaseError) as error:
        raise ViewsError(str(error)) from error
    summary.duration_s = time.monotonic() - started
    return summary


def follow(db: Database, poll_s: float = 2.0, stop: Callable[[], bool] = lambda: False,
           batch: int = DEFAULT_BATCH) -> None:
    """Keep the views up to date until ``stop()``: update, then wait for new changes. On
    PostgreSQL the wait ends as soon as a change commits (LISTEN/NOTIFY; ``poll_s`` is then
    only a safety net); on SQLite it polls every ``poll_s`` seconds."""
    with intervals.change_listener(db) as wait_for_changes:
        while not stop():
            summary = update(db, batch)
            if summary.changes:
                log.info("%s", summary.line(), extra={"event": "views_updated",
                                                      "changes": summary.changes})
            deadline = time.monotonic() + poll_s
            while not stop() and time.monotonic() < deadline:
                if wait_for_changes(min(0.5, poll_s)):
                    break
