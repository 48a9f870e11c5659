"""Virtual meters without sockets: determinism, registers that only grow, profile logs that
match the registers, balances and clocks that behave like a prepayment meter's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as hs

from flows.emop import records
from flows.meterdata import HALF_HOUR
from flows.meters import FaultRates, SimClock, build_fleet

START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
FLEET = build_fleet(40, seed=7, start=START)
offsets = hs.integers(0, 60 * 24 * 3600)  # seconds within 60 days before START


def test_same_seed_same_fleet() -> None:
    again = build_fleet(40, seed=7, start=START)
    assert [(m.serial, m.hardware, m.seed, m.esco) for m in again] == [
        (m.serial, m.hardware, m.seed, m.esco) for m in FLEET]
    assert [m.element_a(START) for m in again] == [m.element_a(START) for m in FLEET]
    assert build_fleet(40, seed=8, start=START)[0].seed != FLEET[0].seed


def test_the_fleet_mixes_hardware() -> None:
    hardware = {m.hardware for m in build_fleet(400, seed=1, start=START)}
    assert {"C1.w", "B1.w", "EMA1.w", "P1.cx", "P1.ax"} <= hardware
    assert all(m.serial.startswith("EML") and len(m.serial) == 13 for m in FLEET)


@settings(max_examples=200)
@given(hs.sampled_from(FLEET), offsets, offsets)
def test_registers_never_decrease(meter: object, first: int, second: int) -> None:
    early, late = sorted((START - timedelta(seconds=first), START - timedelta(seconds=second)))
    a_early, a_late = meter.element_a(early), meter.element_a(late)  # type: ignore[attr-defined]
    assert a_late.import_active >= a_early.import_active
    assert a_late.export_active >= a_early.export_active


@settings(max_examples=100)
@given(hs.sampled_from(FLEET), hs.integers(1, 29 * 48))
def test_profile_log_values_equal_the_registers_at_each_half_hour(meter: object, back: int) -> None:
    since = START.replace(minute=0) - back * HALF_HOUR
    rows = meter.profile_log_1(since, START)  # type: ignore[attr-defined]
    assert 1 <= len(rows) <= 4
    for row in rows:
        assert row.timestamp.minute in (0, 30) and row.timestamp <= START
        assert row.import_a == meter.element_a(row.timestamp).import_active  # type: ignore[attr-defined]
        assert row.import_b == meter.element_b(row.timestamp).import_active  # type: ignore[attr-defined]
    assert [r.timestamp for r in rows] == [since + i * HALF_HOUR for i in range(len(rows))]


def test_profile_log_keeps_30_days() -> None:
    meter = FLEET[0]
    rows = meter.profile_log_1(START - timedelta(days=90), START)
    assert rows[0].timestamp >= START - timedelta(days=30, minutes=30)


def test_register_reset_is_the_only_decrease() -> None:
    fleet = build_fleet(30, seed=3, start=START, rates=FaultRates(register_reset=1.0))
    for meter in fleet:
        reset = meter.faults.reset_at
        assert reset is not None
        before = meter.element_a(reset - timedelta(seconds=1)).import_active
        after = meter.element_a(reset).import_active
        assert after == 0 < before
        assert meter.element_a(START).import_active >= after
        rows = meter.profile_log_1(reset.replace(minute=0, second=0) - HALF_HOUR, START)
        assert any(row.status & records.STATUS_RESET for row in rows)  # the reset is flagged in the log


def test_balance_falls_with_use_and_is_topped_up() -> None:
    meter = FLEET[1]
    period = timedelta(days=meter.topup_days)
    topped_up = meter.installed + ((START - meter.installed) // period) * period
    assert meter.balance(topped_up) == meter.initial_credit
    later = topped_up + timedelta(hours=30)
    assert meter.balance(later) < meter.balance(topped_up + timedelta(hours=1))
    assert meter.balance(later).as_tuple().exponent == -5  # exact pence fractions
    assert isinstance(meter.balance(later), Decimal)


def test_clock_drifts_and_can_be_set() -> None:
    meter = build_fleet(1, seed=11, start=START)[0]
    drift = (meter.clock(START) - START).total_seconds()
    days = (START - meter.installed) / timedelta(days=1)
    assert abs(drift - days * meter.clock_drift_s_per_day) <= 1
    meter.set_clock(START, START)
    assert abs((meter.clock(START) - START).total_seconds()) <= 1


def test_simulated_time_can_be_frozen_set_and_sped_up() -> None:
    frozen = SimClock(START, speed=0)
    assert frozen.now() == START
    frozen.set(START + timedelta(days=3))
    assert frozen.now() == START + timedelta(days=3)
    fast = SimClock(START, speed=3600)
    assert fast.now() >= START
