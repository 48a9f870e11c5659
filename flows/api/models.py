"""What the meter, fleet and admin routes answer (the usage routes' pages are in
`flows.api.routes.usage`). Money and volts are exact decimals (JSON strings, as consumption)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field


class Register(BaseModel):
    register_id: str
    element: str
    status: str | None


class Meter(BaseModel):
    """A meter with its registry facts, latest values (its shadow) and health."""

    id: str
    serial: str
    name: str | None
    hardware: str | None
    firmware_version: str | None
    mode: str
    prepay_enabled: bool | None
    esco: str | None = Field(description="the esco's code")
    import_mpan: str | None = Field(description="the meter point of its import (13 digits)")
    export_mpan: str | None = Field(description="the meter point of its export, if it exports")
    health: str | None = Field(description="healthy, unhealthy or null: never synced")
    health_details: str | None
    last_healthy_at: datetime | None
    import_a: float | None = Field(description="kWh, element A's import register")
    import_b: float | None
    export_a: float | None
    export_b: float | None
    reads_at: datetime | None
    balance: Decimal | None = Field(description="prepay balance, £")
    balance_at: datetime | None
    csq: int | None
    csq_at: datetime | None
    voltage: Decimal | None = Field(
        description="volts (the shadow's voltage column holds deci-volts, as the deployed "
                    "collector stores it)")
    clock_time_diff_seconds: int | None = Field(
        description="our clock minus the meter's, seconds (positive: the meter is behind), as "
                    "the deployed collector stores it")
    updated_at: datetime | None


class MeterDetail(Meter):
    registers: list[Register]


class MeterPage(BaseModel):
    results: list[Meter]
    next: str | None = Field(description="the cursor of the next page (its last serial)")


class UnhealthyMeter(BaseModel):
    serial: str
    details: str | None
    last_healthy_at: datetime | None
    last_seen_at: datetime | None


class OfflineMeter(BaseModel):
    serial: str
    last_seen_at: datetime | None


class LowBalance(BaseModel):
    serial: str
    balance: Decimal
    balance_at: datetime | None


class ClockDrift(BaseModel):
    serial: str
    clock_time_diff_seconds: int


class MissingHalfHours(BaseModel):
    serial: str
    missing: int


class NoUsage(BaseModel):
    serial: str
    hardware: str | None


class FleetHealth(BaseModel):
    counts: dict[str, int]
    last_healthy_sync_at: datetime | None = Field(
        description="when a meter was last synced healthy, by any collector")
    unhealthy: list[UnhealthyMeter]
    offline: list[OfflineMeter]
    low_balance: list[LowBalance]
    clock_drift: list[ClockDrift]
    missing_half_hours: list[MissingHalfHours]
    no_usage: list[NoUsage]


class CorrectionAnswer(BaseModel):
    serial: str
    element: str
    timestamp: datetime
    old_wh: int | None
    wh: int | None = Field(description="the value now (null: deleted)")
    change: int = Field(description="its number in the change log")
    views_applied: bool = Field(description="whether the views show it yet")


class CorrectionEntry(BaseModel):
    made_at: datetime
    actor: str
    reason: str
    element: str
    source: str
    timestamp: datetime
    old_wh: int | None
    new_wh: int | None
    change: int
    views_applied: bool


class CorrectionHistory(BaseModel):
    results: list[CorrectionEntry]


class SyncAnswer(BaseModel):
    serial: str
    summary: str
    problems: dict[str, str]


class Link(BaseModel):
    customer_id: str
    serial: str | None = None
    valid_from: datetime
    valid_to: datetime | None


class LinkChange(BaseModel):
    at: datetime
    actor: str
    action: str
    customer_id: str
    valid_from: datetime
    valid_to_before: datetime | None
    valid_to_after: datetime | None
    reason: str


class MeterLinks(BaseModel):
    results: list[Link]
    audit: list[LinkChange]
