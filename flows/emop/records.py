"""Typed values of the EMOP objects, with their byte encodings (both directions: the client
decodes what meters send; the simulated meters encode it).

Multi-byte values are little-endian except where noted in the spec. Money is in units of
1/100000 GBP, energy in Wh, voltage in deci-volts on the wire.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from flows.emop.errors import FrameFormatError
from flows.meterdata import UNKNOWN_SINGLE_PHASE, Hardware

EMOP_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
MONEY_SCALE = Decimal(100000)


def _expect(value: bytes, size: int, what: str) -> None:
    if len(value) != size:
        raise FrameFormatError(f"{what} needs {size} bytes, got {len(value)}: {value.hex()}")


# Time -----------------------------------------------------------------------------------


def emop_seconds(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("EMOP times are UTC: give a timezone-aware datetime")
    seconds = (moment - EMOP_EPOCH) // timedelta(seconds=1)
    if not 0 <= seconds <= 0xFFFFFFFF:
        raise ValueError(f"{moment} is outside the EMOP time range")
    return int(seconds)


def from_emop_seconds(seconds: int) -> datetime:
    return EMOP_EPOCH + timedelta(seconds=seconds)


def encode_timestamp(moment: datetime) -> bytes:
    """u4le EMOP seconds (writes, event log, tariff activation)."""
    return emop_seconds(moment).to_bytes(4, "little")


def decode_timestamp(value: bytes) -> datetime:
    _expect(value, 4, "timestamp")
    return from_emop_seconds(int.from_bytes(value, "little"))


def encode_clock(moment: datetime) -> bytes:
    """7 bytes: year-2000, month, day, hour, minute, second, weekday (0 = Sunday); UTC."""
    utc = moment.astimezone(UTC)
    if not 2000 <= utc.year <= 2255:
        raise ValueError(f"{moment} cannot be set on a meter clock")
    weekday = (utc.weekday() + 1) % 7
    return bytes((utc.year - 2000, utc.month, utc.day, utc.hour, utc.minute, utc.second, weekday))


def decode_clock(value: bytes) -> datetime:
    _expect(value, 7, "clock")
    year, month, day, hour, minute, second, _ = value
    try:
        return datetime(2000 + year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as error:
        raise FrameFormatError(f"clock bytes {value.hex()} are not a date: {error}") from None


# Registers and instantaneous values ---------------------------------------------------------


@dataclass(frozen=True)
class ElementRegisters:
    """Cumulative registers of one element: Wh and VArh."""

    import_active: int
    export_active: int
    import_reactive: int
    export_reactive: int

    def encode(self) -> bytes:
        return struct.pack("<4I", self.import_active, self.export_active, self.import_reactive,
                           self.export_reactive)

    @classmethod
    def decode(cls, value: bytes) -> ElementRegisters:
        _expect(value, 16, "element registers")
        return cls(*struct.unpack("<4I", value))


def encode_money(amount: Decimal, signed: bool = False) -> bytes:
    units = amount * MONEY_SCALE
    if units != units.to_integral_value():
        raise ValueError(f"{amount} GBP has more than 5 decimal places")
    return int(units).to_bytes(4, "little", signed=signed)


def decode_money(value: bytes, signed: bool = False) -> Decimal:
    _expect(value, 4, "money")
    return Decimal(int.from_bytes(value, "little", signed=signed)) / MONEY_SCALE


def encode_balance(amount: Decimal) -> bytes:
    return encode_money(amount, signed=True)


def decode_balance(value: bytes) -> Decimal:
    """Prepay balance in GBP (signed: negative when in debt)."""
    return decode_money(value, signed=True)


@dataclass(frozen=True)
class SignalQuality:
    csq: int  # 0-31
    network_operator: int  # 0-7

    def encode(self) -> bytes:
        return bytes((self.csq & 0x1F | (self.network_operator & 0x07) << 5,))

    @classmethod
    def decode(cls, value: bytes) -> SignalQuality:
        _expect(value, 1, "CSQ")
        return cls(value[0] & 0x1F, value[0] >> 5)


def encode_voltage(volts: Decimal) -> bytes:
    return int(volts * 10).to_bytes(2, "little")


def decode_voltage(value: bytes) -> Decimal:
    _expect(value, 2, "voltage")
    return Decimal(int.from_bytes(value, "little")) / 10


def encode_u4(number: int) -> bytes:
    return number.to_bytes(4, "little")


def decode_u4(value: bytes) -> int:
    _expect(value, 4, "u4")
    return int.from_bytes(value, "little")


def encode_u2(number: int) -> bytes:
    return (number % 2**16).to_bytes(2, "little")


def decode_u2(value: bytes) -> int:
    _expect(value, 2, "u2 value")
    return int.from_bytes(value, "little")


def decode_u1(value: bytes) -> int:
    _expect(value, 1, "u1 value")
    return value[0]


def decode_power(value: bytes) -> Decimal:
    """Instantaneous active power in kW (the wire holds watts)."""
    return Decimal(decode_u2(value)) / 1000


def describe_backlight(code: int, three_phase: bool = False) -> str:
    """Object FFFF10 (u1): how the display's backlight behaves, by the names the deployed
    collector stores (0 means "normal" on a single-phase meter, "always off" on a three-phase
    one); a code it has no name for (and stores nothing for) as ``code_N``."""
    if code == 0:
        return "always_off_3p" if three_phase else "normal_sp"
    named = {102: "always_off_sp", 119: "always_on_sp", 255: "always_on_3p"}
    if code in named:
        return named[code]
    return f"n{code}_seconds_turn_off_3p" if 1 <= code <= 30 else f"code_{code}"


def describe_load_switch(code: int) -> str:
    """Object FFFF11 (u1): when the supply switch needs the button pressed."""
    named = {0: "normal_button_always", 102: "no_button_prepay_mode",
             119: "no_button_credit_mode", 136: "never_button_required"}
    return named.get(code, f"code_{code}")


TIME_SWITCHES_SIZE = 80  # objects 0D0000 / 0D00FF: the tariff time-switch table, as stored


def decode_time_switches(value: bytes) -> bytes:
    _expect(value, TIME_SWITCHES_SIZE, "tariff time switches")
    return value


def encode_flag(flag: bool) -> bytes:
    return bytes((int(flag),))


def decode_flag(value: bytes) -> bool:
    _expect(value, 1, "flag")
    return value[0] == 1


# Identity ---------------------------------------------------------------------------------

HARDWARE = {"6C": Hardware.C1_W.value, "6Cw": Hardware.C1_W.value, "6Bw": Hardware.B1_W.value,
            "3Aw": Hardware.EMA1_W.value}
THREE_PHASE_CONFIG = {0: Hardware.P1_CX.value, 1: Hardware.P1_AX.value}


def decode_ascii(value: bytes) -> str:
    try:
        return value.decode("ascii")
    except UnicodeDecodeError:
        raise FrameFormatError(f"not ASCII: {value.hex()}") from None


HARDWARE_SIZE = 4  # bytes of object 608000, as real meters send it


def decode_hardware(value: bytes) -> str:
    """The single-phase hardware name (`C1.w`, `B1.w`, `EMA1.w`) of a code (`6Cw`, ...), as
    the deployed client maps it: any other value (all zero on three-phase meters, `1` on some
    real ones) is `SINGLE_PHASE_UNKNOWN`. Three-phase meters say what they are in object
    000503 (see `decode_three_phase_config`)."""
    raw = value.decode("ascii", errors="replace").rstrip("\x00 ")
    return HARDWARE.get(raw, UNKNOWN_SINGLE_PHASE)


def encode_hardware(raw: str, size: int = HARDWARE_SIZE) -> bytes:
    return raw.encode("ascii").ljust(size, b"\x00")


# Object 000503 (4 bytes): bit 7 of byte 0 is the meter type (1 whole current "ax", 0 CT
# operated "cx"); bits 6..0 say what is fitted (middle output terminals, disconnect switch,
# GSM, real-time clock, magnetic detection, terminal cover and top cover tamper switches);
# bytes 1..3 are unused.
THREE_PHASE_CONFIG_SIZE = 4
WHOLE_CURRENT_BIT = 0x80


def encode_three_phase_config(name: str, fitted: int = 0) -> bytes:
    if name not in (Hardware.P1_AX, Hardware.P1_CX):
        raise ValueError(f"three-phase configuration is P1.ax or P1.cx, not {name!r}")
    meter_type = WHOLE_CURRENT_BIT if name == Hardware.P1_AX else 0
    return bytes((meter_type | (fitted & 0x7F), 0, 0, 0))


def decode_three_phase_config(value: bytes) -> str:
    """`P1.ax` (whole current) or `P1.cx` (CT operated)."""
    _expect(value, THREE_PHASE_CONFIG_SIZE, "three-phase configuration")
    return (Hardware.P1_AX if value[0] & WHOLE_CURRENT_BIT else Hardware.P1_CX).value


def encode_firmware(version: str) -> bytes:
    """`3_03_2` → `"3032"`: four ASCII characters."""
    raw = version.replace("_", "")
    if len(raw) != 4 or not raw.isascii():
        raise ValueError(f"a firmware version is four ASCII characters, not {version!r}")
    return raw.encode("ascii")


def decode_firmware(value: bytes) -> str:
    """`"3032"` → `3_03_2`: the first character, the next two, the fourth (as the deployed
    client formats every meter's version); bytes that are not ASCII as hex."""
    _expect(value, 4, "firmware version")
    if not all(0x20 <= byte < 0x7F for byte in value):
        return value.hex().upper()
    text = value.decode("ascii")
    return f"{text[0]}_{text[1:3]}_{text[3]}"


def decode_serial(value: bytes) -> str:
    return decode_ascii(value).strip(" \x00")


def encode_serial(serial: str, size: int = 16) -> bytes:
    return serial.encode("ascii").ljust(size, b" ")


def encode_token(token: str) -> bytes:
    """A prepayment top-up token (write to FFC803): 20 ASCII digits."""
    if len(token) != 20 or not token.isdigit():
        raise ValueError(f"a top-up token is 20 digits, got {token!r}")
    return token.encode("ascii")


# Tariff thresholds ----------------------------------------------------------------------

THRESHOLDS = 7


def encode_threshold_values(values: tuple[int, ...]) -> bytes:
    if len(values) != THRESHOLDS:
        raise ValueError(f"a tariff has {THRESHOLDS} threshold values")
    return struct.pack(f"<{THRESHOLDS}H", *values)


def decode_threshold_values(value: bytes) -> tuple[int, ...]:
    """The block thresholds of the active tariff (kWh), object FFFF1E."""
    _expect(value, 2 * THRESHOLDS, "threshold values")
    return struct.unpack(f"<{THRESHOLDS}H", value)


def decode_threshold_mask(value: bytes) -> frozenset[int]:
    """Which rates (1..8) have a threshold, object FFFF20: one bit per rate."""
    _expect(value, 1, "threshold mask")
    return frozenset(bit + 1 for bit in range(8) if value[0] >> bit & 1)


def encode_threshold_mask(rates: frozenset[int]) -> bytes:
    return bytes((sum(1 << (rate - 1) for rate in rates),))


# Logs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    timestamp: datetime
    event_id: int
    event_set: int


EVENTS_PER_PAGE = 10
_EVENT = struct.Struct("<IBB")


def encode_events(events: list[Event]) -> bytes:
    if len(events) != EVENTS_PER_PAGE:
        raise ValueError(f"an event log page holds {EVENTS_PER_PAGE} events")
    return b"".join(_EVENT.pack(emop_seconds(e.timestamp), e.event_id, e.event_set) for e in events)


def decode_events(value: bytes) -> list[Event]:
    _expect(value, EVENTS_PER_PAGE * _EVENT.size, "event log page")
    return [Event(from_emop_seconds(ts), event_id, event_set)
            for ts, event_id, event_set in _EVENT.iter_unpack(value)]


# Profile-log status (u2 little-endian): bytes `00 80` are valid data, `01 00` a reset.
STATUS_VALID = 0x8000
STATUS_POWER_FAIL = 0x4000
STATUS_MINOR_TIME_ERROR = 0x2000
STATUS_MAJOR_TIME_ERROR = 0x1000
STATUS_COMMS_ERROR = 0x0800
STATUS_RESET = 0x0001
PROFILE_LOG_1_RECORDS = 4  # one reply covers two hours; the deployed parser needs all four


@dataclass(frozen=True)
class ProfileLog1Record:
    """One half hour of profile log 1: cumulative import Wh of elements A and B."""

    timestamp: datetime
    status: int
    import_a: int
    import_b: int


_PL1 = struct.Struct("<IHII")


def encode_profile_log_1(records: list[ProfileLog1Record]) -> bytes:
    return b"".join(_PL1.pack(emop_seconds(r.timestamp), r.status, r.import_a, r.import_b)
                    for r in records)


def decode_profile_log_1(value: bytes) -> list[ProfileLog1Record]:
    if len(value) % _PL1.size:
        raise FrameFormatError(f"profile log 1 records are {_PL1.size} bytes each, got "
                               f"{len(value)} bytes")
    return [ProfileLog1Record(from_emop_seconds(ts), status, a, b)
            for ts, status, a, b in _PL1.iter_unpack(value)]


@dataclass(frozen=True)
class ProfileLog2Record:
    """One half hour of profile log 2; the `_b` values only on twin-element meters."""

    timestamp: datetime
    status: int
    active_export_a: int
    reactive_import_a: int
    reactive_export_a: int
    voltage: int  # deci-volts as on the wire
    active_export_b: int | None = None
    reactive_import_b: int | None = None
    reactive_export_b: int | None = None


_PL2_SINGLE = struct.Struct("<IHIIII")
_PL2_TWIN = struct.Struct("<IHIIIIIII")


def encode_profile_log_2(records: list[ProfileLog2Record], twin: bool) -> bytes:
    out = []
    for r in records:
        head = (emop_seconds(r.timestamp), r.status, r.active_export_a, r.reactive_import_a,
                r.reactive_export_a, r.voltage)
        if twin:
            out.append(_PL2_TWIN.pack(*head, r.active_export_b or 0, r.reactive_import_b or 0,
                                      r.reactive_export_b or 0))
        else:
            out.append(_PL2_SINGLE.pack(*head))
    return b"".join(out)


def decode_profile_log_2(value: bytes, twin: bool) -> list[ProfileLog2Record]:
    layout = _PL2_TWIN if twin else _PL2_SINGLE
    if len(value) % layout.size:
        raise FrameFormatError(f"profile log 2 records are {layout.size} bytes each "
                               f"({'twin' if twin else 'single'} element), got {len(value)}")
    return [ProfileLog2Record(from_emop_seconds(fields[0]), *fields[1:])
            for fields in layout.iter_unpack(value)]


# Three-phase interval profile (format 0x14) ------------------------------------------------
#
# Request: `14`, profile number u1, start and end u4 big-endian EMOP seconds, `FF FF FF FF`.
# Reply: `14`, a frame header (byte 0: bit 7 last block, bits 6..0 block number; byte 1: bit 7
# last frame, bits 6..0 frame number) and the block's bytes: start u4 EMOP seconds, interval
# length u1 (minutes), channel count u1, each channel's object id (3 bytes, e.g. 010800 total
# active import), then per interval a status u2 (byte 0: bit 7..5 phase 1..3 voltage failure,
# bit 4 security access, bit 3 MD reset, bit 2 time update, bit 0 log reset; byte 1: bit 7
# valid data, bit 6 power fail) and one u4 per channel: the channel's cumulative value at the
# start of each interval, in the units of the channel's register (for the energy totals Wh on
# a whole-current meter, tenths of a Wh on a CT-operated one: `Hardware.register_scale`).

INTERVAL_VALID = 0x8000  # the status as u2 little-endian: byte 1, bit 7
INTERVAL_POWER_FAIL = 0x4000
_INTERVAL_REQUEST = struct.Struct(">BII4s")
_BLOCK_HEAD = struct.Struct("<IBB")


@dataclass(frozen=True)
class ThreePhaseIntervalRequest:
    profile: int
    start: datetime
    end: datetime

    def encode(self) -> bytes:
        return _INTERVAL_REQUEST.pack(self.profile, emop_seconds(self.start), emop_seconds(self.end),
                                      b"\xff" * 4)

    @classmethod
    def decode(cls, value: bytes) -> ThreePhaseIntervalRequest:
        _expect(value, _INTERVAL_REQUEST.size, "three-phase interval request")
        profile, start, end, _ = _INTERVAL_REQUEST.unpack(value)
        return cls(profile, from_emop_seconds(start), from_emop_seconds(end))


@dataclass(frozen=True)
class ThreePhaseIntervalBlock:
    """One block of the three-phase interval profile, sent in one frame."""

    start: datetime
    interval_minutes: int
    channels: tuple[int, ...]  # object ids
    intervals: tuple[tuple[int, tuple[int, ...]], ...]  # (status, one value per channel)
    number: int = 0
    last: bool = True

    def encode(self) -> bytes:
        head = bytes((self.number | (0x80 if self.last else 0), 0x80))  # one frame per block
        channels = b"".join(channel.to_bytes(3, "big") for channel in self.channels)
        body = b"".join(struct.pack(f"<H{len(self.channels)}I", status, *values)
                        for status, values in self.intervals)
        return (head + _BLOCK_HEAD.pack(emop_seconds(self.start), self.interval_minutes,
                                        len(self.channels)) + channels + body)

    @classmethod
    def decode(cls, value: bytes) -> ThreePhaseIntervalBlock:
        if len(value) < 2 + _BLOCK_HEAD.size:
            raise FrameFormatError(f"three-phase interval block too short: {value.hex()}")
        start, minutes, count = _BLOCK_HEAD.unpack_from(value, 2)
        offset = 2 + _BLOCK_HEAD.size
        channels = tuple(int.from_bytes(value[offset + 3 * n: offset + 3 * n + 3], "big")
                         for n in range(count))
        offset += 3 * count
        record = struct.Struct(f"<H{count}I")
        if offset > len(value) or (len(value) - offset) % record.size:
            raise FrameFormatError(f"three-phase interval records are {record.size} bytes each, "
                                   f"got {len(value) - offset}")
        intervals = tuple((fields[0], tuple(fields[1:])) for fields in record.iter_unpack(value[offset:]))
        return cls(from_emop_seconds(start), minutes, channels, intervals, value[0] & 0x7F,
                   bool(value[0] & 0x80))
