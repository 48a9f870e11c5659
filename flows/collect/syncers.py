"""The syncers, by the exact names used in `meter_metrics`. Each reads what it needs through the
mediator and says what to write: shadow columns, registry facts, events or profile rows."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from flows.db import Database, history, registry, shadows
from flows.mediator import MediatorClient, MediatorError, UndecodableReply
from flows.meterdata import HALF_HOUR

PROFILE_DAYS = 30
PROFILE_STEP = timedelta(hours=2)


@dataclass
class SyncResult:
    shadow: shadows.ShadowUpdate = field(default_factory=lambda: shadows.ShadowUpdate())
    registry: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[datetime, int, int]] = field(default_factory=list)
    profile: list[tuple[UUID, datetime, int, int]] = field(default_factory=list)  # register, ts, Wh, status


@dataclass(frozen=True)
class MeterContext:
    meter: registry.Meter
    client: MediatorClient
    db: Database
    now: datetime
    profile_days: int = PROFILE_DAYS  # how far back SyncerProfileLog starts on a new meter

    @property
    def serial(self) -> str:
        return self.meter.serial

    @property
    def three_phase(self) -> bool:
        return self.meter.kind is not None and self.meter.kind.three_phase

    @property
    def twin(self) -> bool:
        return self.meter.kind is not None and self.meter.kind.twin_element


Syncer = Callable[[MeterContext], Awaitable[SyncResult | None]]  # None: does not apply


async def sync_reads(ctx: MeterContext) -> SyncResult:
    if ctx.three_phase and ctx.meter.kind is not None:
        scale = ctx.meter.kind.register_scale
        imported = await ctx.client.three_phase_total_import(ctx.serial) / scale
        exported = await ctx.client.three_phase_total_export(ctx.serial) / scale
        # import_b 0.0: the deployed collector's value for the element B a meter lacks.
        return SyncResult(shadow={"import_a": imported / 1000, "import_b": 0.0,
                                  "export_a": exported / 1000, "reads_at": ctx.now})
    a = await ctx.client.read_element_a(ctx.serial)
    shadow: shadows.ShadowUpdate = {
        "import_a": a.import_active / 1000,
        "export_a": a.export_active / 1000,
        "import_b": 0.0,
        "export_b": 0.0,
        "reads_at": ctx.now,
    }
    if ctx.twin:
        b = await ctx.client.read_element_b(ctx.serial)
        shadow["import_b"], shadow["export_b"] = b.import_active / 1000, b.export_active / 1000
    return SyncResult(shadow=shadow)


async def sync_prepay_balance(ctx: MeterContext) -> SyncResult | None:
    if ctx.three_phase:
        return None
    return SyncResult(shadow={"balance": await ctx.client.prepay_balance(ctx.serial), "balance_at": ctx.now})


async def sync_csq(ctx: MeterContext) -> SyncResult:
    quality = await ctx.client.csq(ctx.serial)
    return SyncResult(shadow={"csq": quality.csq, "csq_at": ctx.now})


async def sync_voltage(ctx: MeterContext) -> SyncResult:
    if ctx.three_phase:
        volts = await ctx.client.three_phase_voltages(ctx.serial)
        return SyncResult(
            shadow={
                "3p_voltage_l1": float(volts[0]),
                "3p_voltage_l2": float(volts[1]),
                "3p_voltage_l3": float(volts[2]),
            }
        )
    # Deci-volts, as the deployed collector stores the single-phase voltage (2335.0 for
    # 233.5 V); the API shows volts.
    deci_volts = await ctx.client.voltage(ctx.serial) * 10
    return SyncResult(shadow={"voltage": deci_volts, "voltage_at": ctx.now})


async def sync_clock_diff(ctx: MeterContext) -> SyncResult:
    meter_time = await ctx.client.clock(ctx.serial)
    # Signed as the deployed SyncerClockDiff stores it: our time minus the meter's (positive:
    # the meter is behind).
    difference = round((datetime.now(UTC) - meter_time).total_seconds())
    return SyncResult(shadow={"clock_time_diff_seconds": difference, "clock_time_diff_synced_at": ctx.now})


def _json(values: dict[str, Any]) -> str:
    return json.dumps(values, default=str, sort_keys=True)


async def sync_tariffs_active(ctx: MeterContext) -> SyncResult | None:
    if ctx.three_phase:
        return None
    return SyncResult(shadow={"tariffs_active": _json(await ctx.client.tariffs_active(ctx.serial))})


async def sync_tariffs_future(ctx: MeterContext) -> SyncResult | None:
    if ctx.three_phase:
        return None
    return SyncResult(shadow={"tariffs_future": _json(await ctx.client.tariffs_future(ctx.serial))})


async def sync_event_log(ctx: MeterContext) -> SyncResult:
    """Pages from the newest until one reaches an event already stored (or the 10th page)."""
    stored = history.stored_events(ctx.db, ctx.meter.id)
    events: list[tuple[datetime, int, int]] = []
    for page in range(10):
        found = [e for e in await ctx.client.event_log(ctx.serial, page) if e.event_id]
        fresh = [
            (e.timestamp, e.event_id, e.event_set) for e in found if (e.timestamp, e.event_id) not in stored
        ]
        events.extend(fresh)
        if not found or len(fresh) < len(found):
            break
    return SyncResult(events=events)


async def sync_hardware(ctx: MeterContext) -> SyncResult:
    return SyncResult(registry={"hardware": await ctx.client.hardware(ctx.serial, ctx.three_phase)})


async def sync_backlight(ctx: MeterContext) -> SyncResult:
    return SyncResult(shadow={"backlight": await ctx.client.backlight(ctx.serial, ctx.three_phase)})


async def sync_load_switch(ctx: MeterContext) -> SyncResult | None:
    if ctx.three_phase:  # no supply switch to set (nor does the deployed collector read it)
        return None
    return SyncResult(shadow={"load_switch": await ctx.client.load_switch(ctx.serial)})


async def sync_daylight_savings_enabled(ctx: MeterContext) -> SyncResult:
    enabled = await ctx.client.daylight_savings_correction_enabled(ctx.serial)
    return SyncResult(registry={"daylight_savings_correction_enabled": enabled})


async def sync_firmware(ctx: MeterContext) -> SyncResult | None:
    if ctx.three_phase:
        return None
    return SyncResult(registry={"firmware_version": await ctx.client.firmware_version(ctx.serial)})


async def sync_serial(ctx: MeterContext) -> SyncResult:
    return SyncResult(registry={"serial": await ctx.client.serial_number(ctx.serial)})


async def sync_prepay_enabled(ctx: MeterContext) -> SyncResult | None:
    if ctx.three_phase:
        return None
    return SyncResult(registry={"prepay_enabled": await ctx.client.prepay_enabled(ctx.serial)})


async def sync_profile_log(ctx: MeterContext) -> SyncResult | None:
    """Half-hourly cumulative values since the last stored one (at most ``profile_days``, by
    default 30, back): of a single-phase meter from profile log 1 in 2-hour requests, for
    element A (and B on twin-element meters); of a three-phase one from its interval profile
    (`sync_three_phase_intervals`)."""
    registers = registry.enabled_registers(ctx.db, ctx.meter.id)
    if "A" not in registers:
        return None
    last = history.last_profile_timestamp(ctx.db, registers["A"])
    # The meter stamps its records by its own clock: a meter running behind ours has not taken
    # the records our clock says exist. Windows are bounded by its time, read first.
    meter_now = await ctx.client.clock(ctx.serial)
    oldest = (meter_now - timedelta(days=ctx.profile_days)).replace(minute=0, second=0,
                                                                      microsecond=0)
    since = max(oldest, last + HALF_HOUR) if last else oldest
    if ctx.three_phase:
        return await sync_three_phase_intervals(ctx, registers["A"], since, meter_now)
    rows: list[tuple[UUID, datetime, int, int]] = []
    # Only windows whose four records all exist by the meter's clock (the last one is taken 90
    # minutes after the first): the deployed parser rejects a reply with fewer, and a window
    # not complete yet is "not yet", asked for at the next sync.
    while since + PROFILE_STEP - HALF_HOUR <= meter_now:
        got = await _naming(f"the window from {since.isoformat()}",
                            ctx.client.profile_log_1(ctx.serial, since))
        if not got:
            break
        for record in got:
            rows.append((registers["A"], record.timestamp, record.import_a, record.status))
            if "B" in registers:
                rows.append((registers["B"], record.timestamp, record.import_b, record.status))
        since = max(since + PROFILE_STEP, got[-1].timestamp + HALF_HOUR)
    return SyncResult(profile=rows)


THREE_PHASE_STEP = timedelta(days=1)
T = TypeVar("T")


async def _naming(what: str, read: Awaitable[T]) -> T:
    """``read``'s answer; its error says what was asked for (``what``: a window)."""
    try:
        return await read
    except UndecodableReply as error:
        raise UndecodableReply(f"{what}: {error.message}") from error
    except MediatorError as error:
        raise MediatorError(error.code, f"{what}: {error.message}") from error


async def sync_three_phase_intervals(ctx: MeterContext, register: UUID, since: datetime,
                                     meter_now: datetime) -> SyncResult:
    """The total active import at each half-hour boundary from ``since`` up to the meter's
    time, from the interval profile (format 0x14; a reply holds what fits, the next request
    starts after its last interval), as Wh: the channel counts in its register's units (tenths
    of a Wh on a CT-operated meter, as the deployed reader scales it)."""
    scale = ctx.meter.kind.register_scale if ctx.meter.kind is not None else 1
    rows: list[tuple[UUID, datetime, int, int]] = []
    while since <= meter_now:
        got = await _naming(f"the intervals from {since.isoformat()}",
                            ctx.client.three_phase_import_intervals(
                                ctx.serial, since, since + THREE_PHASE_STEP))
        if not got:
            break
        rows += [(register, start, raw // scale, status) for start, status, raw in got]
        since = max(since + HALF_HOUR, got[-1][0] + HALF_HOUR)  # onwards, whatever it answers
    return SyncResult(profile=rows)


SYNCERS: dict[str, Syncer] = {
    "SyncerReads": sync_reads,
    "SyncerPrepayBalance": sync_prepay_balance,
    "SyncerCsq": sync_csq,
    "SyncerVoltage": sync_voltage,
    "SyncerClockDiff": sync_clock_diff,
    "SyncerTariffsActive": sync_tariffs_active,
    "SyncerTariffsFuture": sync_tariffs_future,
    "SyncerEventLog": sync_event_log,
    "SyncerHardware": sync_hardware,
    "SyncerFirmwareVersion": sync_firmware,
    "SyncerSerial": sync_serial,
    "SyncerPrepayEnabled": sync_prepay_enabled,
    "SyncerProfileLog": sync_profile_log,
    "SyncerBacklight": sync_backlight,
    "SyncerLoadSwitch": sync_load_switch,
    "SyncerDaylightSavingsEnabled": sync_daylight_savings_enabled,
}
