"""One sync cycle: every active meter (of an esco), the enabled syncers of one frequency, with
bounded concurrency. Syncers of one meter run in sequence; each success writes its values with
health healthy; the first failure writes unhealthy with the reason (and NULL csq) and ends that
meter's sync — others go on, delayed by nothing but their own timeouts."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flows.collect.syncers import SYNCERS, WITHOUT_OBJECT, MeterContext, SyncResult
from flows.db import Database
from flows.db import repository as repo
from flows.emop import EmopError
from flows.mediator.client import MediatorClient, MediatorError

log = logging.getLogger(__name__)
DEFAULT_PARALLEL = 15  # as the seed's thread pool


@dataclass
class CycleSummary:
    frequency: str
    ok: int = 0
    unhealthy: int = 0
    skipped: int = 0
    duration_s: float = 0.0
    problems: dict[str, str] = field(default_factory=dict)  # serial → reason

    def line(self) -> str:
        return (
            f"{self.frequency} sync: {self.ok} ok, {self.unhealthy} unhealthy, "
            f"{self.skipped} skipped in {self.duration_s:.1f} s"
        )


def _write(db: Database, meter: repo.Meter, result: SyncResult) -> None:
    with db.transaction():
        repo.update_shadow_healthy(db, meter.id, result.shadow)
        if result.registry:
            repo.update_registry_if_changed(db, meter.id, **result.registry)
        if result.events:
            repo.append_events(db, meter.id, result.events)
        for register, timestamp, wh, status in result.profile:
            db.execute(
                "INSERT INTO register_profile_hh (register_id, timestamp, cumulative_wh, "
                "status) VALUES (:r, :t, :wh, :s) ON CONFLICT DO NOTHING",
                {"r": register, "t": timestamp, "wh": wh, "s": status},
            )


async def sync_meter(db: Database, client: MediatorClient, meter: repo.Meter, names: list[str]) -> str | None:
    """Run the syncers; None when all succeeded, else the reason the meter is unhealthy."""
    context = MeterContext(meter, client, db, datetime.now(UTC))
    for name in names:
        syncer = SYNCERS.get(name)
        if syncer is None:
            continue  # reported once per cycle by sync_cycle
        try:
            result = await syncer(context)
        except MediatorError as error:
            reason = str(error)
        except EmopError as error:  # the meter answered, but not with a valid value
            reason = f"{name}: the meter's answer could not be decoded: {error}"
        else:
            if result is not None:
                _write(db, meter, result)
            continue
        repo.update_shadow_unhealthy(db, meter.id, reason)
        return reason
    return None


async def sync_cycle(
    db: Database,
    client: MediatorClient,
    frequency: str,
    *,
    esco: str | None = None,
    serial: str | None = None,
    parallel: int = DEFAULT_PARALLEL,
    progress: Callable[[int, int], None] | None = None,
) -> CycleSummary:
    started = time.monotonic()
    summary = CycleSummary(frequency)
    names = repo.enabled_metrics(db, frequency)
    for name in names:
        if name in WITHOUT_OBJECT:
            log.warning("%s has no object in the EMOP object table: skipped", name)
        elif name not in SYNCERS:
            log.error("unknown syncer %r in meter_metrics: skipped (others go on)", name)
    meters = [m for m in repo.meters(db, esco=esco, active_only=True) if serial is None or m.serial == serial]
    if serial is not None and not meters:
        summary.skipped = 1
        summary.problems[serial] = "not an active meter with an address"
    gate = asyncio.Semaphore(max(1, parallel))
    done = 0

    async def one(meter: repo.Meter) -> None:
        nonlocal done
        async with gate:
            reason = await sync_meter(db, client, meter, names)
        if reason is None:
            summary.ok += 1
        else:
            summary.unhealthy += 1
            summary.problems[meter.serial] = reason
        done += 1
        if progress is not None:
            progress(done, len(meters))

    await asyncio.gather(*(one(m) for m in meters))
    summary.duration_s = time.monotonic() - started
    return summary
