"""Data fields of requests and replies: object reads/writes, profile logs and event log pages.

A request is built with `read_request`, `write_request`, `profile_log_request` or
`event_log_request`; a reply is checked against its request with `object_value`,
`profile_log_value` or `event_log_value`, which raise `NakError`, `ObjectIdMismatchError` or
`FrameFormatError` instead of returning the wrong bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from flows.emop.errors import FrameFormatError, NakError, ObjectIdMismatchError
from flows.emop.frame import ANY_METER, REFERENCE_CLIENT, REFERENCE_SEQUENCE, Address, Frame
from flows.emop.records import emop_seconds


class Format(IntEnum):
    OBJECT = 0x01
    PROFILE_LOG_1 = 0x03
    PROFILE_LOG_2 = 0x04
    EVENT_LOG = 0x05
    THREE_PHASE_INTERVALS = 0x14  # see flows.emop.records.ThreePhaseIntervalBlock


READ, WRITE = 0x00, 0x01


class ObjectId(IntEnum):
    ELEMENT_A = 0xFFFFFC
    ELEMENT_B = 0xFFFFF8
    PREPAY_BALANCE = 0xFFC802
    CSQ_NET_OP = 0xFFFD1D
    TIME = 0x800800
    HARDWARE_VERSION = 0x608000
    THREE_PHASE_CONFIGURATION = 0x000503
    FIRMWARE_VERSION = 0x000201
    SERIAL = 0x600100
    INSTANTANEOUS_VOLTAGE = 0x0C0700
    THREE_PHASE_VOLTAGE_L1 = 0x200700
    THREE_PHASE_VOLTAGE_L2 = 0x340700
    THREE_PHASE_VOLTAGE_L3 = 0x480700
    THREE_PHASE_TOTAL_ACTIVE_IMPORT = 0x010800
    THREE_PHASE_TOTAL_ACTIVE_EXPORT = 0x020800
    PREPAY_ENABLED_FLAG = 0xFFFF0D
    TARIFF_ACTIVE_STANDING_CHARGE = 0xFFFF22
    TARIFF_ACTIVE_THRESHOLD_MASK = 0xFFFF20
    TARIFF_ACTIVE_THRESHOLD_VALUES = 0xFFFF1E
    TARIFF_ACTIVE_BLOCK_8_RATE_1 = 0xFFF939
    TARIFF_ACTIVE_EMERGENCY_CREDIT = 0xFFC805
    TARIFF_ACTIVE_ECREDIT_AVAILABILITY = 0xFFC806
    TARIFF_ACTIVE_DEBT_RECOVERY_RATE = 0xFFC807
    TARIFF_FUTURE_STANDING_CHARGE = 0xFFFF23
    TARIFF_FUTURE_ACTIVATION_DATETIME = 0xFFFF24
    TARIFF_FUTURE_BLOCK_8_RATE_1 = 0xFFF839
    TARIFF_FUTURE_ELEMENT_B_TOU_RATE_1 = 0xFFF601
    TARIFF_FUTURE_EMERGENCY_CREDIT = 0xFFC808
    TARIFF_FUTURE_ECREDIT_AVAILABILITY = 0xFFC809
    TARIFF_FUTURE_DEBT_RECOVERY_RATE = 0xFFC80A
    TOKEN_TOP_UP = 0xFFC803
    EVENT_LOG = 0xFFFF49
    # Read by the deployed client too (simt-emlite 1.2.12):
    INSTANTANEOUS_ACTIVE_POWER = 0x010700
    ELEMENT_A_ACTIVE_POWER = 0x150700
    ELEMENT_B_ACTIVE_POWER = 0x290700
    THREE_PHASE_TOTAL_REACTIVE_IMPORT = 0x030800
    THREE_PHASE_TOTAL_REACTIVE_EXPORT = 0x040800
    THREE_PHASE_TOTAL_APPARENT_IMPORT = 0x090800
    THREE_PHASE_TOTAL_APPARENT_EXPORT = 0x100800
    THREE_PHASE_SERIAL = 0xD7FF10
    DAYLIGHT_SAVINGS_CORRECTION_FLAG = 0xFFFF0B
    NO_DEBT_RECOVERY_IN_EMERGENCY_CREDIT_FLAG = 0xFFFF0E
    NO_STANDING_CHARGE_IN_POWER_FAIL_FLAG = 0xFFFF0F
    BACKLIGHT = 0xFFFF10
    LOAD_SWITCH = 0xFFFF11
    TRANSACTION_COUNT = 0xFFC83E
    TARIFF_ACTIVE_PRICE = 0xFFFF2E
    TARIFF_ACTIVE_TOU_RATE = 0xFFFF2B
    TARIFF_ACTIVE_BLOCK_RATE = 0xFFFF2C
    TARIFF_ACTIVE_ELEMENT_B_PRICE = 0xFFFF4D
    TARIFF_ACTIVE_ELEMENT_B_TOU_RATE = 0xFFFF4B
    TARIFF_FUTURE_THRESHOLD_MASK = 0xFFFF21
    TARIFF_FUTURE_THRESHOLD_VALUES = 0xFFFF1F
    TIME_SWITCHES_ELEMENT_A = 0x0D0000
    TIME_SWITCHES_ELEMENT_B = 0x0D00FF
    # Written by the deployed client's future-tariff update (simt-emlite 1.2.12), 00 and
    # 00000000 there; what they hold is not documented.
    TARIFF_FUTURE_FFFF4F = 0xFFFF4F
    TARIFF_FUTURE_FFC965 = 0xFFC965


def element_b_tou_rate(n: int) -> int:
    """Object id of the active element B time-of-use rate ``n``."""
    return 0xFFF700 + n


def block_pricing(block: int, rate: int, future: bool = False) -> int:
    """Object id of the pricing matrix entry for ``block`` and ``rate`` (both from 1)."""
    if not (1 <= block <= 8 and 1 <= rate <= 8):
        raise ValueError(f"block {block} / rate {rate} out of 1..8")
    return (0xFFF800 if future else 0xFFF900) + (block - 1) * 8 + rate


def _oid_bytes(object_id: int) -> bytes:
    return object_id.to_bytes(3, "big")


@dataclass(frozen=True)
class Route:
    """Who a request goes to and comes from; by default as the reference client sends."""

    destination: Address = ANY_METER
    source: Address = REFERENCE_CLIENT
    sequence: int = REFERENCE_SEQUENCE

    def frame(self, data: bytes) -> Frame:
        return Frame(self.destination, self.source, self.sequence, 0, data)


REFERENCE_ROUTE = Route()


def read_request(object_id: int, route: Route = REFERENCE_ROUTE) -> Frame:
    return route.frame(bytes((Format.OBJECT,)) + _oid_bytes(object_id) + bytes((READ,)))


def write_request(object_id: int, payload: bytes, route: Route = REFERENCE_ROUTE) -> Frame:
    return route.frame(bytes((Format.OBJECT,)) + _oid_bytes(object_id) + bytes((WRITE,)) + payload)


def profile_log_request(log: Format, since: datetime, route: Route = REFERENCE_ROUTE) -> Frame:
    """Records from ``since`` on (the meter answers 2 hours: 4 or 5 half-hour records)."""
    if log not in (Format.PROFILE_LOG_1, Format.PROFILE_LOG_2):
        raise ValueError(f"{log!r} is not a profile log")
    return route.frame(bytes((log,)) + emop_seconds(since).to_bytes(4, "big"))


def event_log_request(page: int, route: Route = REFERENCE_ROUTE) -> Frame:
    if not 0 <= page <= 9:
        raise ValueError(f"event log page {page} out of 0..9")
    return route.frame(bytes((Format.EVENT_LOG,)) + _oid_bytes(ObjectId.EVENT_LOG) + bytes((page,)))


def _check_reply(reply: Frame, request_frame: Frame) -> None:
    if reply.ack_code:
        raise NakError(reply.ack_code)
    if not reply.data or reply.data[0] != request_frame.data[0]:
        got = f"{reply.data[0]:02X}" if reply.data else "nothing"
        raise FrameFormatError(f"reply has data format {got}, the request "
                               f"{request_frame.data[0]:02X}")


def object_value(reply: Frame, request_frame: Frame) -> bytes:
    """The value bytes of an object read/write reply (after ``oid(3) rw(1)``)."""
    _check_reply(reply, request_frame)
    if len(reply.data) < 5:
        raise FrameFormatError(f"object reply too short: {reply.data.hex()}")
    if reply.data[1:4] != request_frame.data[1:4]:
        raise ObjectIdMismatchError(f"asked for object {request_frame.data[1:4].hex().upper()}, "
                                    f"the reply is for {reply.data[1:4].hex().upper()}")
    return reply.data[5:]


def profile_log_value(reply: Frame, request_frame: Frame) -> bytes:
    """The records of a profile log reply (after the echoed big-endian timestamp)."""
    _check_reply(reply, request_frame)
    if reply.data[1:5] != request_frame.data[1:5] or len(reply.data) < 5:
        raise ObjectIdMismatchError(f"profile log reply echoes {reply.data[1:5].hex()}, asked "
                                    f"for {request_frame.data[1:5].hex()}")
    return reply.data[5:]


def event_log_value(reply: Frame, request_frame: Frame) -> bytes:
    """The 10 events of an event log page reply (after ``FF FF 49 rw``)."""
    _check_reply(reply, request_frame)
    if reply.data[1:4] != _oid_bytes(ObjectId.EVENT_LOG):
        raise ObjectIdMismatchError(f"event log reply is for object {reply.data[1:4].hex()}")
    return reply.data[5:]
