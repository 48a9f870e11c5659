"""`flows scheduler`: each frequency's sync cycle at its slots (hourly at :00, 12-hourly at
00:00 and 12:00 UTC, daily at 00:00 UTC), each collector starting a random jitter after the
slot so a fleet of collectors does not hit the database and mediator at one instant.

A scheduled cycle carries its slot: collectors share it, and one that starts late finds it done.
On start, the current slot is synced unless it is done already. When a cycle overruns into the
next slot, that slot is skipped rather than queued. Setting ``stop`` (SIGTERM) starts no new
meter; meters in flight finish and are recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime

from flows.collect.sync import sync_cycle
from flows.collect.syncers import PROFILE_DAYS
from flows.db import Database, DatabaseError, partitions
from flows.mediator import MediatorClient
from flows.meterdata import Frequency

log = logging.getLogger(__name__)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def slot_of(moment: datetime, frequency: str) -> datetime:
    """The start of the slot ``moment`` falls in."""
    period = Frequency(frequency).period
    return EPOCH + (moment - EPOCH) // period * period


def next_slot(moment: datetime, frequency: str) -> datetime:
    return slot_of(moment, frequency) + Frequency(frequency).period


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` unless stopped first; whether stopped."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max(0.0, seconds))
    return stop.is_set()


async def run_scheduler(
    db: Database,
    client: MediatorClient,
    frequencies: tuple[str, ...],
    *,
    parallel: int,
    jitter_s: float,
    stop: asyncio.Event,
    collector: str = "",
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    rng: random.Random | None = None,
    profile_days: int = PROFILE_DAYS,
    keep_months: int | None = None,
) -> None:
    """Run until ``stop`` is set. ``parallel`` bounds the meters in flight over all
    frequencies together."""
    gate = asyncio.Semaphore(max(1, parallel))
    rng = rng or random.Random()

    async def sync_slot(frequency: str, slot: datetime) -> None:
        while not stop.is_set():
            summary = await sync_cycle(db, client, frequency, slot=slot, parallel=gate,
                                       stop=stop, collector=collector, profile_days=profile_days)
            log.info("%s", summary.line(), extra={
                "event": "cycle_done", "frequency": frequency, "cycle": summary.cycle_id,
                "slot": slot.isoformat(), "ok": summary.ok, "unhealthy": summary.unhealthy,
                "skipped": summary.skipped, "left": summary.left,
                "duration_s": round(summary.duration_s, 3)})
            if summary.slot == slot:
                return  # else it finished an earlier, overrunning cycle first

    async def follow(frequency: str) -> None:
        slot = slot_of(clock(), frequency)
        while not stop.is_set():
            await sync_slot(frequency, slot)
            slot = next_slot(clock(), frequency)
            delay = (slot - clock()).total_seconds() + rng.uniform(0, jitter_s)
            log.info("next %s cycle in %.0f s", frequency, delay,
                     extra={"event": "cycle_scheduled", "frequency": frequency,
                            "slot": slot.isoformat()})
            if await _wait(stop, delay):
                return

    async def keep_partitions() -> None:
        """Months made ahead and, with ``keep_months``, old ones dropped: once a day."""
        while True:
            try:
                made = partitions.ensure_ahead(db)
                if made:
                    log.info("made %d monthly partitions ahead", made)
                if keep_months is not None:
                    partitions.drop_expired_history(db, keep_months)
            except DatabaseError as error:  # an outage: the next day's turn does it
                log.warning("partitions not kept: %s", error)
            if await _wait(stop, 24 * 3600):
                return

    await asyncio.gather(keep_partitions(),
                         *(follow(frequency) for frequency in frequencies))
