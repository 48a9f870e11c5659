"""The feeder: applies every change of the change log to the views exactly once.

The change log is split by meter into shards (`flows.views.shards`), each with its own
position; a feeder applies the shards it owns. Each shard's changes are read after its
position, in batches. For each batch, in one transaction on the feeder's own connection
(`flows.views.apply`):

1. the touched keys: (register, local days) for changed values (`flows.views.changes`), and
   every day of a meter whose registers, customer links or esco changed;
2. the half hours of the touched register days computed again from the values and compared
   with ``register_interval_hh``: only the difference is written;
3. the days whose half hours changed (and the changed meters' days) refreshed in every daily
   aggregate, set-based (`flows.views.store.aggregates`);
4. the shard's position moved to the batch's last change.

A process killed at any point resumes where the last committed batch ended; because states are
compared, applying a change twice does no harm. On PostgreSQL any number of feeders share the
shards (claims that expire with a dead or frozen feeder's session); on SQLite one feeder at a
time per database (a file lock the operating system releases when the process dies).
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

from flows.db import (
    Database,
    DatabaseError,
    LockTimeoutError,
    UnavailableError,
    connect,
    is_unavailable,
)
from flows.db.change_log import change_batch, change_listener, last_change, prune
from flows.db.claims import CLAIM_TIMEOUT_S, heartbeat, release_all
from flows.retry import Backoff, Outage
from flows.views.apply import apply_batch
from flows.views.errors import FeederBusy, ViewsError, ViewsUnavailable
from flows.views.rebuild import RebuildSummary, rebuild_views
from flows.views.shards import ShardClaims
from flows.views.store import aggregates, intervals, legacy, position, quarantine

log = logging.getLogger(__name__)
DEFAULT_BATCH = 5_000
PRUNE_AT_ONCE = 50_000  # applied changes deleted from the log per pass at most


@dataclass
class UpdateSummary:
    changes: int = 0
    batches: int = 0
    position: int = 0
    duration_s: float = 0.0
    rebuilt: RebuildSummary | None = None
    quarantined: int = 0  # meters whose changes wait in quarantine
    shards: int = 0  # the shards applied (owned by this feeder)

    def line(self) -> str:
        applied = (f"views: {self.changes:,} changes applied in {self.batches} batches "
                   f"(position {self.position}, {self.shards} shard{'s' * (self.shards != 1)}) "
                   f"in {self.duration_s:.1f} s")
        if self.quarantined:
            applied += (f"; {self.quarantined} meter(s) quarantined (flows views quarantine, "
                        "then flows views retry once fixed)")
        return applied if self.rebuilt is None else f"{self.rebuilt.line()}; {applied}"


@contextlib.contextmanager
def feeder_connection(db: Database) -> Iterator[Database]:
    """A connection of its own to ``db`` (SQLite: holding the one-feeder lock of the file)."""
    lock: Any = None
    writer = connect(db.url)
    try:
        if db.engine != "postgres":
            path = db.url.removeprefix("sqlite:///").removeprefix("sqlite://")
            lock = _file_lock(Path(path + ".views-lock"))
        aggregates.prepare_session(writer)
        dropped = legacy.drop_engine_state(writer)
        if dropped:
            log.info("views: dropped the engine state of an older Flows (%d tables)", len(dropped))
        yield writer
    finally:
        if db.engine == "postgres":
            with contextlib.suppress(DatabaseError):  # a connection lost gave them up already
                release_all(writer)
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
    """Apply every change committed so far, of every shard no other feeder owns
    (``max_batches``: stop after that many). ``rebuild``: first drop the views and build them
    again from the tables (`flows.views.rebuild`, by ``jobs`` connections at once; it needs
    every shard); an interrupted rebuild is started again by the next update."""
    started = time.monotonic()
    with _views_errors(), feeder_connection(db) as writer:
        claims = ShardClaims(writer)
        claims.claim_free()
        summary = feed(writer, claims, batch, max_batches, rebuild, progress, jobs)
    summary.duration_s = time.monotonic() - started
    return summary


@contextlib.contextmanager
def _views_errors() -> Iterator[None]:
    """The database's errors as the views': `ViewsUnavailable` while it is away."""
    try:
        yield
    except DatabaseError as error:
        if is_unavailable(error):
            raise ViewsUnavailable(str(error)) from error
        raise ViewsError(str(error)) from error
    except ViewsError:
        raise
    except Exception as error:
        if is_unavailable(error):  # raised by the driver itself
            raise ViewsUnavailable(f"the database is unavailable: {error}") from error
        raise


def feed(writer: Database, claims: ShardClaims, batch: int = DEFAULT_BATCH,
         max_batches: int | None = None, rebuild: bool = False,
         progress: Progress | None = None, jobs: int | None = None,
         between_passes: Callable[[], None] = lambda: None) -> UpdateSummary:
    """Apply the changes of the shards ``claims`` owns until none waits: passes of one batch
    per shard (``between_passes`` runs after each: a follower rebalances its shards there)."""
    if not claims.owned:
        raise FeederBusy(f"every shard of the views ({claims.count}) is owned by another "
                         "feeder (flows views shards)")
    summary = UpdateSummary()
    interrupted = not rebuild and position.read_position(writer, position.REBUILD_FEED) is not None
    if interrupted:
        log.warning("views: a rebuild was interrupted; building them again")
    if rebuild or interrupted:
        if not claims.owns_all():
            raise FeederBusy(f"a rebuild needs every shard of the views; {claims.count - len(claims.owned)} "
                             f"of {claims.count} are owned by other feeders: stop them first "
                             "(flows views shards)")
        with claims.kept_while_idle():  # the rebuild works on other connections meanwhile
            summary.rebuilt = rebuild_views(writer, progress, jobs)
    last = last_change(writer) if progress is not None else 0
    statistics = intervals.Statistics(writer)
    while max_batches is None or summary.batches < max_batches:
        applied = _pass(writer, sorted(claims.owned), claims.count, batch, statistics, summary,
                        max_batches)
        at = min(position.shard_positions(writer, claims.owned).values(), default=0)
        if progress is not None:
            progress(at, max(last, at))
        summary.position = at
        if not applied:
            break
        between_passes()
    summary.shards = len(claims.owned)
    summary.quarantined = quarantine.count(writer)
    _prune(writer)
    return summary


def _prune(writer: Database) -> None:
    """Delete changes every shard has applied (the log would grow by every value ever
    written: at a million meters, billions of rows a year), a bounded number at a time."""
    with writer.transaction():
        pruned = prune(writer, position.views_position(writer), PRUNE_AT_ONCE)
    if pruned:
        log.debug("views: %d applied changes deleted from the change log", pruned)


def _pass(writer: Database, shards: list[int], count: int, batch: int,
          statistics: intervals.Statistics, summary: UpdateSummary, max_batches: int | None
          ) -> bool:
    """A batch of each shard; whether any shard had changes. A shard with none has applied
    every change up to the newest one logged before the batches were read (changes are
    numbered in commit order: `last_change`): its position moves there, noted caught up."""
    newest = last_change(writer)
    at = position.shard_positions(writer, shards)
    moved: dict[str, int] = {}
    applied = False
    for shard in shards:
        if max_batches is not None and summary.batches >= max_batches:
            break
        changed = change_batch(writer, at[shard], batch, shard if count > 1 else None)
        if not changed.changes:
            moved[position.caught_up_feed(shard)] = max(newest, at[shard])
            if newest > at[shard]:
                moved[position.shard_feed(shard)] = newest
            continue
        apply_batch(writer, changed, position.shard_feed(shard), statistics)
        summary.changes += changed.changes
        summary.batches += 1
        applied = True
    if moved:
        with writer.transaction():
            position.write_positions(writer, moved)
    return applied


def follow(db: Database, poll_s: float = 2.0, stop: Callable[[], bool] = lambda: False,
           batch: int = DEFAULT_BATCH, on_beat: Callable[[], None] = lambda: None) -> None:
    """Keep the views up to date until ``stop()``: apply what waits, then wait for new
    changes. On PostgreSQL the wait ends as soon as a change commits (LISTEN/NOTIFY;
    ``poll_s`` is then only a safety net), and any number of followers share the shards
    (`flows.views.shards`): between batches each takes its fair share, and a dead or frozen
    one's shards are taken over once its claims expire (`flows.db.claims`); on SQLite it polls
    every ``poll_s`` seconds, the only feeder. When the database goes away (a restart) it logs
    the outage once, retries with backoff and goes on where the last committed batch ended;
    any other failure is logged and retried the same way (the views' staleness shows it).
    ``on_beat`` is called at least every half second while it runs (a liveness heartbeat)."""
    outage, backoff = Outage("database", log), Backoff()
    while not stop():
        on_beat()
        try:
            with _views_errors(), change_listener(db) as wait_for_changes, \
                    feeder_connection(db) as writer:
                claims = ShardClaims(writer)
                while not stop():
                    claims.rebalance()
                    if claims.owned:
                        try:
                            summary = feed(writer, claims, batch, between_passes=claims.rebalance)
                        except LockTimeoutError as error:  # a frozen peer holds an esco or a shard's writes
                            log.warning("views: %s; going on after a rebalance", error)
                            continue
                        if summary.changes:
                            log.info("%s", summary.line(), extra={
                                "event": "views_updated", "changes": summary.changes})
                    outage.recovered()
                    backoff.reset()
                    _wait(writer, wait_for_changes, poll_s, stop, on_beat)
        except (ViewsUnavailable, UnavailableError) as error:
            outage.failed(error)
        except FeederBusy:
            if db.engine != "postgres":
                raise  # SQLite: another feeder has the database
            log.exception("views: cannot apply the changes now; trying again after a pause")
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


def _wait(writer: Database, wait_for_changes: Callable[[float], bool], poll_s: float,
          stop: Callable[[], bool], on_beat: Callable[[], None]) -> None:
    """Until a change is logged, ``poll_s`` has passed or ``stop()``; the feeder's session
    beats meanwhile (its claims expire only when it is frozen)."""
    deadline = time.monotonic() + poll_s
    beat_at = time.monotonic() + CLAIM_TIMEOUT_S / 3
    while not stop() and time.monotonic() < deadline:
        on_beat()
        if wait_for_changes(min(0.5, poll_s)):
            return
        if time.monotonic() >= beat_at:
            heartbeat(writer)
            beat_at = time.monotonic() + CLAIM_TIMEOUT_S / 3
