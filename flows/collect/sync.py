"""One sync cycle: every active meter (of an esco), the enabled syncers of one frequency, with
bounded concurrency. Syncers of one meter run in sequence; each success writes its values with
health healthy; the first failure writes unhealthy with the reason (and NULL csq) and ends that
meter's sync — others go on, delayed by nothing but their own timeouts. A meter's writes and its
done-mark for the cycle are all or nothing, in a transaction shared with the meters that finish
at about the same time (`GroupCommit`).

Infrastructure faults are not meter faults. When the mediator cannot be reached, answers with
its own error or overruns our deadline, or the database is down, locked or read-only, the
meter's health is not touched: nothing of it is written, it stays pending in the cycle, and the
collector tries it again with backoff (reconnecting to the database) until the cycle's period
ends. Only the meter's own failure, as the mediator reports it (no connection to the meter, no
answer, CRC error, NAK, an undecodable answer, a serial it does not know), makes it unhealthy."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from flows.collect.commits import GroupCommit
from flows.collect.metrics import meter_synced
from flows.collect.syncers import PROFILE_DAYS, SYNCERS, MeterContext, SyncResult
from flows.db import (
    ConflictError,
    Database,
    UnavailableError,
    claims,
    cycles,
    history,
    registry,
    shadows,
)
from flows.db.change_log import CHANGE_LOG_LOCK
from flows.mediator import MediatorClient, MediatorError, UndecodableReply
from flows.meterdata import Frequency
from flows.retry import Backoff, Outage, pause

log = logging.getLogger(__name__)
DEFAULT_PARALLEL = 15  # as the seed's thread pool
# gRPC statuses that are about our side, not the meter: the mediator down or restarting, its
# own failure (UNKNOWN: an exception in it), its queue for the meter full, our deadline.
INFRASTRUCTURE_CODES = frozenset({"UNAVAILABLE", "UNKNOWN", "DEADLINE_EXCEEDED",
                                  "RESOURCE_EXHAUSTED", "CANCELLED", "ABORTED"})


@dataclass
class CycleSummary:
    frequency: str
    ok: int = 0
    unhealthy: int = 0
    skipped: int = 0  # synced by another collector in this cycle (or not a syncable meter)
    left: int = 0  # not synced: the cycle was stopped, or its period ended during an outage
    retries: int = 0  # meter syncs tried again because the mediator or database was unavailable
    cycle_id: int = 0
    slot: datetime | None = None
    duration_s: float = 0.0
    problems: dict[str, str] = field(default_factory=dict)  # serial → reason

    def line(self) -> str:
        left = f", {self.left} left for the next run" if self.left else ""
        retries = f", {self.retries} retried after outages" if self.retries else ""
        return (
            f"{self.frequency} sync: {self.ok} ok, {self.unhealthy} unhealthy, "
            f"{self.skipped} skipped{left}{retries} in {self.duration_s:.1f} s"
        )


def _write(db: Database, meter: registry.Meter, result: SyncResult) -> None:
    shadows.update_shadow_healthy(db, meter.id, result.shadow)
    if result.registry:
        registry.update_registry_if_changed(db, meter.id, **result.registry)
    if result.events:
        history.append_events(db, meter.id, result.events)
    if result.profile:
        history.append_profile_values(db, result.profile)


@dataclass(frozen=True)
class DependencyDown:
    """Our side could not serve a meter's sync (not the meter's fault): which dependency and
    its error. The meter stays pending and is synced again later."""

    dependency: Literal["mediator", "database"]
    error: str

    def __str__(self) -> str:
        return f"{self.dependency}: {self.error}"


@dataclass
class MeterOutcome:
    """What a meter's syncers read, and why the meter is unhealthy (None: all succeeded).
    ``outage``: an infrastructure fault stopped the read; nothing may be written, the meter is
    synced again later."""

    results: list[SyncResult]
    reason: str | None
    outage: DependencyDown | None = None


async def read_meter(
    db: Database, client: MediatorClient, meter: registry.Meter, names: list[str],
    profile_days: int = PROFILE_DAYS,
) -> MeterOutcome:
    """Run the syncers in turn until one fails; nothing is written yet."""
    context = MeterContext(meter, client, db, datetime.now(UTC), profile_days)
    results: list[SyncResult] = []
    for name in names:
        syncer = SYNCERS.get(name)
        if syncer is None:
            continue  # reported once per cycle by sync_cycle
        try:
            result = await syncer(context)
        except UndecodableReply as error:  # the meter answered, but not with a valid value
            return MeterOutcome(results, f"{name}: the meter's answer could not be decoded: {error.message}")
        except MediatorError as error:
            if error.code == "DEADLINE_EXCEEDED" and await client.answers():
                # The mediator answers, this meter does not within our deadline (a mediator
                # retrying a silent meter longer than we wait): the meter's fault.
                return MeterOutcome(results, f"{name}: no answer within {client.deadline_s:g} s "
                                             f"while the mediator answers ({error})")
            if error.code in INFRASTRUCTURE_CODES:
                return MeterOutcome([], None, outage=DependencyDown("mediator", str(error)))
            return MeterOutcome(results, f"{name}: {error}")
        except UnavailableError as error:  # a syncer reads the database too
            return MeterOutcome([], None, outage=DependencyDown("database", str(error)))
        if result is not None:
            results.append(result)
    return MeterOutcome(results, None)


def write_meter(db: Database, meter: registry.Meter, outcome: MeterOutcome,
                record_done: Callable[[str | None], None] | None = None) -> None:
    """The outcome's rows, health and ``record_done`` (the cycle's done-mark), inside the
    caller's transaction: a meter's values and its done-mark land together or not at all."""
    for result in outcome.results:
        _write(db, meter, result)
    if outcome.reason is not None:
        shadows.update_shadow_unhealthy(db, meter.id, outcome.reason)
    if record_done is not None:
        record_done(outcome.reason)


async def sync_meter(
    db: Database,
    client: MediatorClient,
    meter: registry.Meter,
    names: list[str],
    record_done: Callable[[str | None], None] | None = None,
    profile_days: int = PROFILE_DAYS,
) -> str | None:
    """Read one meter and write what was read in a transaction of its own; None when all
    syncers succeeded, else the reason the meter is unhealthy."""
    outcome = await read_meter(db, client, meter, names, profile_days)
    if outcome.outage is not None and outcome.outage.dependency == "database":
        raise UnavailableError(str(outcome.outage))
    if outcome.outage is not None:
        raise MediatorError("UNAVAILABLE", str(outcome.outage))
    with db.transaction():
        write_meter(db, meter, outcome, record_done)
    return outcome.reason


def _scope(esco: str | None, serial: str | None) -> str:
    if serial is not None:
        return f"meter:{serial}"
    return f"esco:{esco}" if esco is not None else "all"


async def sync_cycle(
    db: Database,
    client: MediatorClient,
    frequency: str,
    *,
    esco: str | None = None,
    serial: str | None = None,
    parallel: int | asyncio.Semaphore = DEFAULT_PARALLEL,
    slot: datetime | None = None,
    collector: str = "",
    stop: asyncio.Event | None = None,
    progress: Callable[[int, int], None] | None = None,
    wait_for_others_s: float = 1.0,
    profile_days: int = PROFILE_DAYS,
    retry_until: datetime | None = None,
) -> CycleSummary:
    """Join (or open) the cycle of ``frequency`` for the scope and sync each of its meters not
    done yet, at most ``parallel`` at once; return when every meter is done, by this collector
    or another. With ``stop`` set, no meter is started any more; those in flight finish. Meters
    an outage kept from syncing are tried again with backoff until ``retry_until`` (default:
    the end of the cycle's period), then left for the next cycle."""
    started = time.monotonic()
    stop = stop or asyncio.Event()
    outage = Outage("database", log)
    backoff = Backoff()
    while True:  # the cycle's setup needs the database: wait for it
        try:
            gate = (parallel if isinstance(parallel, asyncio.Semaphore)
                    else asyncio.Semaphore(max(1, parallel)))
            options = CycleOptions(esco, serial, gate, slot, collector or default_collector_name(),
                                   stop, progress, wait_for_others_s, profile_days, retry_until,
                                   started)
            run = CycleRun(db, client, frequency, options, outage)
            return await run.run()
        except UnavailableError as error:
            outage.failed(error)
            if await pause(stop, backoff.next_delay()) or _past(retry_until, slot, frequency):
                summary = CycleSummary(frequency, duration_s=time.monotonic() - started)
                summary.problems["(cycle)"] = f"not started: {error}"
                return summary
            _try_reconnect(db)


def _past(retry_until: datetime | None, slot: datetime | None, frequency: str,
          opened: datetime | None = None) -> bool:
    """Whether the time to retry in is over: ``retry_until``, else the end of the slot's (or
    the cycle's) period."""
    if retry_until is None:
        begin = slot or opened
        if begin is None:
            return False
        retry_until = begin + Frequency(frequency).period
    return datetime.now(UTC) >= retry_until


def _try_reconnect(db: Database) -> bool:
    try:
        db.reconnect()
    except UnavailableError:
        return False
    return True


def _end_stalled_writers(db: Database) -> None:
    """A writer frozen mid-statement holding the change log's numbering lock makes every
    other writer's lock wait time out (`claims`): end it, so that writing goes on."""
    if db.engine != "postgres":
        return
    with contextlib.suppress(UnavailableError):
        if ended := claims.end_stalled_sessions(db, lock_keys=(CHANGE_LOG_LOCK,)):
            log.warning("ended %d session(s) frozen mid-statement holding the change log's "
                        "numbering lock", ended)


async def _keep_session_alive(db: Database) -> None:
    """While the cycle runs: PostgreSQL ends this session when it is idle longer than
    `claims.CLAIM_TIMEOUT_S` (a frozen collector's claims then expire); this beat keeps a live
    collector's session busy enough."""
    while True:
        await asyncio.sleep(claims.CLAIM_TIMEOUT_S / 3)
        with contextlib.suppress(UnavailableError):  # the cycle's own calls notice and reconnect
            claims.heartbeat(db)


@dataclass
class CycleOptions:
    """How one collector runs a cycle (see `sync_cycle`)."""

    esco: str | None
    serial: str | None
    gate: asyncio.Semaphore  # meters synced at once
    slot: datetime | None
    collector: str
    stop: asyncio.Event
    progress: Callable[[int, int], None] | None
    wait_for_others_s: float
    profile_days: int
    retry_until: datetime | None
    started: float


class CycleRun:
    """One collector's part of one cycle, in small steps: made, it joins the cycle; then
    passes until every meter is done (`run`): each notes the meters others finished (`todo`),
    claims and syncs the rest (`start_pass`, `sync_one`, `record`) and, after an outage, backs
    off (`after_pass`)."""

    def __init__(self, db: Database, client: MediatorClient, frequency: str,
                 options: CycleOptions, database: Outage) -> None:
        self.db, self.client, self.frequency, self.options = db, client, frequency, options
        self.database, self.mediator = database, Outage("mediator", log)
        self.summary = CycleSummary(frequency)
        self.names = registry.enabled_metrics(db, frequency)
        for name in self.names:
            if name not in SYNCERS:
                log.error("unknown syncer %r in meter_metrics: skipped (others go on)", name)
        self.meters = [m for m in registry.meters(db, esco=options.esco, active_only=True)
                       if options.serial is None or m.serial == options.serial]
        if options.serial is not None and not self.meters:
            self.summary.skipped = 1
            self.summary.problems[options.serial] = "not an active meter with an address"
        self.pending = {m.id: m for m in self.meters}
        self.mine: set[UUID] = set()  # synced (healthy or not) and recorded by this collector
        self.failed: set[UUID] = set()  # a bug in the collector: reported, not tried again
        self.others: set[UUID] = set()  # recorded by another collector
        self.outages: list[DependencyDown] = []  # this pass's
        self.commits = GroupCommit(db)
        self.backoff = Backoff()
        self.cycle = cycles.join_cycle(db, frequency, _scope(options.esco, options.serial),
                                       options.slot)
        self.opened = datetime.now(UTC)
        self.summary.cycle_id, self.summary.slot = self.cycle.id, self.cycle.slot
        log.info("%s cycle %d joined by %s: %d meters", frequency, self.cycle.id,
                 options.collector, len(self.meters),
                 extra={"event": "cycle_joined", "cycle": self.cycle.id, "frequency": frequency,
                        "collector": options.collector, "meters": len(self.meters)})

    async def run(self) -> CycleSummary:
        heartbeat = None
        if self.db.engine == "postgres":
            claims.expire_claims_when_idle(self.db)
            heartbeat = asyncio.create_task(_keep_session_alive(self.db))
        try:
            while not self.options.stop.is_set():
                self.outages.clear()
                in_flight: list[asyncio.Task[None]] = []
                try:
                    todo = self.todo()
                    if todo is None:
                        break
                    self.database.recovered()
                    await self.start_pass(todo, in_flight)
                except UnavailableError as error:
                    self.outages.append(DependencyDown("database", str(error)))
                except BaseException:  # cancelled (SIGTERM's grace is over): nothing more waits
                    for task in in_flight:
                        task.cancel()
                    await asyncio.gather(*in_flight, return_exceptions=True)
                    raise
                await asyncio.gather(*in_flight)  # cancelled meanwhile, it cancels them too
                if await self.after_pass(bool(in_flight)):
                    break
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
                with contextlib.suppress(UnavailableError):
                    claims.keep_claims_when_idle(self.db)
        summary = self.summary
        summary.left = len(set(self.pending) - self.mine - self.failed - self.others)
        summary.skipped += len(self.others)
        summary.duration_s = time.monotonic() - self.options.started
        return summary

    def todo(self) -> list[registry.Meter] | None:
        """The meters left to try in this pass (None: none left; the cycle is closed when
        every meter is done)."""
        for done in cycles.done_meters(self.db, self.cycle):
            if self.pending.pop(done, None) is not None and done not in self.mine:
                self.others.add(done)
        todo = [m for m in self.pending.values() if m.id not in self.failed]
        if not todo:
            if not self.pending:
                cycles.close_cycle(self.db, self.cycle)
            return None
        random.shuffle(todo)  # collectors start at different meters: claims rarely clash
        return todo

    async def start_pass(self, todo: list[registry.Meter],
                         in_flight: list[asyncio.Task[None]]) -> None:
        """Claim each meter (within the gate) and start syncing it, into ``in_flight`` (the
        caller's: if claiming fails midway, the meters started still finish)."""
        gate, stop = self.options.gate, self.options.stop
        for meter in todo:
            await gate.acquire()
            try:
                claimed = not stop.is_set() and cycles.claim(self.db, self.cycle, meter.id)
            except BaseException:
                gate.release()
                raise
            if not claimed:
                gate.release()
                if stop.is_set():
                    break
                continue
            in_flight.append(asyncio.create_task(self.sync_one(meter)))

    async def sync_one(self, meter: registry.Meter) -> None:
        """Read the meter, write what was read with its done-mark, record the outcome."""
        started = time.monotonic()
        cycle, collector = self.cycle, self.options.collector
        try:
            outcome = await read_meter(self.db, self.client, meter, self.names,
                                       self.options.profile_days)
            if outcome.outage is not None:
                self.outages.append(outcome.outage)
                return

            def write(db: Database) -> None:
                write_meter(db, meter, outcome, lambda reason: cycles.finish_meter(
                    db, cycle, meter.id, collector, reason))

            await self.commits.write(write)
        except UnavailableError as error:  # nothing of the meter was stored: it stays pending
            self.outages.append(DependencyDown("database", str(error)))
            return
        except ConflictError:  # our claim had lapsed and another collector recorded it first
            self.others.add(meter.id)
            return
        except Exception as error:  # a bug: the other meters go on
            log.exception("%s: not synced", meter.serial)
            self.summary.problems[meter.serial] = f"collector error: {error!r}"
            self.failed.add(meter.id)
            return
        finally:
            self.options.gate.release()
            with contextlib.suppress(UnavailableError):  # a lost session has dropped it anyway
                cycles.release(self.db, cycle, meter.id)
        self.record(meter, outcome.reason, started)

    def record(self, meter: registry.Meter, reason: str | None, started: float) -> None:
        self.mine.add(meter.id)
        summary = self.summary
        if reason is None:
            summary.ok += 1
        else:
            summary.unhealthy += 1
            summary.problems[meter.serial] = reason
        meter_synced(summary.frequency, healthy=reason is None)
        log.log(logging.INFO if reason is None else logging.WARNING, "%s %s", meter.serial,
                "ok" if reason is None else f"unhealthy: {reason}",
                extra={"event": "meter_synced", "cycle": self.cycle.id, "serial": meter.serial,
                       "healthy": reason is None, "reason": reason,
                       "duration_ms": round(1000 * (time.monotonic() - started))})
        if self.options.progress is not None:
            self.options.progress(summary.ok + summary.unhealthy, len(self.meters))

    async def after_pass(self, started_any: bool) -> bool:
        """After a pass: back off after an outage (until the period ends), or wait for other
        collectors' meters; whether to stop."""
        stop = self.options.stop
        if self.outages:
            self.summary.retries += len(self.outages)
            database_down = [down for down in self.outages if down.dependency == "database"]
            for down in database_down[:1]:
                self.database.failed(str(down))
            if len(database_down) < len(self.outages):
                self.mediator.failed(str(next(down for down in self.outages
                                              if down.dependency == "mediator")))
            if _past(self.options.retry_until, self.options.slot, self.frequency, self.opened):
                log.warning("%s cycle %d: its period ended during an outage; %d meters left for "
                            "the next cycle", self.frequency, self.cycle.id, len(self.pending),
                            extra={"event": "cycle_gave_up", "cycle": self.cycle.id})
                return True
            if await pause(stop, self.backoff.next_delay()):
                return True
            if database_down and _try_reconnect(self.db):
                _end_stalled_writers(self.db)
            return False
        self.mediator.recovered()
        self.backoff.reset()
        if not started_any:
            # Every meter left is another collector's; it finishes them, or dies or freezes
            # and frees them: frozen idle, its claims expire; frozen mid-statement, it is
            # ended here.
            if self._end_frozen_peers():
                return False
            await pause(stop, self.options.wait_for_others_s)
        return False

    def _end_frozen_peers(self) -> bool:
        """Whether a peer frozen mid-statement holding meters left was ended (they are free)."""
        with contextlib.suppress(UnavailableError):  # the next pass notices and reconnects
            if ended := cycles.end_frozen_claimers(self.db, self.cycle, self.pending):
                log.warning("%s cycle %d: ended %d collector session(s) frozen mid-statement "
                            "holding meters", self.frequency, self.cycle.id, ended,
                            extra={"event": "frozen_peer_ended", "cycle": self.cycle.id})
                return True
        return False


def default_collector_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
