"""The feeder: applies every change of the change log to the views exactly once.

Changes are read from ``register_value_changes`` after the views' position, in batches. For
each batch, in one transaction on the feeder's own connection (`flows.views.apply`):

1. the touched keys: (register, local days) for changed values (`flows.views.changes`), and
   every day of a meter whose registers, customer links or esco changed;
2. the half hours of the touched register days computed again from the values and compared
   with ``register_interval_hh``: only the difference is written;
3. the days whose half hours changed (and the changed meters' days) refreshed in every daily
   aggregate, set-based (`flows.views.store.aggregates`);
4. the position moved to the batch's last change.

A process killed at any point resumes where the last committed batch ended; because states are
compared, applying a change twice does no harm. One feeder at a time per database (a lock that
the operating system or PostgreSQL releases when the process dies).
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

from flows.db import Database, DatabaseError, UnavailableError, connect, is_unavailable
from flows.db.change_log import change_batch, change_listener, last_change
from flows.retry import Backoff, Outage
from flows.views.apply import apply_batch
from flows.views.errors import FeederBusy, ViewsError, ViewsUnavailable
from flows.views.rebuild import RebuildSummary, rebuild_views
from flows.views.store import aggregates, intervals, legacy, position, quarantine

log = logging.getLogger(__name__)
DEFAULT_BATCH = 5_000
_FEEDER_LOCK = 0x666C6F7773_76  # "flows" "v"


@dataclass
class UpdateSummary:
    changes: int = 0
    batches: int = 0
    position: int = 0
    duration_s: float = 0.0
    rebuilt: RebuildSummary | None = None
    quarantined: int = 0  # meters whose changes wait in quarantine

    def line(self) -> str:
        applied = (f"views: {self.changes:,} changes applied in {self.batches} batches "
                   f"(position {self.position}) in {self.duration_s:.1f} s")
        if self.quarantined:
            applied += (f"; {self.quarantined} meter(s) quarantined (flows views quarantine, "
                        "then flows views retry once fixed)")
        return applied if self.rebuilt is None else f"{self.rebuilt.line()}; {applied}"


@contextlib.contextmanager
def feeder_connection(db: Database) -> Iterator[Database]:
    """A connection of its own to ``db``, holding the one-feeder-per-database lock."""
    lock: Any = None
    writer = connect(db.url)
    try:
        if db.engine == "postgres":
            if not writer.try_advisory_lock(_FEEDER_LOCK):
                raise FeederBusy("another process is updating the views of this database")
        else:
            path = db.url.removeprefix("sqlite:///").removeprefix("sqlite://")
            lock = _file_lock(Path(path + ".views-lock"))
        aggregates.prepare_session(writer)
        dropped = legacy.drop_engine_state(writer)
        if dropped:
            log.info("views: dropped the engine state of an older Flows (%d tables)", len(dropped))
        yield writer
    finally:
        writer.close()
        if lock is not None:
            lock.close()


def _file_lock(path: Path) -> Any:
    handle = path.open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise FeederBusy("another process is updating the views of this database") from None
    return handle


Progress = Callable[[int, int], None]  # (position, last change) after each batch


def update(db: Database, batch: int = DEFAULT_BATCH, max_batches: int | None = None,
           rebuild: bool = False, progress: Progress | None = None, jobs: int | None = None
           ) -> UpdateSummary:
    """Apply every change committed so far (``max_batches``: stop after that many).
    ``rebuild``: first drop the views and build them again from the tables (`flows.views.
    rebuild`, by ``jobs`` connections at once); an interrupted rebuild is started again by the
    next update."""
    started = time.monotonic()
    summary = UpdateSummary()
    try:
        with feeder_connection(db) as writer:
            interrupted = not rebuild and position.read_position(
                writer, position.REBUILD_FEED) is not None
            if interrupted:
                log.warning("views: a rebuild was interrupted; building them again")
            if rebuild or interrupted:
                summary.rebuilt = rebuild_views(writer, progress, jobs)
            at = position.views_position(writer)
            last = last_change(writer) if progress is not None else 0
            statistics = intervals.Statistics(writer)
            while max_batches is None or summary.batches < max_batches:
                changed = change_batch(writer, at, batch)
                if not changed.changes:
                    _caught_up(writer, at)
                    break
                at = apply_batch(writer, changed, statistics)
                if progress is not None:
                    progress(at, max(last, at))
                summary.changes += changed.changes
                summary.batches += 1
            summary.position = at
            summary.quarantined = quarantine.count(writer)
    except DatabaseError as error:
        if is_unavailable(error):
            raise ViewsUnavailable(str(error)) from error
        raise ViewsError(str(error)) from error
    except Exception as error:
        if is_unavailable(error):  # raised by the driver itself
            raise ViewsUnavailable(f"the database is unavailable: {error}") from error
        raise
    summary.duration_s = time.monotonic() - started
    return summary


def _caught_up(writer: Database, at: int) -> None:
    """Note that the views have applied every logged change now: staleness is the time since
    (a change waiting was logged after it), to within the time between looks."""
    with writer.transaction():
        position.write_position(writer, position.CAUGHT_UP_FEED, at)


def follow(db: Database, poll_s: float = 2.0, stop: Callable[[], bool] = lambda: False,
           batch: int = DEFAULT_BATCH, on_beat: Callable[[], None] = lambda: None) -> None:
    """Keep the views up to date until ``stop()``: update, then wait for new changes. On
    PostgreSQL the wait ends as soon as a change commits (LISTEN/NOTIFY; ``poll_s`` is then
    only a safety net); on SQLite it polls every ``poll_s`` seconds. When the database goes
    away (a restart) it logs the outage once, retries with backoff and goes on where the last
    committed batch ended; any other failure is logged and retried the same way (the views'
    staleness shows it). ``on_beat`` is called at least every half second while it runs
    (a liveness heartbeat)."""
    outage, backoff = Outage("database", log), Backoff()
    while not stop():
        on_beat()
        try:
            with change_listener(db) as wait_for_changes:
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
        except FeederBusy:
            raise
        except Exception:  # never die silently: a staleness alarm beats a dead thread
            log.exception("views: the update failed; trying again after a pause")
        if stop():
            break
        deadline = time.monotonic() + backoff.next_delay()
        while not stop() and time.monotonic() < deadline:
            on_beat()
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        with contextlib.suppress(UnavailableError):
            db.reconnect()
