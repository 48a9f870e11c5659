"""What a virtual meter answers to one EMOP request frame (the protocol side, without sockets)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from flows.emop import records
from flows.emop.errors import FrameFormatError
from flows.emop.frame import ANY_METER, MAX_DATA, Address, Frame
from flows.emop.messages import READ, WRITE, Format, ObjectId
from flows.meterdata import Hardware
from flows.meters.model import VirtualMeter

NAK_FORMAT, NAK_LENGTH, NAK_UNKNOWN_OBJECT, NAK_READ_ONLY, NAK_ADDRESS = 2, 3, 5, 6, 7

# A reader gives the object's value bytes, or None when this meter has no such object.
Reader = Callable[[VirtualMeter, datetime], bytes | None]
TOKEN_VALUE = Decimal("10.00")  # what any valid-looking token adds in the simulation


def _money(amount: str) -> Reader:
    value = records.encode_money(Decimal(amount))
    return lambda meter, now: value


def _three_phase_total(meter: VirtualMeter, now: datetime, which: int, divisor: int = 1) -> bytes:
    """Wh (whole current), tenths of a Wh (CT operated, `P1.cx`): a 32-bit counter that rolls
    over. ``divisor`` scales the active register down for the reactive and apparent totals."""
    scale = Hardware(meter.hardware).register_scale
    return records.encode_u4(meter.registers(now)[which] // divisor * scale % 2**32)


def _three_phase_only(read: Reader) -> Reader:
    """Objects only three-phase meters have; single-phase ones answer NAK 5 (see `respond`)."""
    def reader(meter: VirtualMeter, now: datetime) -> bytes | None:
        return read(meter, now) if meter.three_phase else None
    return reader


def _flag(name: str) -> Reader:
    return lambda meter, now: records.encode_flag(bool(getattr(meter, name)))


READERS: dict[int, Reader] = {
    ObjectId.ELEMENT_A: lambda m, now: m.element_a(now).encode(),
    ObjectId.ELEMENT_B: lambda m, now: m.element_b(now).encode(),
    ObjectId.PREPAY_BALANCE: lambda m, now: records.encode_balance(m.balance(now)),
    ObjectId.CSQ_NET_OP: lambda m, now: m.signal_quality(now).encode(),
    ObjectId.TIME: lambda m, now: records.encode_clock(m.clock(now)),
    ObjectId.HARDWARE_VERSION: lambda m, now: records.encode_hardware(m.hardware_code),
    ObjectId.THREE_PHASE_CONFIGURATION: _three_phase_only(
        lambda m, now: records.encode_three_phase_config(m.hardware)),
    ObjectId.FIRMWARE_VERSION: lambda m, now: m.firmware,
    ObjectId.SERIAL: lambda m, now: records.encode_serial(m.serial),
    ObjectId.INSTANTANEOUS_VOLTAGE: lambda m, now: m.voltage_dv(now).to_bytes(2, "little"),
    ObjectId.THREE_PHASE_VOLTAGE_L1: lambda m, now: m.voltage_dv(now, 1).to_bytes(2, "little"),
    ObjectId.THREE_PHASE_VOLTAGE_L2: lambda m, now: m.voltage_dv(now, 2).to_bytes(2, "little"),
    ObjectId.THREE_PHASE_VOLTAGE_L3: lambda m, now: m.voltage_dv(now, 3).to_bytes(2, "little"),
    ObjectId.THREE_PHASE_TOTAL_ACTIVE_IMPORT: lambda m, now: _three_phase_total(m, now, 0),
    ObjectId.THREE_PHASE_TOTAL_ACTIVE_EXPORT: lambda m, now: _three_phase_total(m, now, 1),
    ObjectId.THREE_PHASE_TOTAL_REACTIVE_IMPORT: _three_phase_only(
        lambda m, now: _three_phase_total(m, now, 0, 20)),
    ObjectId.THREE_PHASE_TOTAL_REACTIVE_EXPORT: _three_phase_only(
        lambda m, now: _three_phase_total(m, now, 1, 40)),
    ObjectId.THREE_PHASE_TOTAL_APPARENT_IMPORT: _three_phase_only(
        lambda m, now: _three_phase_total(m, now, 0)),
    ObjectId.THREE_PHASE_TOTAL_APPARENT_EXPORT: _three_phase_only(
        lambda m, now: _three_phase_total(m, now, 1)),
    ObjectId.THREE_PHASE_SERIAL: _three_phase_only(lambda m, now: records.encode_serial(m.serial)),
    ObjectId.INSTANTANEOUS_ACTIVE_POWER: lambda m, now: records.encode_u2(
        m.active_power_w(now, "A") + m.active_power_w(now, "B")),
    ObjectId.ELEMENT_A_ACTIVE_POWER: lambda m, now: records.encode_u2(m.active_power_w(now, "A")),
    ObjectId.ELEMENT_B_ACTIVE_POWER: lambda m, now: records.encode_u2(m.active_power_w(now, "B")),
    ObjectId.BACKLIGHT: lambda m, now: bytes((m.backlight,)),
    ObjectId.LOAD_SWITCH: lambda m, now: bytes((m.load_switch,)),
    ObjectId.DAYLIGHT_SAVINGS_CORRECTION_FLAG: _flag("daylight_savings_correction"),
    ObjectId.NO_DEBT_RECOVERY_IN_EMERGENCY_CREDIT_FLAG: _flag("no_debt_recovery_in_emergency_credit"),
    ObjectId.NO_STANDING_CHARGE_IN_POWER_FAIL_FLAG: _flag("no_standing_charge_in_power_fail"),
    ObjectId.TRANSACTION_COUNT: lambda m, now: records.encode_u2(m.transaction_count(now)),
    ObjectId.TARIFF_ACTIVE_PRICE: lambda m, now: records.encode_money(m.unit_rate),
    ObjectId.TARIFF_ACTIVE_TOU_RATE: lambda m, now: bytes((0,)),
    ObjectId.TARIFF_ACTIVE_BLOCK_RATE: lambda m, now: bytes((1,)),
    ObjectId.TARIFF_ACTIVE_ELEMENT_B_PRICE: lambda m, now: records.encode_money(m.unit_rate),
    ObjectId.TARIFF_ACTIVE_ELEMENT_B_TOU_RATE: lambda m, now: bytes((1,)),
    ObjectId.TARIFF_FUTURE_THRESHOLD_MASK: lambda m, now: records.encode_threshold_mask(frozenset()),
    ObjectId.TARIFF_FUTURE_THRESHOLD_VALUES: lambda m, now: records.encode_threshold_values((0,) * 7),
    ObjectId.TIME_SWITCHES_ELEMENT_A: lambda m, now: bytes(records.TIME_SWITCHES_SIZE),
    ObjectId.TIME_SWITCHES_ELEMENT_B: lambda m, now: bytes(records.TIME_SWITCHES_SIZE),
    ObjectId.PREPAY_ENABLED_FLAG: _flag("prepay_enabled"),
    ObjectId.TARIFF_ACTIVE_STANDING_CHARGE: lambda m, now: records.encode_money(m.standing_charge),
    ObjectId.TARIFF_ACTIVE_THRESHOLD_MASK: lambda m, now: records.encode_threshold_mask(frozenset()),
    ObjectId.TARIFF_ACTIVE_THRESHOLD_VALUES: lambda m, now: records.encode_threshold_values((0,) * 7),
    ObjectId.TARIFF_ACTIVE_BLOCK_8_RATE_1: lambda m, now: records.encode_money(m.unit_rate),
    ObjectId.TARIFF_ACTIVE_EMERGENCY_CREDIT: _money("5.00"),
    ObjectId.TARIFF_ACTIVE_ECREDIT_AVAILABILITY: _money("2.50"),
    ObjectId.TARIFF_ACTIVE_DEBT_RECOVERY_RATE: _money("0.50"),
    ObjectId.TARIFF_FUTURE_STANDING_CHARGE: lambda m, now: records.encode_money(m.standing_charge),
    ObjectId.TARIFF_FUTURE_ACTIVATION_DATETIME: lambda m, now: records.encode_timestamp(
        m.installed.replace(year=m.installed.year + 2)),
    ObjectId.TARIFF_FUTURE_BLOCK_8_RATE_1: lambda m, now: records.encode_money(m.unit_rate),
    ObjectId.TARIFF_FUTURE_ELEMENT_B_TOU_RATE_1: lambda m, now: records.encode_money(m.unit_rate),
    ObjectId.TARIFF_FUTURE_EMERGENCY_CREDIT: _money("5.00"),
    ObjectId.TARIFF_FUTURE_ECREDIT_AVAILABILITY: _money("2.50"),
    ObjectId.TARIFF_FUTURE_DEBT_RECOVERY_RATE: _money("0.50"),
}
for _rate in range(1, 9):  # element B time-of-use rates and the block pricing matrices
    READERS[0xFFF700 + _rate] = lambda m, now: records.encode_money(m.unit_rate)
    for _block in range(1, 9):
        READERS[0xFFF900 + (_block - 1) * 8 + _rate] = lambda m, now: records.encode_money(m.unit_rate)
        READERS[0xFFF800 + (_block - 1) * 8 + _rate] = lambda m, now: records.encode_money(m.unit_rate)


# One-byte settings a write may change, by object: the meter attribute that holds each.
_SETTINGS: dict[int, tuple[str, Callable[[int], object]]] = {
    ObjectId.PREPAY_ENABLED_FLAG: ("prepay_enabled", lambda byte: byte == 1),
    ObjectId.BACKLIGHT: ("backlight", int),
    ObjectId.LOAD_SWITCH: ("load_switch", int),
    ObjectId.DAYLIGHT_SAVINGS_CORRECTION_FLAG: ("daylight_savings_correction", lambda byte: byte == 1),
}


# The future tariff and the time switches a supplier writes (all the deployed client's
# tariffs_future_write and time-switch writes send), by object: the payload's length.
TARIFF_WRITES: dict[int, int] = {
    ObjectId.TARIFF_FUTURE_THRESHOLD_MASK: 1,
    ObjectId.TARIFF_FUTURE_THRESHOLD_VALUES: 2 * records.THRESHOLDS,
    ObjectId.TARIFF_FUTURE_FFFF4F: 1,
    ObjectId.TARIFF_FUTURE_BLOCK_8_RATE_1: 4,
    ObjectId.TARIFF_FUTURE_ELEMENT_B_TOU_RATE_1: 4,
    ObjectId.TARIFF_FUTURE_EMERGENCY_CREDIT: 4,
    ObjectId.TARIFF_FUTURE_ECREDIT_AVAILABILITY: 4,
    ObjectId.TARIFF_FUTURE_DEBT_RECOVERY_RATE: 4,
    ObjectId.TARIFF_FUTURE_FFC965: 4,
    ObjectId.TARIFF_FUTURE_STANDING_CHARGE: 4,
    ObjectId.TARIFF_FUTURE_ACTIVATION_DATETIME: 4,
    ObjectId.TIME_SWITCHES_ELEMENT_A: records.TIME_SWITCHES_SIZE,
    ObjectId.TIME_SWITCHES_ELEMENT_B: records.TIME_SWITCHES_SIZE,
}


def _write_tariff(meter: VirtualMeter, object_id: int, payload: bytes, now: datetime) -> int:
    """The meter's own checks: prepayment tariffs only (not three-phase meters), element B's
    time switches only on a twin-element meter, each object's length, an activation time
    still to come by the meter's clock."""
    if meter.three_phase or (object_id == ObjectId.TIME_SWITCHES_ELEMENT_B
                             and not meter.twin_element):
        return NAK_UNKNOWN_OBJECT
    if len(payload) != TARIFF_WRITES[object_id]:
        return NAK_LENGTH
    if (object_id == ObjectId.TARIFF_FUTURE_ACTIVATION_DATETIME
            and records.decode_timestamp(payload) <= meter.clock(now)):
        return NAK_FORMAT
    meter.written[object_id] = payload
    return 0


def _written_or(object_id: int, default: Reader) -> Reader:
    """What was last written to the object, else ``default``."""
    return lambda meter, now: meter.written.get(object_id) or default(meter, now)


def _zeros(size: int) -> Reader:
    return lambda meter, now: bytes(size)


for _object_id, _size in TARIFF_WRITES.items():
    READERS[_object_id] = _written_or(_object_id, READERS.get(_object_id, _zeros(_size)))


def _write(meter: VirtualMeter, object_id: int, payload: bytes, now: datetime) -> int:
    """Apply a write; the NAK code, 0 when accepted."""
    if object_id in TARIFF_WRITES:
        return _write_tariff(meter, object_id, payload, now)
    if object_id in _SETTINGS and len(payload) == 1:
        name, convert = _SETTINGS[object_id]
        setattr(meter, name, convert(payload[0]))
        return 0
    if object_id == ObjectId.TIME and len(payload) == 7:
        try:
            meter.set_clock(records.decode_clock(payload), now)
        except FrameFormatError:
            return NAK_FORMAT
        return 0
    if object_id == ObjectId.TOKEN_TOP_UP:
        if len(payload) != 20 or not payload.isdigit():
            return NAK_FORMAT
        meter.top_up(TOKEN_VALUE)
        return 0
    if object_id in READERS:
        return NAK_READ_ONLY
    return NAK_UNKNOWN_OBJECT


INTERVAL_CHANNELS = (ObjectId.THREE_PHASE_TOTAL_ACTIVE_IMPORT, ObjectId.THREE_PHASE_TOTAL_ACTIVE_EXPORT)
# Intervals that fit in one frame: format byte, frame header, block head, channel ids, records.
INTERVALS_PER_FRAME = (MAX_DATA - 1 - 2 - 6 - 3 * len(INTERVAL_CHANNELS)) // (2 + 4 * len(INTERVAL_CHANNELS))


def _interval_block(meter: VirtualMeter, asked: records.ThreePhaseIntervalRequest,
                    now: datetime) -> records.ThreePhaseIntervalBlock:
    """One frame of the interval profile (the totals at each half-hour boundary, in the units
    of the registers 010800 / 020800: tenths of a Wh on a CT-operated meter); a longer range is
    cut at what fits, as a profile-log reply covers two hours."""
    first, values = meter.three_phase_intervals(asked.start, asked.end, now, INTERVALS_PER_FRAME)
    scale = Hardware(meter.hardware).register_scale
    intervals = tuple((records.INTERVAL_VALID, (imported * scale % 2**32, exported * scale % 2**32))
                      for imported, exported in values)
    return records.ThreePhaseIntervalBlock(first, 30, tuple(INTERVAL_CHANNELS), intervals)


def respond(meter: VirtualMeter, request: Frame, now: datetime) -> Frame:
    """The meter's reply: addresses swapped, same sequence; a NAK echoes ``01 oid rw``."""
    own = Address(0x00, meter.address)
    data = request.data

    def nak(code: int) -> Frame:
        return Frame(request.source, own, request.sequence, code, data[:5])

    if request.destination not in (ANY_METER, own):
        return nak(NAK_ADDRESS)
    if not data:
        return nak(NAK_FORMAT)
    if meter.faults.nak_code is not None:
        return nak(meter.faults.nak_code)
    kind = data[0]
    if kind == Format.OBJECT:
        if len(data) < 5 or data[4] not in (READ, WRITE):
            return nak(NAK_LENGTH)
        object_id = int.from_bytes(data[1:4], "big")
        if data[4] == WRITE:
            code = _write(meter, object_id, data[5:], now)
            return nak(code) if code else Frame(request.source, own, request.sequence, 0, data[:5])
        if len(data) != 5:
            return nak(NAK_LENGTH)
        read = READERS.get(object_id)
        value = read(meter, now) if read is not None else None
        if value is None:
            return nak(NAK_UNKNOWN_OBJECT)
        return Frame(request.source, own, request.sequence, 0, data[:5] + value)
    if kind in (Format.PROFILE_LOG_1, Format.PROFILE_LOG_2):
        if len(data) != 5:
            return nak(NAK_LENGTH)
        since = records.from_emop_seconds(int.from_bytes(data[1:5], "big"))
        if kind == Format.PROFILE_LOG_1:
            body = records.encode_profile_log_1(meter.profile_log_1(since, now))
        else:
            body = records.encode_profile_log_2(meter.profile_log_2(since, now), meter.twin_element)
        return Frame(request.source, own, request.sequence, 0, data[:5] + body)
    if kind == Format.THREE_PHASE_INTERVALS:
        if not meter.three_phase:
            return nak(NAK_FORMAT)
        try:
            asked = records.ThreePhaseIntervalRequest.decode(data[1:])
        except FrameFormatError:
            return nak(NAK_FORMAT)
        return Frame(request.source, own, request.sequence, 0,
                     data[:1] + _interval_block(meter, asked, now).encode())
    if kind == Format.EVENT_LOG:
        if len(data) != 5 or data[1:4] != ObjectId.EVENT_LOG.to_bytes(3, "big") or data[4] > 9:
            return nak(NAK_FORMAT)
        body = records.encode_events(meter.event_page(data[4], now))
        return Frame(request.source, own, request.sequence, 0, data[:4] + b"\x00" + body)
    return nak(NAK_FORMAT)
