"""The feeder: applies every change of the profile log and of the register reads to the views
exactly once.

Changes are read from ``register_value_changes`` after the views' position and applied in
batches (what each batch makes the views do: `flows.views.changes`); each batch is one
flows.ivm iteration whose transaction also moves the position and writes the outputs
(``register_interval_hh``, ``usage_meter_daily``, ``usage_customer_daily``), so a process
killed at any point resumes where the last committed batch ended. A change to a meter's
registers or customer links is logged there too (source "meter"): that meter's rows are
compared with what the views hold and only the difference goes in. One feeder at a time per
database (a lock that the operating system or PostgreSQL releases when the process dies).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
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
from flows.views.changes import (
    RegistryState,
    ValueEnds,
    Work,
    Writes,
    changed_meters,
    compute,
    part_starts,
    registry_state,
    value_days,
    value_windows,
    whole_histories,
)
from flows.views.halfhours import local_date
from flows.views.outputs import write_outputs
from flows.views.rebuild import RebuildSummary, rebuild_mark, rebuild_views

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
    rebuilt: RebuildSummary | None = None

    def line(self) -> str:
        applied = (f"views: {self.changes:,} changes applied in {self.batches} batches "
                   f"(position {self.position}) in {self.duration_s:.1f} s")
        return applied if self.rebuilt is None else f"{self.rebuilt.line()}; {applied}"


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
        # Timestamps in UTC (as `flows.db.connect` gives them): comparing and subtracting
        # datetimes of one fixed zone is several times cheaper than of a named zone.
        writer.execute("SET TimeZone TO 'UTC'")
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
    the store and everything the views wrote first (in one transaction)."""
    with _feeder_connection(db) as writer:
        if rebuild:
            yield Views(_fresh_store(writer), _graph, writer)
            return
        try:
            store: st.Store = _store_class(db.engine).from_graph(writer.raw, _graph,
                                                                 create_tables=True)
        except st.StoreError as error:
            if "different shape" in str(error):
                raise ViewsError(REBUILD_HINT) from error
            raise
        yield Views(store, _graph, writer)


def _fresh_store(writer: Database) -> st.Store:
    """Drop the store and everything the views wrote (one transaction); an empty store."""
    store_class = _store_class(writer.engine)
    store_class.drop(writer.raw, _graph, before_commit=lambda: daily.clear(writer))
    store: st.Store = store_class.from_graph(writer.raw, _graph, create_tables=True)
    return store


def _file_lock(path: Path) -> Any:
    handle = path.open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ViewsError("another process is updating the views of this database") from None
    return handle


# Reading the tables -------------------------------------------------------------------------


def _table_diff(current: dict[Any, int], wanted: set[Any]) -> dict[Any, int]:
    changes = {value: -count for value, count in current.items() if value not in wanted}
    changes.update({value: 1 for value in wanted if value not in current})
    return changes


@dataclass
class RegistryChanges:
    """How the changed meters' registers and links differ from what the views hold."""

    registers: dict[q.Register, int]
    links: dict[q.CustomerMeter, int]


def registry_changes(db: Database, views: Views, meters: set[Any]) -> RegistryChanges:
    """How these meters' registers and customer links differ from what the views hold."""
    if not meters:
        return RegistryChanges({}, {})
    registers = {q.Register(register_id=register, meter_id=meter)
                 for register, meter in registry.register_meters(db, meters)}
    links = {q.CustomerMeter(customer_id=r["customer_id"], meter_id=r["meter_id"],
                             valid_from=r["valid_from"], valid_to=r["valid_to"])
             for r in customers.links_of_meters(db, meters)}
    held_registers = q.registers_cache.zset(views.store).iter_by_index(
        q.index_register_meter, frozenset(meters))
    held_links = q.links_cache.zset(views.store).iter_by_index(q.index_link_meter, frozenset(meters))
    return RegistryChanges(
        _table_diff({value: count for _, value, count in held_registers}, registers),
        _table_diff({value: count for _, value, count in held_links}, links))


def held_registry(views: Views, registers: set[Any], changes: RegistryChanges) -> RegistryState:
    """Each register's meter and its meter's part starts, before and after the batch."""
    held = {value for _, value, _ in q.registers_cache.zset(views.store).iter_by_index(
        q.index_register, frozenset(registers))}
    meters = {r.meter_id for r in held} | {r.meter_id for r in changes.registers}
    links: dict[Any, set[q.CustomerMeter]] = {meter: set() for meter in meters}
    for _, link, _ in q.links_cache.zset(views.store).iter_by_index(q.index_link_meter,
                                                                     frozenset(meters)):
        links[link.meter_id].add(link)
    return registry_state(held, changes.registers, links, changes.links)


def registry_days(db: Database, views: Views, changes: RegistryChanges) -> dict[Work, set[date]]:
    """The register days a registry change moves: a register's whole history when it joins or
    leaves a meter; the days where a changed link starts or ends for the meter's registers."""
    work: dict[Work, set[date]] = {}
    _merge(work, whole_histories(db, {r.register_id for r in changes.registers}))
    moved: dict[Any, set[date]] = {}
    for link in changes.links:
        for start in part_starts([link]):
            moved.setdefault(link.meter_id, set()).add(local_date(start))
    if moved:
        registers = q.registers_cache.zset(views.store).iter_by_index(q.index_register_meter,
                                                                      frozenset(moved))
        by_meter: dict[Any, set[Any]] = {}
        for _, held, _ in registers:
            by_meter.setdefault(held.meter_id, set()).add(held.register_id)
        for changed in changes.registers:
            by_meter.setdefault(changed.meter_id, set()).add(changed.register_id)
        for meter, days in moved.items():
            for register_id in by_meter.get(meter, ()):
                for direction in (q.IMPORT, q.EXPORT):
                    _merge(work, {(register_id, direction): days})
    return work


def _merge(into: dict[Work, set[date]], more: dict[Work, set[date]]) -> None:
    for key, days in more.items():
        into.setdefault(key, set()).update(days)


# Writing the outputs in the iteration's transaction ------------------------------------------


def views_writer(writer: Database, writes: Writes, position: int
                 ) -> Callable[[tuple[st.ZSetPython[Any], ...]], None]:
    def write(outputs: tuple[st.ZSetPython[Any], ...]) -> None:
        intervals.write_position(writer, FEED, position)
        for removed, replaced, inserted in writes.chunks():
            intervals.write_interval_changes(writer, removed, replaced, inserted)
        write_outputs(writer, outputs)
    return write


# Update and follow --------------------------------------------------------------------------


def apply_batch(db: Database, views: Views, changed: intervals.ChangeBatch, position: int
                ) -> int:
    """One iteration: the registry differences, the changed register days, the new
    position."""
    changes = registry_changes(db, views, changed_meters(changed))
    windows = value_windows(changed)
    ends = ValueEnds(views.writer, {register for _, register in windows})
    work = value_days(views.writer, windows, ends)
    parts_only = registry_days(views.writer, views, changes)
    state = held_registry(views, {register for register, _ in [*work, *parts_only]}, changes)
    batch = compute(views.writer, work, state, ends, parts_only)
    new_position = changed.last
    positions: dict[q.FeedPosition, int] = {}
    if new_position != position:
        if position:
            positions[q.FeedPosition(feed=FEED, position=position)] = -1
        positions[q.FeedPosition(feed=FEED, position=new_position)] = 1
    try:
        st.iteration(views.store, views.graph,
                     [st.ZSetPython(changes.registers), st.ZSetPython(batch.parts),
                      st.ZSetPython(changes.links), st.ZSetPython(positions)],
                     before_commit=views_writer(views.writer, batch.writes, new_position))
    finally:
        batch.writes.close()
    return new_position


Progress = Callable[[int, int], None]  # (position, last change) after each batch


def update(db: Database, batch: int = DEFAULT_BATCH, max_batches: int | None = None,
           rebuild: bool = False, progress: Progress | None = None) -> UpdateSummary:
    """Apply every change committed so far (``max_batches``: stop after that many).
    ``rebuild``: first drop the views and build them again from the tables (`flows.views.
    rebuild`); an interrupted rebuild is started again by the next update."""
    started = time.monotonic()
    summary = UpdateSummary()
    try:
        with open_views(db, rebuild=rebuild) as views:
            interrupted = not rebuild and rebuild_mark(views) is not None
            if interrupted:
                log.warning("views: a rebuild was interrupted; building them again")
                views.store = _fresh_store(views.writer)
            if rebuild or interrupted:
                summary.rebuilt = rebuild_views(db, views, FEED, progress)
            position = views.position()
            last = intervals.last_change(db) if progress is not None else 0
            while max_batches is None or summary.batches < max_batches:
                changed = intervals.change_batch(db, position, batch)
                if not changed.changes:
                    break
                position = apply_batch(db, views, changed, position)
                if progress is not None:
                    progress(position, max(last, position))
                summary.changes += changed.changes
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
