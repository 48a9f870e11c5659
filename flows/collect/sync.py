"""One sync cycle: every active meter (of an esco), the enabled syncers of one frequency, with
bounded concurrency. Syncers of one meter run in sequence; each success writes its values with
health healthy; the first failure writes unhealthy with the reason (and NULL csq) and ends that
meter's sync — others go on, delayed by nothing but their own timeouts. A meter's writes and its
done-mark for the cycle are all or nothing, in a transaction shared with the meters that finish
at about the same time (`GroupCommit`)."""

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
from uuid import UUID

from flows.collect.commits import GroupCommit
from flows.collect.syncers import PROFILE_DAYS, SYNCERS, MeterContext, SyncResult
from flows.db import Database, cycles, history, registry, shadows
from flows.mediator import MediatorClient, MediatorError, UndecodableReply

log = logging.getLogger(__name__)
DEFAULT_PARALLEL = 15  # as the seed's thread pool


@dataclass
class CycleSummary:
    frequency: str
    ok: int = 0
    unhealthy: int = 0
    skipped: int = 0  # synced by another collector in this cycle (or not a syncable meter)
    left: int = 0  # not synced: the cycle was stopped first
    cycle_id: int = 0
    slot: datetime | None = None
    duration_s: float = 0.0
    problems: dict[str, str] = field(default_factory=dict)  # serial → reason

    def line(self) -> str:
        left = f", {self.left} left for the next run" if self.left else ""
        return (
            f"{self.frequency} sync: {self.ok} ok, {self.unhealthy} unhealthy, "
            f"{self.skipped} skipped{left} in {self.duration_s:.1f} s"
        )


def _write(db: Database, meter: registry.Meter, result: SyncResult) -> None:
    shadows.update_shadow_healthy(db, meter.id, result.shadow)
    if result.registry:
        registry.update_registry_if_changed(db, meter.id, **result.registry)
    if result.events:
        history.append_events(db, meter.id, result.events)
    if result.profile:
        history.append_profile_values(db, result.profile)


@dataclass
class MeterOutcome:
    """What a meter's syncers read, and why the meter is unhealthy (None: all succeeded)."""

    results: list[SyncResult]
    reason: str | None


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
            return MeterOutcome(results, str(error))
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
) -> CycleSummary:
    """Join (or open) the cycle of ``frequency`` for the scope and sync each of its meters not
    done yet, at most ``parallel`` at once; return when every meter is done, by this collector
    or another. With ``stop`` set, no meter is started any more; those in flight finish."""
    started = time.monotonic()
    summary = CycleSummary(frequency)
    collector = collector or default_collector_name()
    gate = parallel if isinstance(parallel, asyncio.Semaphore) else asyncio.Semaphore(max(1, parallel))
    stop = stop or asyncio.Event()
    names = registry.enabled_metrics(db, frequency)
    for name in names:
        if name not in SYNCERS:
            log.error("unknown syncer %r in meter_metrics: skipped (others go on)", name)
    meters = [m for m in registry.meters(db, esco=esco, active_only=True)
              if serial is None or m.serial == serial]
    if serial is not None and not meters:
        summary.skipped = 1
        summary.problems[serial] = "not an active meter with an address"
    cycle = cycles.join_cycle(db, frequency, _scope(esco, serial), slot)
    summary.cycle_id, summary.slot = cycle.id, cycle.slot
    log.info("%s cycle %d joined by %s: %d meters", frequency, cycle.id, collector, len(meters),
             extra={"event": "cycle_joined", "cycle": cycle.id, "frequency": frequency,
                    "collector": collector, "meters": len(meters)})

    mine: set[UUID] = set()
    commits = GroupCommit(db)

    async def one(meter: registry.Meter) -> None:
        meter_started = time.monotonic()
        try:
            outcome = await read_meter(db, client, meter, names, profile_days)

            def write(db: Database) -> None:
                write_meter(db, meter, outcome, lambda reason: cycles.finish_meter(
                    db, cycle, meter.id, collector, reason))

            await commits.write(write)
            reason = outcome.reason
        except Exception as error:  # a bug or a lost database: the other meters go on
            log.exception("%s: not synced", meter.serial)
            summary.problems[meter.serial] = f"collector error: {error!r}"
            return
        finally:
            cycles.release(db, cycle, meter.id)
            gate.release()
        mine.add(meter.id)
        if reason is None:
            summary.ok += 1
        else:
            summary.unhealthy += 1
            summary.problems[meter.serial] = reason
        log.log(logging.INFO if reason is None else logging.WARNING, "%s %s", meter.serial,
                "ok" if reason is None else f"unhealthy: {reason}",
                extra={"event": "meter_synced", "cycle": cycle.id, "serial": meter.serial,
                       "healthy": reason is None, "reason": reason,
                       "duration_ms": round(1000 * (time.monotonic() - meter_started))})
        if progress is not None:
            progress(summary.ok + summary.unhealthy, len(meters))

    pending = {m.id: m for m in meters}
    while not stop.is_set():
        for done in cycles.done_meters(db, cycle):
            pending.pop(done, None)
        if not pending:
            cycles.close_cycle(db, cycle)
            break
        order = list(pending.values())
        random.shuffle(order)  # collectors start at different meters, so claims rarely clash
        in_flight: list[asyncio.Task[None]] = []
        for meter in order:
            await gate.acquire()
            if stop.is_set() or not cycles.claim(db, cycle, meter.id):
                gate.release()
                if stop.is_set():
                    break
                continue
            in_flight.append(asyncio.create_task(one(meter)))
        await asyncio.gather(*in_flight)
        if not in_flight and not stop.is_set():
            # Every meter left is another collector's; it finishes them, or dies and frees them.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait_for_others_s)
    summary.left = len(set(pending) - mine) if stop.is_set() else 0
    summary.skipped += len(meters) - len(mine) - summary.left - (
        len(summary.problems) - summary.unhealthy)
    summary.duration_s = time.monotonic() - started
    return summary


def default_collector_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
