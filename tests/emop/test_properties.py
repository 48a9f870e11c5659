"""Round trips for every record type and frame; the decoders, fed random or mutated bytes,
raise nothing but the codec's own exceptions."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as hs

from flows.emop import (
    Address,
    ElementRegisters,
    EmopError,
    Event,
    Frame,
    ObjectId,
    ProfileLog1Record,
    ProfileLog2Record,
    SignalQuality,
    decode_frame,
    event_log_value,
    object_value,
    profile_log_value,
    read_request,
    records,
)
from flows.emop.frame import MAX_DATA, FrameSplitter
from flows.meterdata import UNKNOWN_SINGLE_PHASE

u4 = hs.integers(0, 2**32 - 1)
u2 = hs.integers(0, 2**16 - 1)
moments = hs.integers(0, 2**32 - 1).map(records.from_emop_seconds)
addresses = hs.builds(Address, hs.integers(0, 255), hs.integers(0, 2**24 - 1))
frames = hs.builds(Frame, addresses, addresses, hs.integers(0, 7), hs.integers(0, 31),
                   hs.binary(max_size=MAX_DATA))


@given(frames)
def test_frame_round_trip(frame: Frame) -> None:
    assert decode_frame(frame.encode()) == frame


@given(hs.builds(ElementRegisters, u4, u4, u4, u4))
def test_registers_round_trip(value: ElementRegisters) -> None:
    assert ElementRegisters.decode(value.encode()) == value


@given(hs.integers(-(2**31), 2**31 - 1))
def test_balance_round_trip(units: int) -> None:
    amount = Decimal(units) / 100000
    assert records.decode_balance(records.encode_balance(amount)) == amount


@given(u4)
def test_money_round_trip(units: int) -> None:
    amount = Decimal(units) / 100000
    assert records.decode_money(records.encode_money(amount)) == amount


@given(hs.builds(SignalQuality, hs.integers(0, 31), hs.integers(0, 7)))
def test_signal_quality_round_trip(value: SignalQuality) -> None:
    assert SignalQuality.decode(value.encode()) == value


@given(hs.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2255, 12, 31),
                    timezones=hs.just(UTC)).map(lambda d: d.replace(microsecond=0)))
def test_clock_round_trip(moment: datetime) -> None:
    assert records.decode_clock(records.encode_clock(moment)) == moment


@given(moments)
def test_timestamp_round_trip(moment: datetime) -> None:
    assert records.decode_timestamp(records.encode_timestamp(moment)) == moment


@given(u2)
def test_voltage_round_trip(deci_volts: int) -> None:
    volts = Decimal(deci_volts) / 10
    assert records.decode_voltage(records.encode_voltage(volts)) == volts


@given(hs.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=1, max_size=16))
def test_serial_round_trip(serial: str) -> None:
    assert records.decode_serial(records.encode_serial(serial)) == serial


@given(hs.lists(hs.builds(Event, moments, hs.integers(1, 105), hs.integers(0, 255)),
                min_size=10, max_size=10))
def test_event_page_round_trip(events: list[Event]) -> None:
    assert records.decode_events(records.encode_events(events)) == events


@given(hs.lists(hs.builds(ProfileLog1Record, moments, u2, u4, u4), max_size=5))
def test_profile_log_1_round_trip(rows: list[ProfileLog1Record]) -> None:
    assert records.decode_profile_log_1(records.encode_profile_log_1(rows)) == rows


@given(hs.booleans(), hs.lists(hs.tuples(moments, u2, u4, u4, u4, u4, u4, u4, u4), max_size=3))
def test_profile_log_2_round_trip(twin: bool, fields: list[tuple[Any, ...]]) -> None:
    rows = [ProfileLog2Record(*f) if twin else ProfileLog2Record(*f[:6]) for f in fields]
    assert records.decode_profile_log_2(records.encode_profile_log_2(rows, twin), twin) == rows


def test_timestamps_before_the_epoch_are_refused() -> None:
    early = datetime(2000, 1, 1, tzinfo=UTC) - timedelta(seconds=1)
    for bad in (early, datetime(2024, 1, 1)):
        try:
            records.encode_timestamp(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad} was accepted")


# Fuzzing: any bytes, and valid frames with bytes flipped, cut or appended.

DECODERS: list[Callable[[bytes], Any]] = [
    decode_frame, ElementRegisters.decode, records.decode_balance, SignalQuality.decode,
    records.decode_clock, records.decode_timestamp, records.decode_voltage, records.decode_serial,
    records.decode_hardware, records.decode_firmware, records.decode_three_phase_config,
    records.decode_events, records.decode_profile_log_1, records.decode_flag,
    records.decode_threshold_values, records.decode_threshold_mask, records.decode_u4,
    lambda b: records.decode_profile_log_2(b, twin=True), records.decode_u2, records.decode_u1,
    records.decode_power, records.decode_time_switches,
]


@settings(max_examples=500)
@given(hs.binary(max_size=300))
def test_decoders_raise_only_codec_errors_on_random_bytes(raw: bytes) -> None:
    for decode in DECODERS:
        try:
            decode(raw)
        except EmopError:
            pass


@settings(max_examples=500)
@given(frames, hs.data())
def test_mutated_frames_raise_only_codec_errors(frame: Frame, data: hs.DataObject) -> None:
    raw = bytearray(frame.encode())
    mutation = data.draw(hs.sampled_from(["flip", "cut", "append"]))
    if mutation == "flip":
        position = data.draw(hs.integers(0, len(raw) - 1))
        raw[position] ^= data.draw(hs.integers(1, 255))
    elif mutation == "cut":
        raw = raw[: data.draw(hs.integers(0, len(raw) - 1))]
    else:
        raw += data.draw(hs.binary(min_size=1, max_size=10))
    request = read_request(ObjectId.ELEMENT_A)
    try:
        reply = decode_frame(bytes(raw))
    except EmopError:
        return
    for value in (object_value, profile_log_value, event_log_value):
        try:
            value(reply, request)
        except EmopError:
            pass


@given(hs.sampled_from(["6C", "6Cw", "6Bw", "3Aw", "", "1", "9Zz"]))
def test_hardware_round_trip(code: str) -> None:
    """Known codes name the hardware; anything else (all zero on three-phase meters, `1` as
    captured from a real meter) is SINGLE_PHASE_UNKNOWN, as the deployed client says."""
    expected = records.HARDWARE.get(code, UNKNOWN_SINGLE_PHASE)
    encoded = records.encode_hardware(code)
    assert len(encoded) == 4 and records.decode_hardware(encoded) == expected


def test_hardware_of_a_captured_real_meter() -> None:
    assert records.decode_hardware(bytes.fromhex("31000000")) == UNKNOWN_SINGLE_PHASE


@given(hs.sampled_from(["P1.cx", "P1.ax"]), hs.integers(0, 0x7F))
def test_three_phase_config_round_trip(name: str, fitted: int) -> None:
    encoded = records.encode_three_phase_config(name, fitted)
    assert len(encoded) == 4 and records.decode_three_phase_config(encoded) == name


def test_three_phase_config_as_the_deployed_client_reads_it() -> None:
    """Bit 7 of the first byte is the meter type: 0x80 whole current, 0 CT operated."""
    assert records.decode_three_phase_config(bytes.fromhex("80000000")) == "P1.ax"
    assert records.decode_three_phase_config(bytes.fromhex("81000000")) == "P1.ax"
    assert records.decode_three_phase_config(bytes.fromhex("7f000000")) == "P1.cx"


def test_profile_status_bits_as_on_the_wire() -> None:
    """`00 80` is valid data, `01 00` a reset (u2 little-endian 0x8000 and 0x0001)."""
    record = records.ProfileLog1Record(records.EMOP_EPOCH, records.STATUS_VALID | records.STATUS_RESET, 5, 6)
    encoded = records.encode_profile_log_1([record])
    assert encoded[4:6] == bytes.fromhex("0180")
    assert records.decode_profile_log_1(encoded) == [record]


def test_firmware_of_every_kind_is_formatted_alike() -> None:
    assert records.decode_firmware(b"3032") == "3_03_2"
    assert records.decode_firmware(b"1105") == "1_10_5"
    assert records.decode_firmware(bytes.fromhex("01a3ff00")) == "01A3FF00"  # not ASCII: hex


@given(hs.text(alphabet="0123456789", min_size=4, max_size=4))
def test_firmware_round_trip(digits: str) -> None:
    version = f"{digits[0]}_{digits[1:3]}_{digits[3]}"
    assert records.decode_firmware(records.encode_firmware(version)) == version


@given(hs.booleans(), u4)
def test_flag_and_u4_round_trip(flag: bool, number: int) -> None:
    assert records.decode_flag(records.encode_flag(flag)) is flag
    assert records.decode_u4(records.encode_u4(number)) == number


@given(hs.tuples(*[u2] * 7), hs.frozensets(hs.integers(1, 8)))
def test_thresholds_round_trip(values: tuple[int, ...], rates: frozenset[int]) -> None:
    assert records.decode_threshold_values(records.encode_threshold_values(values)) == values
    assert records.decode_threshold_mask(records.encode_threshold_mask(rates)) == rates


@given(hs.lists(frames, min_size=1, max_size=5), hs.lists(hs.integers(0, 600), max_size=8))
def test_frames_split_anywhere_come_out_whole_and_in_order(sent: list[Frame], cuts: list[int]) -> None:
    stream = b"".join(frame.encode() for frame in sent)
    splitter, received = FrameSplitter(), []
    bounds = sorted({min(cut, len(stream)) for cut in cuts} | {0, len(stream)})
    for start, end in itertools.pairwise(bounds):
        splitter.feed(stream[start:end])
        while (raw := splitter.next_frame()) is not None:
            received.append(decode_frame(raw))
    assert received == sent and len(splitter) == 0


@given(hs.integers(0, 255), hs.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2100, 1, 1),
                                         timezones=hs.just(UTC)).map(lambda d: d.replace(microsecond=0)))
def test_three_phase_interval_request_round_trip(profile: int, start: datetime) -> None:
    request = records.ThreePhaseIntervalRequest(profile, start, start + timedelta(hours=2))
    encoded = request.encode()
    assert encoded[9:] == b"\xff" * 4 and records.ThreePhaseIntervalRequest.decode(encoded) == request


@given(hs.lists(hs.tuples(hs.sampled_from([records.INTERVAL_VALID, records.INTERVAL_POWER_FAIL]),
                          hs.tuples(u4, u4)), max_size=12),
       hs.integers(0, 127), hs.booleans())
def test_three_phase_interval_block_round_trip(intervals: list[tuple[int, tuple[int, int]]],
                                               number: int, last: bool) -> None:
    block = records.ThreePhaseIntervalBlock(datetime(2026, 11, 20, 6, tzinfo=UTC), 30, (0x010800, 0x020800),
                                            tuple(intervals), number, last)
    encoded = block.encode()
    assert encoded[1] == 0x80  # one frame per block, the last
    assert records.ThreePhaseIntervalBlock.decode(encoded) == block


@given(hs.integers(0, 65535))
def test_power_and_u2_round_trip(watts: int) -> None:
    assert records.decode_u2(records.encode_u2(watts)) == watts
    assert records.decode_power(records.encode_u2(watts)) * 1000 == watts
