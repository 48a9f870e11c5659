"""The feeder: applies every change of the profile log and of the register reads to the views
exactly once.

Changes are read from ``register_value_changes`` after the views' position and applied in
batches; each batch is one flows.ivm iteration whose transaction also moves the position and
writes the outputs (``register_interval_hh``, ``usage_meter_daily``, ``usage_customer_daily``)
and ``views_spans``, so a process killed at any point resumes where the last committed batch
ended. A change to a meter's registers or customer links is logged there too (source "meter"):
that meter's rows are compared with what the views hold and only the difference goes in. One
feeder at a time per database (a lock that the operating system or PostgreSQL releases when
the process dies).
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
from flows.db import (
    Database,
    DatabaseError,
    UnavailableError,
    customers,
    daily,
    intervals,
    is_unavailable,
    registry,
)
from flows.retry import Backoff, Outage
from flows.views import query as q
from flows.views.consecutive import changed_meters, changes_for, touched_windows, write_spans

log = logging.getLogger(__name__)
DEFAULT_BATCH = 5_000
FEED = "register_value_changes"
_FEEDER_LOCK = 0x666C6F7773_76  # "flows" "v"


class ViewsError(Exception):
    """A problem maintaining the views (another feeder running, a store of another shape)."""


class ViewsUnavailable(ViewsError):
    """The database went away while the views were updated (nothing of the batch in flight
    was committed; the next update goes on from the last committed batch)."""


REBUILD_HINT = ("the views were built by an older version of Flows (their store has another "
                "shape): run `flows views rebuild` to build them again from the tables")


@dataclass
class UpdateSummary:
    changes: int = 0
    batches: int = 0
    position: int = 0
    duration_s: float = 0.0

    def line(self) -> str:
        return (f"views: {self.changes:,} changes applied in {self.batches} batches "
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
def _feeder_connection(db: Database) -> Iterator[Database]:
    """A connection of its own to ``db``, holding the one-feeder-per-database lock."""
    lock: Any = None
    conn: Any
    if db.engine == "postgres":
        conn = st.connection_postgres(db.url)
        writer = Database(db.url, conn, db.engine)
        writer.use_flows_schema()
        if not writer.try_advisory_lock(_FEEDER_LOCK):
            conn.close()
            raise ViewsError("another process is updating the views of this database")
    else:
        path = db.url.removeprefix("sqlite:///").removeprefix("sqlite://")
        lock = _file_lock(Path(path + ".views-lock"))
        conn = st.connection_sqlite(path)
    try:
        yield Database(db.url, conn, db.engine)
    finally:
        conn.close()
        if lock is not None:
            lock.close()


def _store_class(engine: str) -> Any:
    return st.StorePostgres if engine == "postgres" else st.StoreSQLite


@contextlib.contextmanager
def open_views(db: Database, rebuild: bool = False) -> Iterator[Views]:
    """The views of ``db`` (created on first use), locked for this process. ``rebuild``: drop
    the store and everything the views wrote first (in one transaction), so they start again
    from the beginning of the change log."""
    with _feeder_connection(db) as writer:
        store_class = _store_class(db.engine)
        if rebuild:
            store_class.drop(writer.raw, _graph, before_commit=lambda: daily.clear(writer))
        try:
            store: st.Store = store_class.from_graph(writer.raw, _graph, create_tables=True)
        except st.StoreError as error:
            if "different shape" in str(error):
                raise ViewsError(REBUILD_HINT) from error
            raise
        yield Views(store, _graph, writer)


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


def registry_changes(db: Database, views: Views, meters: set[Any]
                     ) -> tuple[st.ZSetPython[Any], st.ZSetPython[Any]]:
    """How these meters' registers and customer links differ from what the views hold."""
    if not meters:
        return st.ZSetPython({}), st.ZSetPython({})
    registers = {q.Register(register_id=register, meter_id=meter)
                 for register, meter in registry.register_meters(db, meters)}
    links = {q.CustomerMeter(customer_id=r["customer_id"], meter_id=r["meter_id"],
                             valid_from=r["valid_from"], valid_to=r["valid_to"])
             for r in customers.links_of_meters(db, meters)}
    held_registers = q.registers_cache.zset(views.store).iter_by_index(
        q.index_register_meter, frozenset(meters))
    held_links = q.links_cache.zset(views.store).iter_by_index(q.index_link_meter, frozenset(meters))
    return (_table_diff({value: count for _, value, count in held_registers}, registers),
            _table_diff({value: count for _, value, count in held_links}, links))


# Writing the outputs in the iteration's transaction ------------------------------------------


def _split(output: st.ZSetPython[Any]) -> tuple[list[Any], list[Any]]:
    removed: list[Any] = []
    added: list[Any] = []
    for value, count in output.iter():
        (added if count > 0 else removed).append(value)
    return removed, added


def views_writer(writer: Database, spans: dict[q.Span, int], position: int
                 ) -> Callable[[tuple[st.ZSetPython[Any], ...]], None]:
    def write(outputs: tuple[st.ZSetPython[Any], ...]) -> None:
        write_spans(writer, spans)
        intervals.write_position(writer, FEED, position)
        half_hours, meter_days, customer_days = outputs
        intervals.write_intervals(writer, *_split(half_hours))
        daily.write_meter_days(writer, *_split(meter_days))
        daily.write_customer_days(writer, *_split(customer_days))
    return write


# Update and follow --------------------------------------------------------------------------


def apply_batch(db: Database, views: Views, rows: list[dict[str, Any]], position: int) -> int:
    """One iteration: the registry differences, the changed values and spans, the new
    position."""
    registers, links = registry_changes(db, views, changed_meters(rows))
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
                 before_commit=views_writer(views.writer, changes.spans, new_position))
    return new_position


Progress = Callable[[int, int], None]  # (position, last change) after each batch


def update(db: Database, batch: int = DEFAULT_BATCH, max_batches: int | None = None,
           rebuild: bool = False, progress: Progress | None = None) -> UpdateSummary:
    """Apply every change committed so far (``max_batches``: stop after that many).
    ``rebuild``: first drop the views and build them again from the whole change log; stopped
    midway, a later update goes on from the last batch committed."""
    started = time.monotonic()
    summary = UpdateSummary()
    try:
        with open_views(db, rebuild=rebuild) as views:
            position = views.position()
            last = intervals.last_change(db) if progress is not None else 0
            while max_batches is None or summary.batches < max_batches:
                rows = intervals.value_changes(db, position, batch)
                if not rows:
                    break
                position = apply_batch(db, views, rows, position)
                if progress is not None:
                    progress(position, max(last, position))
                summary.changes += len(rows)
                summary.batches += 1
            summary.position = position
    except (st.StoreError, DatabaseError) as error:
        if is_unavailable(error):
            raise ViewsUnavailable(str(error)) from error
        raise ViewsError(str(error)) from error
    except Exception as error:
        if is_unavailable(error):  # raised by the driver under the engine's store
            raise ViewsUnavailable(f"the database is unavailable: {error}") from error
        raise
    summary.duration_s = time.monotonic() - started
    return summary


def follow(db: Database, poll_s: float = 2.0, stop: Callable[[], bool] = lambda: False,
           batch: int = DEFAULT_BATCH, on_beat: Callable[[], None] = lambda: None) -> None:
    """Keep the views up to date until ``stop()``: update, then wait for new changes. On
    PostgreSQL the wait ends as soon as a change commits (LISTEN/NOTIFY; ``poll_s`` is then
    only a safety net); on SQLite it polls every ``poll_s`` seconds. When the database goes
    away (a restart) it logs the outage once, retries with backoff and goes on where the last
    committed batch ended. ``on_beat`` is called at least every half second while it runs
    (a liveness heartbeat)."""
    outage, backoff = Outage("database", log), Backoff()
    while not stop():
        on_beat()
        try:
            with intervals.change_listener(db) as wait_for_changes:
                while not stop():
                    summary = update(db, batch)
                    outage.recovered()
                    backoff.reset()
                    if summary.changes:
                        log.info("%s", summary.line(), extra={"event": "views_updated",
                                                              "changes": summary.changes})
                    deadline = time.monotonic() + poll_s
                    while not stop() and time.monotonic() < deadline:
                        on_beat()
                        if wait_for_changes(min(0.5, poll_s)):
                            break
        except (ViewsUnavailable, UnavailableError) as error:
            outage.failed(error)
            deadline = time.monotonic() + backoff.next_delay()
            while not stop() and time.monotonic() < deadline:
                on_beat()
                time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
            with contextlib.suppress(UnavailableError):
                db.reconnect()
