"""`flows tariffs schedule`: a future tariff written to a set of meters through the mediator,
each read back and its outcome audited (`flows.db.tariffs`). A meter verified for the same
tariff before is skipped; one that failed is tried again. A write the meter refuses is a
failure with the meter's NAK code, never a success."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from flows.db import Database, registry, tariffs
from flows.db.tariffs import FutureTariff
from flows.mediator import MediatorClient, MediatorError

DEFAULT_PARALLEL = 20
Progress = Callable[[int, int], None]  # (meters done, meters to do)


@dataclass
class ScheduleSummary:
    schedule_id: UUID
    verified: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # serial → reason
    skipped: list[str] = field(default_factory=list)  # verified by an earlier run

    def line(self) -> str:
        return (f"tariff schedule {self.schedule_id}: {len(self.verified)} written and verified, "
                f"{len(self.failed)} failed, {len(self.skipped)} verified before")


async def schedule_tariff(db: Database, client: MediatorClient, tariff: FutureTariff,
                          serials: list[str], actor: str, parallel: int = DEFAULT_PARALLEL,
                          progress: Progress | None = None) -> ScheduleSummary:
    """Write ``tariff`` to every meter of ``serials`` not verified for it yet (``parallel`` at
    once), read it back, record each outcome."""
    with db.transaction():
        schedule_id = tariffs.schedule(db, tariff, actor)
    summary = ScheduleSummary(schedule_id)
    verified_before = tariffs.verified_meters(db, schedule_id)
    summary.skipped = [serial for serial in serials if serial in verified_before]
    todo = [serial for serial in serials if serial not in verified_before]
    meter_ids = {meter.serial: meter.id for meter in registry.meters(db)}
    gate = asyncio.Semaphore(parallel)

    async def one(serial: str) -> None:
        async with gate:
            try:
                reason = await _write_and_verify(client, serial, tariff)
            except MediatorError as error:
                reason = f"{error.code}: {error.message}"
        with db.transaction():
            tariffs.record_outcome(db, schedule_id, meter_ids[serial],
                                   "failed" if reason else "verified", reason or "", actor)
        if reason:
            summary.failed[serial] = reason
        else:
            summary.verified.append(serial)
        if progress is not None:
            progress(len(summary.verified) + len(summary.failed), len(todo))

    await asyncio.gather(*(one(serial) for serial in todo))
    summary.verified.sort()
    return summary


async def _write_and_verify(client: MediatorClient, serial: str, tariff: FutureTariff
                            ) -> str | None:
    """Write the tariff, read it back; None when the meter holds it, else what differs."""
    given = {"emergency_credit": tariff.emergency_credit,
             "ecredit_availability": tariff.ecredit_availability,
             "debt_recovery_rate": tariff.debt_recovery_rate}
    active = (await client.tariffs_active(serial)  # what is not given: the meter's own
              if any(value is None for value in given.values()) else {})
    prepayment: dict[str, Decimal] = {
        name: value if value is not None else Decimal(active[f"prepayment_{name}"])
        for name, value in given.items()}
    await client.write_future_tariff(
        serial, tariff.activation, tariff.standing_charge, tariff.unit_rate,
        prepayment["emergency_credit"], prepayment["ecredit_availability"],
        prepayment["debt_recovery_rate"])
    held = await client.tariffs_future(serial)
    expected: dict[str, Any] = {
        "activation_datetime": tariff.activation, "standing_charge": tariff.standing_charge,
        "unit_rate_element_a": tariff.unit_rate, "unit_rate_element_b": tariff.unit_rate,
        **{f"prepayment_{name}": value for name, value in prepayment.items()}}
    differences = [f"{name} reads back {held[name]}, not {value}"
                   for name, value in expected.items() if _read_back(held[name]) != value]
    return "; ".join(differences) or None


def _read_back(value: Any) -> Any:
    return datetime.fromisoformat(value) if isinstance(value, str) else Decimal(value)
