"""The simulated fleet over real loopback sockets: every object readable with flows.emop,
each injected fault raising its specific exception, 1,000 meters answering at once."""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from flows.emop import (
    ConnectionClosedError,
    ConnectionRefusedByMeterError,
    CrcError,
    ElementRegisters,
    Format,
    MeterConnection,
    NakError,
    ObjectId,
    ReadTimeoutError,
    SignalQuality,
    event_log_request,
    event_log_value,
    object_value,
    profile_log_request,
    profile_log_value,
    read_request,
    records,
    write_request,
)
from flows.meterdata import REGISTER_SENTINEL_WH, UNKNOWN_SINGLE_PHASE
from flows.meters import Faults, FleetServer, SimClock, build_fleet
from flows.meters.responder import READERS

START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def frozen_clock() -> SimClock:
    return SimClock(START, speed=0)


def run_fleet(
    meters: list[Any], check: Callable[[FleetServer], Awaitable[None]], own_addresses: bool = True
) -> None:
    async def main() -> None:
        async with FleetServer(
            meters, frozen_clock(), port=8080 if own_addresses else 0, own_addresses=own_addresses
        ) as fleet:
            await check(fleet)

    asyncio.run(main())


async def read_value(connection: MeterConnection, object_id: int) -> bytes:
    request = read_request(object_id)
    return object_value(await connection.exchange(request), request)


def test_every_object_reads_back_as_the_meter_holds_it() -> None:
    meters = build_fleet(60, seed=5, start=START)
    sample = [next(m for m in meters if m.hardware == h) for h in ("C1.w", "B1.w", "P1.cx")]

    async def check(fleet: FleetServer) -> None:
        for endpoint in fleet.endpoints:
            meter = endpoint.meter
            if meter not in sample:
                continue
            async with MeterConnection(endpoint.host, endpoint.port) as connection:
                for object_id, read in READERS.items():
                    if read(meter, START) is None:  # an object of three-phase meters only
                        with pytest.raises(NakError):
                            await read_value(connection, object_id)
                    else:
                        assert await read_value(connection, object_id) is not None
                a = ElementRegisters.decode(await read_value(connection, ObjectId.ELEMENT_A))
                assert a == meter.element_a(START)
                b = ElementRegisters.decode(await read_value(connection, ObjectId.ELEMENT_B))
                assert b == meter.element_b(START)
                balance = records.decode_balance(await read_value(connection, ObjectId.PREPAY_BALANCE))
                assert balance == meter.balance(START)
                assert records.decode_serial(await read_value(connection, ObjectId.SERIAL)) == meter.serial
                hardware = records.decode_hardware(await read_value(connection, ObjectId.HARDWARE_VERSION))
                if meter.three_phase:
                    assert hardware == UNKNOWN_SINGLE_PHASE  # their code is all zero
                    config = await read_value(connection, ObjectId.THREE_PHASE_CONFIGURATION)
                    assert records.decode_three_phase_config(config) == meter.hardware
                else:
                    assert hardware == meter.hardware
                    firmware = records.decode_firmware(
                        await read_value(connection, ObjectId.FIRMWARE_VERSION)
                    )
                    assert firmware.startswith("3_0")
                clock = records.decode_clock(await read_value(connection, ObjectId.TIME))
                assert abs((clock - START).total_seconds()) < 3600
                csq = SignalQuality.decode(await read_value(connection, ObjectId.CSQ_NET_OP))
                assert 0 <= csq.csq <= 31 and csq.network_operator == meter.network_operator
                volts = records.decode_voltage(await read_value(connection, ObjectId.INSTANTANEOUS_VOLTAGE))
                assert Decimal(220) < volts < Decimal(250)
                rate = records.decode_money(
                    await read_value(connection, ObjectId.TARIFF_ACTIVE_BLOCK_8_RATE_1)
                )
                assert rate == meter.unit_rate

                since = START - timedelta(days=2)
                request = profile_log_request(Format.PROFILE_LOG_1, since)
                rows = records.decode_profile_log_1(
                    profile_log_value(await connection.exchange(request), request)
                )
                assert rows == meter.profile_log_1(since, START) and len(rows) == 4
                request = profile_log_request(Format.PROFILE_LOG_2, since)
                rows2 = records.decode_profile_log_2(
                    profile_log_value(await connection.exchange(request), request), meter.twin_element
                )
                assert rows2 == meter.profile_log_2(since, START)
                request = event_log_request(0)
                events = records.decode_events(event_log_value(await connection.exchange(request), request))
                assert events == meter.event_page(0, START)

                write = write_request(ObjectId.PREPAY_ENABLED_FLAG, b"\x00")
                object_value(await connection.exchange(write), write)
                assert (
                    records.decode_flag(await read_value(connection, ObjectId.PREPAY_ENABLED_FLAG)) is False
                )
                before = records.decode_balance(await read_value(connection, ObjectId.PREPAY_BALANCE))
                top_up = write_request(ObjectId.TOKEN_TOP_UP, records.encode_token("12345678901234567890"))
                object_value(await connection.exchange(top_up), top_up)
                after = records.decode_balance(await read_value(connection, ObjectId.PREPAY_BALANCE))
                assert after - before == Decimal("10.00")
                with pytest.raises(NakError) as refused:
                    await read_value(connection, 0x123456)
                assert refused.value.code == 5
                with pytest.raises(NakError) as read_only:
                    write = write_request(ObjectId.SERIAL, b"X")
                    object_value(await connection.exchange(write), write)
                assert read_only.value.code == 6

    run_fleet(meters, check)


FAULTS: list[tuple[Faults, type[Exception], str]] = [
    (Faults(no_answer=True), ReadTimeoutError, "sent no complete reply"),
    (Faults(refuse_connections=True), ConnectionRefusedByMeterError, "refused"),
    (Faults(close_mid_frame=True), ConnectionClosedError, "closed the connection after"),
    (Faults(corrupt_crc=True), CrcError, "CRC mismatch"),
    (Faults(nak_code=6), NakError, r"NAK 6 \(security not granted"),
    (Faults(latency_s=30.0), ReadTimeoutError, "within 0.5 s"),
]


@pytest.mark.parametrize(("faults", "error", "message"), FAULTS, ids=[f[0].active()[0] for f in FAULTS])
def test_each_fault_raises_its_own_exception(faults: Faults, error: type[Exception], message: str) -> None:
    meter = replace(build_fleet(1, seed=2, start=START)[0], faults=faults)

    async def check(fleet: FleetServer) -> None:
        endpoint = fleet.endpoints[0]
        with pytest.raises(error, match=message):
            async with MeterConnection(endpoint.host, endpoint.port, read_timeout=0.5) as connection:
                await read_value(connection, ObjectId.ELEMENT_A)

    run_fleet([meter], check)


def test_split_replies_and_sentinel_still_decode() -> None:
    split = replace(build_fleet(1, seed=2, start=START)[0], faults=Faults(split_reply=True))
    sentinel = replace(build_fleet(2, seed=2, start=START)[1], faults=Faults(sentinel_registers=True))

    async def check(fleet: FleetServer) -> None:
        values = []
        for endpoint in fleet.endpoints:
            async with MeterConnection(endpoint.host, endpoint.port) as connection:
                values.append(ElementRegisters.decode(await read_value(connection, ObjectId.ELEMENT_A)))
        assert values[0] == split.element_a(START)
        assert values[1].import_active == REGISTER_SENTINEL_WH

    run_fleet([split, sentinel], check)


def test_a_second_concurrent_connection_is_refused() -> None:
    meter = build_fleet(1, seed=4, start=START)[0]

    async def check(fleet: FleetServer) -> None:
        endpoint = fleet.endpoints[0]
        async with MeterConnection(endpoint.host, endpoint.port) as first:
            await read_value(first, ObjectId.ELEMENT_A)
            with pytest.raises(ConnectionClosedError):
                async with MeterConnection(endpoint.host, endpoint.port) as second:
                    await read_value(second, ObjectId.ELEMENT_A)
        async with MeterConnection(endpoint.host, endpoint.port) as third:  # free again
            await read_value(third, ObjectId.ELEMENT_A)

    run_fleet([meter], check)


@pytest.mark.slow
def test_a_thousand_meters_answer_a_thousand_concurrent_requests() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096 <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096, hard))
    meters = build_fleet(1000, seed=9, start=START)

    async def check(fleet: FleetServer) -> None:
        async def one(endpoint: Any) -> bool:
            async with MeterConnection(endpoint.host, endpoint.port, read_timeout=30) as connection:
                value = ElementRegisters.decode(await read_value(connection, ObjectId.ELEMENT_A))
                serial = records.decode_serial(await read_value(connection, ObjectId.SERIAL))
            return bool(value == endpoint.meter.element_a(START) and serial == endpoint.meter.serial)

        results = await asyncio.gather(*(one(e) for e in fleet.endpoints))
        assert len(results) == 1000 and all(results)
        assert len({(e.host, e.port) for e in fleet.endpoints}) == 1000

    run_fleet(meters, check)


def test_the_request_record_keeps_each_meters_latest_requests_only() -> None:
    meter = build_fleet(1, seed=4, start=START)[0]

    async def main() -> None:
        async with FleetServer([meter], frozen_clock(), port=0, own_addresses=False,
                               requests_kept=3) as fleet:
            endpoint = fleet.endpoints[0]
            async with MeterConnection(endpoint.host, endpoint.port) as connection:
                for object_id in (ObjectId.ELEMENT_A, ObjectId.ELEMENT_B, ObjectId.TIME,
                                  ObjectId.CSQ_NET_OP, ObjectId.PREPAY_BALANCE):
                    await read_value(connection, object_id)
            kept = [read_request(o).data for o in (ObjectId.TIME, ObjectId.CSQ_NET_OP,
                                                   ObjectId.PREPAY_BALANCE)]
            assert [data for *_, data in fleet.requests[meter.number]] == kept

    asyncio.run(main())
