"""Client → mediator (real gRPC) → simulated meters (real TCP): every object, every fault's
status, writes never sent twice, per-meter serialisation and spacing under load."""

from __future__ import annotations

import asyncio
import itertools
import resource
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from flows.emop import ObjectId
from flows.mediator import MediatorClient, MediatorError
from flows.mediator.links import LinkSettings, MeterLinks
from flows.mediator.server import Metrics, start_server
from flows.meterdata import REGISTER_SENTINEL_WH as REGISTER_ERROR_SENTINEL
from flows.meterdata import UNKNOWN_SINGLE_PHASE
from flows.meters import Faults, FleetServer, SimClock, build_fleet
from flows.meters.model import VirtualMeter

START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
FAST = LinkSettings(
    min_gap_s=0.02,
    lock_wait_s=5.0,
    connect_attempts=2,
    connect_backoff_s=0.01,
    connect_timeout_s=2.0,
    read_timeout_s=0.5,
)

Check = Callable[[MediatorClient, FleetServer], Awaitable[None]]


def run(meters: list[VirtualMeter], check: Check, settings: LinkSettings = FAST) -> Metrics:
    metrics = Metrics.create()

    async def main() -> None:
        async with FleetServer(meters, SimClock(START, speed=0), port=0, own_addresses=False) as fleet:
            addresses = {e.meter.serial: (e.host, e.port) for e in fleet.endpoints}

            async def resolve(serial: str) -> tuple[str, int] | None:
                return addresses.get(serial)

            server, port = await start_server("127.0.0.1:0", MeterLinks(resolve, settings), metrics)
            try:
                async with MediatorClient(f"127.0.0.1:{port}", deadline_s=30) as client:
                    await check(client, fleet)
            finally:
                await server.stop(None)

    asyncio.run(main())
    return metrics


def test_every_object_through_the_mediator() -> None:
    meters = build_fleet(40, seed=5, start=START)
    twin = next(m for m in meters if m.hardware == "C1.w")
    three_phase = next(m for m in meters if m.three_phase)

    async def check(client: MediatorClient, fleet: FleetServer) -> None:
        serial = twin.serial
        assert await client.read_element_a(serial) == twin.element_a(START)
        assert await client.read_element_b(serial) == twin.element_b(START)
        assert await client.prepay_balance(serial) == twin.balance(START)
        assert (await client.csq(serial)).network_operator == twin.network_operator
        assert abs((await client.clock(serial) - START).total_seconds()) < 3600
        assert await client.hardware(serial) == "C1.w"
        assert await client.hardware(three_phase.serial, three_phase=True) == three_phase.hardware
        assert await client.hardware(three_phase.serial) == UNKNOWN_SINGLE_PHASE  # code all zero
        assert (await client.firmware_version(serial)).startswith("3_0")
        assert await client.serial_number(serial) == serial
        assert Decimal(220) < await client.voltage(serial) < Decimal(250)
        assert await client.prepay_enabled(serial) is True
        active = await client.tariffs_active(serial)
        # By the deployed client's field names (what its collector stores).
        assert active["unit_rate_element_a"] == twin.unit_rate
        assert active["standing_charge"] == twin.standing_charge
        assert active["threshold_mask"] == {f"rate{n}": False for n in range(1, 9)}
        assert active["tou_rate"] is None and active["block_rate"] == 1
        future = await client.tariffs_future(serial)
        assert future["unit_rate_element_a"] == future["unit_rate_element_b"] == twin.unit_rate
        assert future["activation_datetime"].startswith(str(twin.installed.year + 2))
        assert await client.event_log(serial, 0) == twin.event_page(0, START)
        since = START - timedelta(days=1)
        assert await client.profile_log_1(serial, since) == twin.profile_log_1(since, START)
        assert await client.profile_log_2(serial, since, twin=True) == twin.profile_log_2(since, START)
        await client.write_element(serial, ObjectId.PREPAY_ENABLED_FLAG, b"\x00")
        assert await client.prepay_enabled(serial) is False
        for object_id in (0x010800, 0x200700, 0x000503):  # three-phase objects
            assert await client.read_element(three_phase.serial, object_id)

    run(meters, check)


FAULTS: list[tuple[Faults, str, str]] = [
    (Faults(no_answer=True), "INTERNAL", "Meter communication failed: .*sent no complete reply"),
    (Faults(refuse_connections=True), "INTERNAL", "failed to connect after retries"),
    (Faults(close_mid_frame=True), "INTERNAL", "Meter communication failed: .*closed the connection"),
    (Faults(corrupt_crc=True), "INTERNAL", "Meter communication failed: CRC mismatch"),
    (Faults(nak_code=6), "INTERNAL", r"Meter communication failed: .*NAK 6 \(security"),
    # Timed out, and asked again while the meter still holds the first connection: refused.
    (Faults(latency_s=30.0), "INTERNAL", "Meter communication failed: "),
]


@pytest.mark.parametrize(("faults", "code", "message"), FAULTS, ids=[f[0].active()[0] for f in FAULTS])
def test_each_fault_gives_its_status_and_never_a_value(faults: Faults, code: str, message: str) -> None:
    meter = replace(build_fleet(1, seed=2, start=START)[0], faults=faults)

    async def check(client: MediatorClient, fleet: FleetServer) -> None:
        with pytest.raises(MediatorError, match=message) as error:
            await client.read_element_a(meter.serial)
        assert error.value.code == code

    run([meter], check)


def test_argument_and_registry_errors() -> None:
    meter = build_fleet(1, seed=2, start=START)[0]

    async def check(client: MediatorClient, fleet: FleetServer) -> None:
        with pytest.raises(MediatorError, match="Target meter serial not specified") as missing:
            await client.read_element_a("")
        assert missing.value.code == "INVALID_ARGUMENT"
        with pytest.raises(MediatorError, match="Meter 'EML404' not known") as unknown:
            await client.read_element_a("EML404")
        assert unknown.value.code == "NOT_FOUND"
        # 0x1FFFD1D masked to 3 bytes would read CSQ (FFFD1D): refused instead.
        with pytest.raises(MediatorError, match="does not fit in 3 bytes") as too_wide:
            await client.read_element(meter.serial, 0x1FFFD1D)
        assert too_wide.value.code == "INVALID_ARGUMENT"

    run([meter], check)


@pytest.mark.slow
def test_a_busy_meter_answers_resource_exhausted() -> None:
    meter = replace(build_fleet(1, seed=2, start=START)[0], faults=Faults(latency_s=1000.0))
    settings = replace(FAST, lock_wait_s=0.2, read_timeout_s=3.0)

    async def check(client: MediatorClient, fleet: FleetServer) -> None:
        first = asyncio.ensure_future(client.read_element_a(meter.serial))
        await fleet.request_arrived.wait()  # the meter is busy with the first request
        with pytest.raises(MediatorError, match=f"Meter {meter.serial} is busy") as busy:
            await client.read_element_a(meter.serial)
        assert busy.value.code == "RESOURCE_EXHAUSTED"
        with pytest.raises(MediatorError):
            await first

    run([meter], check, settings)


def test_a_write_whose_reply_times_out_is_sent_once() -> None:
    meter = replace(build_fleet(1, seed=2, start=START)[0], faults=Faults(no_answer=True))

    async def check(client: MediatorClient, fleet: FleetServer) -> None:
        with pytest.raises(MediatorError, match="Meter communication failed"):
            await client.write_element(meter.serial, ObjectId.PREPAY_ENABLED_FLAG, b"\x00")
        writes = [data for _, _, data in fleet.requests[0] if data[4:5] == b"\x01"]
        assert len(writes) == 1
        with pytest.raises(MediatorError):
            await client.read_element_a(meter.serial)
        reads = [data for _, _, data in fleet.requests[0] if data[4:5] == b"\x00"]
        assert len(reads) == 2  # a read may be asked again

    run([meter], check)


@pytest.mark.slow
def test_a_thousand_meters_three_reads_each() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 8192 <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (8192, hard))
    meters = build_fleet(1000, seed=9, start=START)
    settings = replace(FAST, min_gap_s=0.05, read_timeout_s=30.0)

    async def check(client: MediatorClient, fleet: FleetServer) -> None:
        async def three(meter: VirtualMeter) -> bool:
            a = await client.read_element_a(meter.serial)
            balance = await client.prepay_balance(meter.serial)
            serial = await client.serial_number(meter.serial)
            return bool(
                a == meter.element_a(START) and balance == meter.balance(START) and serial == meter.serial
            )

        results = await asyncio.gather(*(three(m) for m in meters), *(three(m) for m in meters[:50]))
        assert all(results) and len(results) == 1050
        for number, received in fleet.requests.items():
            spans = sorted((start, end) for start, end, _ in received)
            assert len(spans) == (6 if number < 50 else 3)
            for (_, end), (next_start, _) in itertools.pairwise(spans):
                assert next_start >= end  # never two requests at once on one meter
                assert next_start - end >= settings.min_gap_s * 0.9  # the gap is kept

    metrics = run(meters, check, settings)
    assert metrics.requests.labels("readElement")._value.get() == 3150


def test_split_replies_and_the_sentinel_pass_through_unchanged() -> None:
    base = build_fleet(2, seed=2, start=START)
    split = replace(base[0], faults=Faults(split_reply=True))
    sentinel = replace(base[1], faults=Faults(sentinel_registers=True))

    async def check(client: MediatorClient, fleet: FleetServer) -> None:
        assert await client.read_element_a(split.serial) == split.element_a(START)
        # The mediator passes what the meter said; flagging the sentinel is the views' job.
        assert (await client.read_element_a(sentinel.serial)).import_active == REGISTER_ERROR_SENTINEL

    run([split, sentinel], check)



def test_a_read_turned_away_by_a_busy_meter_is_asked_again_after_a_pause() -> None:
    """A meter takes one connection at a time: while another is open it closes ours without a
    byte (as after back-to-back requests, when it has not let go of the last connection yet).
    The mediator pauses and asks a read again instead of failing at once."""
    meter = build_fleet(1, seed=4, start=START)[0]

    async def check(client: MediatorClient, fleet: FleetServer) -> None:
        endpoint = fleet.endpoints[0]
        _, holder = await asyncio.open_connection(endpoint.host, endpoint.port)  # meter busy
        asyncio.get_running_loop().call_later(0.1, holder.close)  # ... for a moment
        assert await client.read_element_a(meter.serial) == meter.element_a(START)

    run([meter], check, replace(FAST, min_gap_s=0.0))
