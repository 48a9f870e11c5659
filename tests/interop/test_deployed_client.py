"""The deployed client (simt-emlite 1.2.12) reads every object through our mediator from our
simulated meters, one of each hardware kind, and gets exactly what the simulator's model holds.

The fleet's clock is frozen, so every value is known in advance from the model.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from flows.emop import records
from flows.meterdata import HALF_HOUR, UNKNOWN_SINGLE_PHASE, Hardware
from flows.meters import VirtualMeter, build_fleet
from tests.interop.conftest import behind_our_mediator, run_peer

START = datetime(2026, 11, 20, 12, 7, 0, tzinfo=UTC)
SINCE = START.replace(minute=0) - timedelta(hours=6)
NAK_UNKNOWN = "NAK 5 (unknown object id)"


def one_of_each_kind(start: datetime = START) -> list[VirtualMeter]:
    fleet = build_fleet(200, seed=11, start=start)
    chosen: dict[str, VirtualMeter] = {}
    for meter in fleet:
        chosen.setdefault(meter.hardware, meter)
    assert sorted(chosen) == sorted(kind.value for kind in Hardware)
    return list(chosen.values())


def kwh(registers: records.ElementRegisters) -> dict[str, float]:
    return {"import_active": registers.import_active / 1000, "export_active": registers.export_active / 1000,
            "import_reactive": registers.import_reactive / 1000,
            "export_reactive": registers.export_reactive / 1000}


def seconds(moment: datetime) -> int:
    return records.emop_seconds(moment)


def expected(meter: VirtualMeter) -> dict[str, Any]:
    """What the deployed client must read from ``meter``: values, or the error it must get."""
    three_phase = meter.three_phase
    a, b = meter.element_a(START), meter.element_b(START)
    power_a, power_b = meter.active_power_w(START, "A"), meter.active_power_w(START, "B")
    only_three_phase = {"error": NAK_UNKNOWN}
    return {
        "serial_read": meter.serial,
        "hardware": UNKNOWN_SINGLE_PHASE if three_phase else meter.hardware,
        "firmware_version": records.decode_firmware(meter.firmware),
        "clock_time_read": meter.clock(START).isoformat(),
        "csq": meter.signal_quality(START).csq,
        "read_element_a": kwh(a),
        "read_element_b": kwh(b),
        "read": [kwh(a), kwh(b) if meter.twin_element else None],
        # The deployed client returns the raw deci-volts (Flows says volts: raw / 10).
        "instantaneous_voltage": float(meter.voltage_dv(START)),
        "instantaneous_active_power": (power_a + power_b) / 1000,
        "instantaneous_active_power_element_a": power_a / 1000,
        "instantaneous_active_power_element_b": power_b / 1000,
        "backlight": meter.backlight,
        "load_switch": meter.load_switch,
        "daylight_savings_correction_enabled": meter.daylight_savings_correction,
        "three_phase_instantaneous_voltage": [meter.voltage_dv(START, phase) / 10 for phase in (1, 2, 3)],
        "three_phase_hardware_configuration": (
            {"meter_type": int(meter.hardware == Hardware.P1_AX)} if three_phase else only_three_phase),
        "three_phase_serial": meter.serial if three_phase else only_three_phase,
        "prepay_balance": meter.balance(START),
        "prepay_enabled": meter.prepay_enabled,
        "prepay_no_debt_recovery_when_emergency_credit_enabled": meter.no_debt_recovery_in_emergency_credit,
        "prepay_no_standing_charge_when_power_fail_enabled": meter.no_standing_charge_in_power_fail,
        "prepay_transaction_count": meter.transaction_count(START),
        "tariffs_active_read": {"standing_charge": meter.standing_charge,
                                "unit_rate_element_a": meter.unit_rate,
                                "unit_rate_element_b": meter.unit_rate,
                                "prepayment_emergency_credit": Decimal(5)},
        "tariffs_future_read": {"standing_charge": meter.standing_charge,
                                "unit_rate_element_a": meter.unit_rate,
                                "activation_datetime": meter.installed.replace(
                                    year=meter.installed.year + 2).isoformat()},
        "tariffs_time_switches_element_a_or_single_read": bytes(records.TIME_SWITCHES_SIZE).hex(),
        "tariffs_time_switches_element_b_read": bytes(records.TIME_SWITCHES_SIZE).hex(),
        "event_log": [{"timestamp": seconds(e.timestamp), "event_id": e.event_id, "event_set": e.event_set}
                      for e in meter.event_page(0, START)],
        "profile_log_1": [{"timestamp": seconds(r.timestamp), "import_a": r.import_a, "import_b": r.import_b,
                           "valid_data": True}
                          for r in meter.profile_log_1(SINCE, START)],
        "profile_log_2": [{"timestamp": seconds(r.timestamp), "active_export_a": r.active_export_a,
                           "voltage": r.voltage} for r in meter.profile_log_2(SINCE, START)],
        "obis_read": records.encode_serial(meter.serial).hex(),
        "three_phase_intervals": [
            # In the registers' units: tenths of a Wh on a CT-operated meter.
            {"values": [Hardware(meter.hardware).register_scale * value
                        for value in meter.registers(SINCE + n * HALF_HOUR)], "valid_data": True}
            for n in range(4)] if three_phase else only_three_phase,  # it reads 000503 first
    }


def observed(name: str, result: dict[str, Any], meter: VirtualMeter) -> Any:
    """The part of the deployed client's answer that `expected` states, in its terms."""
    if "error" in result:
        return {"error": result["error"].split("Meter communication failed: meter refused the request: ")[-1]}
    value = result["value"]
    if name == "prepay_balance":
        return Decimal(value)
    if name == "three_phase_hardware_configuration":
        return {"meter_type": value["meter_type"]}
    if name == "tariffs_active_read":
        names = ("standing_charge", "unit_rate_element_a", "unit_rate_element_b",
                 "prepayment_emergency_credit")
        return {key: Decimal(value[key]) for key in names}
    if name == "tariffs_future_read":
        return {"standing_charge": Decimal(value["standing_charge"]),
                "unit_rate_element_a": Decimal(value["unit_rate_element_a"]),
                "activation_datetime": value["activation_datetime"]}
    if name == "event_log":
        return value["events"]
    if name == "profile_log_1":
        return [{"timestamp": r["timestamp"], "import_a": r["import_a"], "import_b": r["import_b"],
                 "valid_data": r["status"]["valid_data"]} for r in value["records"]]
    if name == "three_phase_intervals":
        assert value["channel_ids"] == ["010800", "020800"] and value["interval_duration"] == 30
        assert value["block_start_time"] == SINCE.isoformat()
        return [{"values": record["channel_data"], "valid_data": record["status"]["valid_data"]}
                for record in value["intervals"]]
    if name == "profile_log_2":
        names = ("timestamp", "active_export_a", "voltage")
        return [{key: r[key] for key in names} for r in value["records"]]
    return value


def three_phase_totals(result: dict[str, Any], meter: VirtualMeter) -> None:
    """three_phase_read(hardware): kWh whatever the meter kind (P1.cx counts tenths of a Wh)."""
    imported, exported = meter.registers(START)
    value = result["value"]
    assert value["active_import"] == pytest.approx(imported / 1000, abs=0.01)
    assert value["active_export"] == pytest.approx(exported / 1000, abs=0.01)
    assert value["reactive_import"] == pytest.approx(imported // 20 / 1000, abs=0.01)
    assert value["apparent_import"] == pytest.approx(imported / 1000, abs=0.01)


def test_every_read_method_returns_the_models_value(deployed_python: str) -> None:
    meters = one_of_each_kind()

    async def main() -> dict[str, dict[str, Any]]:
        async with behind_our_mediator(meters, START) as (_, mediator):
            return {meter.serial: await run_peer(
                deployed_python, "deployed_client.py", mediator, meter.serial, SINCE.isoformat(),
                "twin" if meter.twin_element else "single", meter.hardware) for meter in meters}

    answers = asyncio.run(main())
    for meter in meters:
        got = answers[meter.serial]
        want = expected(meter)
        assert len(got) == len(want) + 1  # and three_phase_read, checked below
        for name, value in want.items():
            assert observed(name, got[name], meter) == value, (meter.hardware, name, got[name])
        if meter.three_phase:
            three_phase_totals(got["three_phase_read"], meter)
        assert len(want["profile_log_1"]) == records.PROFILE_LOG_1_RECORDS
        assert want["profile_log_1"][0]["timestamp"] == seconds(SINCE)
        assert SINCE + 3 * HALF_HOUR < START


def test_the_deployed_tariff_writes_succeed_through_our_mediator_and_read_back(
        deployed_python: str) -> None:
    """All eleven objects of the deployed future-tariff update and both time-switch tables,
    written by the deployed client through our mediator to a twin-element meter; its read
    back gives what it wrote."""
    meter = next(m for m in one_of_each_kind() if m.hardware == "C1.w")
    activation = START.replace(minute=0, second=0) + timedelta(days=40)
    amounts = ("0.61234", "0.27891", "10", "3.5", "0.25")

    async def main() -> dict[str, Any]:
        async with behind_our_mediator([meter], START) as (_, mediator):
            answer: dict[str, Any] = await run_peer(
                deployed_python, "deployed_tariff_write.py", mediator, meter.serial,
                activation.isoformat(), *amounts)
            return answer

    answer = asyncio.run(main())
    assert {name: answer[name] for name in (
        "tariffs_future_write", "tariffs_time_switches_element_a_or_single_write",
        "tariffs_time_switches_element_b_write")} == dict.fromkeys(
        ("tariffs_future_write", "tariffs_time_switches_element_a_or_single_write",
         "tariffs_time_switches_element_b_write"), "ok")
    read = answer["tariffs_future_read"]
    assert datetime.fromisoformat(read.pop("activation_datetime")) == activation
    assert {key: Decimal(value) for key, value in read.items()} == {
        "standing_charge": Decimal("0.61234"), "unit_rate_element_a": Decimal("0.27891"),
        "unit_rate_element_b": Decimal("0.27891"), "prepayment_emergency_credit": Decimal("10"),
        "prepayment_ecredit_availability": Decimal("3.5"),
        "prepayment_debt_recovery_rate": Decimal("0.25")}
    assert len(meter.written) == 13  # the eleven tariff objects and both time-switch tables
