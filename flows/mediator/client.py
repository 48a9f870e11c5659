"""`MediatorClient`: typed, async access to meters through a mediator (ours or a deployed one).

    async with MediatorClient("127.0.0.1:50051") as mediator:
        registers = await mediator.read_element_a("EML2001000000")

Every failure is a `MediatorError(code, message)`; its message is fit for `health_details`.
A meter's answer that cannot be decoded is an `UndecodableReply` (a `MediatorError` too): the
client decodes every object, so callers never see the EMOP layer's own errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from flows.emop import EmopError, records
from flows.emop.messages import Format, ObjectId
from flows.emop.records import (
    ElementRegisters,
    Event,
    ProfileLog1Record,
    ProfileLog2Record,
    SignalQuality,
)
from flows.mediator.proto import mediator_pb2 as pb
from flows.mediator.proto import mediator_pb2_grpc as pb_grpc

DEFAULT_DEADLINE_S = 75.0
T = TypeVar("T")


class MediatorError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class UndecodableReply(MediatorError):
    """The meter answered, but not with a valid value for the object asked."""

    def __init__(self, message: str) -> None:
        super().__init__("UNDECODABLE_REPLY", message)


def _decode(decode: Callable[[bytes], T], payload: bytes) -> T:
    try:
        return decode(payload)
    except EmopError as error:
        raise UndecodableReply(str(error)) from None


def _rate_flags(payload: bytes) -> dict[str, bool]:
    rates = records.decode_threshold_mask(payload)
    return {f"rate{rate}": rate in rates for rate in range(8, 0, -1)}


def _thresholds(payload: bytes) -> dict[str, int]:
    return {f"th{n}": value for n, value in enumerate(records.decode_threshold_values(payload), 1)}


def _iso_time(payload: bytes) -> str:
    return records.decode_timestamp(payload).isoformat()


Objects = dict[str, tuple[int, Callable[[bytes], Any]]]
# A tariff as the deployed client's tariffs_active_read / tariffs_future_read give it (and
# its collector stores it, as JSON): the objects read, by field; the fields it always leaves
# null (those it reads no object for, and the active time-of-use rate) are null here too.
_TARIFFS_ACTIVE: Objects = {
    "standing_charge": (ObjectId.TARIFF_ACTIVE_STANDING_CHARGE, records.decode_money),
    "threshold_mask": (ObjectId.TARIFF_ACTIVE_THRESHOLD_MASK, _rate_flags),
    "threshold_values": (ObjectId.TARIFF_ACTIVE_THRESHOLD_VALUES, _thresholds),
    "unit_rate_element_a": (ObjectId.TARIFF_ACTIVE_PRICE, records.decode_money),
    "unit_rate_element_b": (ObjectId.TARIFF_ACTIVE_ELEMENT_B_PRICE, records.decode_money),
    "block_rate": (ObjectId.TARIFF_ACTIVE_BLOCK_RATE, records.decode_u1),
    "element_b_tou_rate": (ObjectId.TARIFF_ACTIVE_ELEMENT_B_TOU_RATE, records.decode_u1),
    "prepayment_emergency_credit": (ObjectId.TARIFF_ACTIVE_EMERGENCY_CREDIT, records.decode_money),
    "prepayment_ecredit_availability": (ObjectId.TARIFF_ACTIVE_ECREDIT_AVAILABILITY,
                                        records.decode_money),
    "prepayment_debt_recovery_rate": (ObjectId.TARIFF_ACTIVE_DEBT_RECOVERY_RATE,
                                      records.decode_money),
}
_ACTIVE_NULLS = ("tou_rate", "price_current", "element_b_block_rate", "element_b_tou_rate_1",
                 "element_b_tou_rate_2", "element_b_tou_rate_3", "element_b_tou_rate_4",
                 "element_b_price_index_current", "price_index_current", "pricings", "gas")
_TARIFFS_FUTURE: Objects = {
    "standing_charge": (ObjectId.TARIFF_FUTURE_STANDING_CHARGE, records.decode_money),
    "activation_datetime": (ObjectId.TARIFF_FUTURE_ACTIVATION_DATETIME, _iso_time),
    "threshold_mask": (ObjectId.TARIFF_FUTURE_THRESHOLD_MASK, _rate_flags),
    "threshold_values": (ObjectId.TARIFF_FUTURE_THRESHOLD_VALUES, _thresholds),
    "unit_rate_element_a": (ObjectId.TARIFF_FUTURE_BLOCK_8_RATE_1, records.decode_money),
    "unit_rate_element_b": (ObjectId.TARIFF_FUTURE_ELEMENT_B_TOU_RATE_1, records.decode_money),
    "prepayment_emergency_credit": (ObjectId.TARIFF_FUTURE_EMERGENCY_CREDIT, records.decode_money),
    "prepayment_ecredit_availability": (ObjectId.TARIFF_FUTURE_ECREDIT_AVAILABILITY,
                                        records.decode_money),
    "prepayment_debt_recovery_rate": (ObjectId.TARIFF_FUTURE_DEBT_RECOVERY_RATE,
                                      records.decode_money),
}
_FUTURE_NULLS = ("pricings", "element_b_tou_rate_1", "element_b_tou_rate_2",
                 "element_b_tou_rate_3", "element_b_tou_rate_4")


class MediatorClient:
    def __init__(
        self,
        target: str,
        *,
        deadline_s: float = DEFAULT_DEADLINE_S,
        credentials: grpc.ChannelCredentials | None = None,
        max_in_flight: int = 256,
        options: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.target, self.deadline_s = target, deadline_s
        # Thousands of simultaneous calls on one channel get CANCELLED by the transport before
        # reaching the server; more wait here, in order, and their deadline starts once sent.
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._channel = (
            grpc.aio.secure_channel(target, credentials, options=options)
            if credentials is not None
            else grpc.aio.insecure_channel(target, options=options)
        )
        self._meters = pb_grpc.EmliteMediatorServiceStub(self._channel)
        self._info = pb_grpc.InfoServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> MediatorClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _rpc(self, method: Any, request: Any) -> Any:
        async with self._in_flight:
            try:
                return await method(request, timeout=self.deadline_s)
            except grpc.aio.AioRpcError as error:
                raise MediatorError(error.code().name, error.details() or "") from None

    async def answers(self, within_s: float = 5.0) -> bool:
        """Whether the mediator answers at all, now: a health check (a mediator without the
        health service answers UNIMPLEMENTED, which is an answer too). Evidence that a
        deadline on one meter was that meter's silence, not the mediator's."""
        try:
            await self._health.Check(health_pb2.HealthCheckRequest(service=""), timeout=within_s)
        except grpc.aio.AioRpcError as error:
            return error.code() not in (grpc.StatusCode.UNAVAILABLE,
                                        grpc.StatusCode.DEADLINE_EXCEEDED,
                                        grpc.StatusCode.CANCELLED)
        return True

    # Raw access -----------------------------------------------------------------------------

    async def read_element(self, serial: str, object_id: int) -> bytes:
        reply = await self._rpc(
            self._meters.readElement, pb.ReadElementRequest(serial=serial, objectId=object_id)
        )
        return bytes(reply.response)

    async def write_element(self, serial: str, object_id: int, payload: bytes) -> None:
        await self._rpc(
            self._meters.writeElement,
            pb.WriteElementRequest(serial=serial, objectId=object_id, payload=payload),
        )

    async def send_raw(self, serial: str, data_field: bytes) -> bytes:
        reply = await self._rpc(
            self._meters.sendRawMessage, pb.SendRawMessageRequest(serial=serial, dataField=data_field)
        )
        return bytes(reply.response)

    # Typed reads ---------------------------------------------------------------------------

    async def _read(self, serial: str, object_id: int, decode: Callable[[bytes], T]) -> T:
        return _decode(decode, await self.read_element(serial, object_id))

    async def read_element_a(self, serial: str) -> ElementRegisters:
        return await self._read(serial, ObjectId.ELEMENT_A, ElementRegisters.decode)

    async def read_element_b(self, serial: str) -> ElementRegisters:
        return await self._read(serial, ObjectId.ELEMENT_B, ElementRegisters.decode)

    async def prepay_balance(self, serial: str) -> Decimal:
        return await self._read(serial, ObjectId.PREPAY_BALANCE, records.decode_balance)

    async def csq(self, serial: str) -> SignalQuality:
        return await self._read(serial, ObjectId.CSQ_NET_OP, SignalQuality.decode)

    async def clock(self, serial: str) -> datetime:
        return await self._read(serial, ObjectId.TIME, records.decode_clock)

    async def hardware(self, serial: str, three_phase: bool = False) -> str:
        """The hardware name: of a single-phase meter from its hardware code (608000; an
        unknown code is `SINGLE_PHASE_UNKNOWN`), of a three-phase one from its configuration
        (000503: `P1.ax` or `P1.cx`)."""
        if three_phase:
            return await self._read(serial, ObjectId.THREE_PHASE_CONFIGURATION,
                                    records.decode_three_phase_config)
        return await self._read(serial, ObjectId.HARDWARE_VERSION, records.decode_hardware)

    async def backlight(self, serial: str, three_phase: bool = False) -> str:
        """The backlight setting, named for the meter's kind (see
        `flows.emop.records.describe_backlight`)."""
        return records.describe_backlight(
            await self._read(serial, ObjectId.BACKLIGHT, records.decode_u1), three_phase)

    async def load_switch(self, serial: str) -> str:
        return records.describe_load_switch(
            await self._read(serial, ObjectId.LOAD_SWITCH, records.decode_u1))

    async def daylight_savings_correction_enabled(self, serial: str) -> bool:
        return await self._read(serial, ObjectId.DAYLIGHT_SAVINGS_CORRECTION_FLAG, records.decode_flag)

    async def active_power(self, serial: str, element: str | None = None) -> Decimal:
        """Instantaneous active import power in kW, of the meter or of element A or B."""
        object_id = {None: ObjectId.INSTANTANEOUS_ACTIVE_POWER, "A": ObjectId.ELEMENT_A_ACTIVE_POWER,
                     "B": ObjectId.ELEMENT_B_ACTIVE_POWER}[element]
        return await self._read(serial, object_id, records.decode_power)

    async def three_phase_total_import(self, serial: str) -> int:
        """A three-phase meter's total active import in raw register units (see
        `flows.meterdata.Hardware.register_scale`)."""
        return await self._read(serial, ObjectId.THREE_PHASE_TOTAL_ACTIVE_IMPORT, records.decode_u4)

    async def three_phase_total_export(self, serial: str) -> int:
        return await self._read(serial, ObjectId.THREE_PHASE_TOTAL_ACTIVE_EXPORT, records.decode_u4)

    async def three_phase_voltages(self, serial: str) -> tuple[Decimal, Decimal, Decimal]:
        """Voltages of phases L1, L2 and L3."""
        return (await self._read(serial, ObjectId.THREE_PHASE_VOLTAGE_L1, records.decode_voltage),
                await self._read(serial, ObjectId.THREE_PHASE_VOLTAGE_L2, records.decode_voltage),
                await self._read(serial, ObjectId.THREE_PHASE_VOLTAGE_L3, records.decode_voltage))

    async def firmware_version(self, serial: str) -> str:
        return await self._read(serial, ObjectId.FIRMWARE_VERSION, records.decode_firmware)

    async def serial_number(self, serial: str) -> str:
        return await self._read(serial, ObjectId.SERIAL, records.decode_serial)

    async def voltage(self, serial: str) -> Decimal:
        """Volts (the deployed collector stores the wire's deci-volts: see
        `flows.collect.syncers.sync_voltage`)."""
        return await self._read(serial, ObjectId.INSTANTANEOUS_VOLTAGE, records.decode_voltage)

    async def prepay_enabled(self, serial: str) -> bool:
        return await self._read(serial, ObjectId.PREPAY_ENABLED_FLAG, records.decode_flag)

    async def tariffs_active(self, serial: str) -> dict[str, Any]:
        """The active tariff, by the deployed client's field names (money as Decimal)."""
        return {**await self._read_all(serial, _TARIFFS_ACTIVE), **dict.fromkeys(_ACTIVE_NULLS)}

    async def tariffs_future(self, serial: str) -> dict[str, Any]:
        """The future tariff (with its activation time, ISO 8601), as `tariffs_active`."""
        return {**await self._read_all(serial, _TARIFFS_FUTURE), **dict.fromkeys(_FUTURE_NULLS)}

    async def write_future_tariff(self, serial: str, activation: datetime,
                                  standing_charge: Decimal, unit_rate: Decimal,
                                  emergency_credit: Decimal, ecredit_availability: Decimal,
                                  debt_recovery_rate: Decimal) -> None:
        """Write a future tariff, object by object in the order the deployed client's
        tariffs_future_write writes them (no thresholds: one rate for every block, element
        B's first time-of-use rate the same); the first refused write raises (`MediatorError`
        with the meter's NAK), leaving the objects before it written."""
        writes = (
            (ObjectId.TARIFF_FUTURE_THRESHOLD_MASK, records.encode_threshold_mask(frozenset())),
            (ObjectId.TARIFF_FUTURE_THRESHOLD_VALUES,
             records.encode_threshold_values((0,) * records.THRESHOLDS)),
            (ObjectId.TARIFF_FUTURE_FFFF4F, bytes(1)),
            (ObjectId.TARIFF_FUTURE_BLOCK_8_RATE_1, records.encode_money(unit_rate)),
            (ObjectId.TARIFF_FUTURE_ELEMENT_B_TOU_RATE_1, records.encode_money(unit_rate)),
            (ObjectId.TARIFF_FUTURE_EMERGENCY_CREDIT, records.encode_money(emergency_credit)),
            (ObjectId.TARIFF_FUTURE_ECREDIT_AVAILABILITY,
             records.encode_money(ecredit_availability)),
            (ObjectId.TARIFF_FUTURE_DEBT_RECOVERY_RATE, records.encode_money(debt_recovery_rate)),
            (ObjectId.TARIFF_FUTURE_FFC965, bytes(4)),
            (ObjectId.TARIFF_FUTURE_STANDING_CHARGE, records.encode_money(standing_charge)),
            (ObjectId.TARIFF_FUTURE_ACTIVATION_DATETIME, records.encode_timestamp(activation)),
        )
        for object_id, payload in writes:
            await self.write_element(serial, object_id, payload)

    async def _read_all(self, serial: str,
                        objects: dict[str, tuple[int, Callable[[bytes], Any]]]) -> dict[str, Any]:
        """One read per object, in order (one meter answers one request at a time)."""
        return {name: await self._read(serial, object_id, decode)
                for name, (object_id, decode) in objects.items()}

    async def event_log(self, serial: str, page: int) -> list[Event]:
        data = bytes((Format.EVENT_LOG,)) + ObjectId.EVENT_LOG.to_bytes(3, "big") + bytes((page,))
        reply = await self.send_raw(serial, data)  # oid(3) rw(1) + events
        return _decode(records.decode_events, reply[4:])

    async def profile_log_1(self, serial: str, since: datetime) -> list[ProfileLog1Record]:
        data = bytes((Format.PROFILE_LOG_1,)) + records.emop_seconds(since).to_bytes(4, "big")
        return _decode(records.decode_profile_log_1, (await self.send_raw(serial, data))[4:])

    async def profile_log_2(self, serial: str, since: datetime, twin: bool) -> list[ProfileLog2Record]:
        data = bytes((Format.PROFILE_LOG_2,)) + records.emop_seconds(since).to_bytes(4, "big")
        reply = (await self.send_raw(serial, data))[4:]
        return _decode(lambda payload: records.decode_profile_log_2(payload, twin), reply)

    async def three_phase_import_intervals(self, serial: str, start: datetime, end: datetime
                                           ) -> list[tuple[datetime, int, int]]:
        """A three-phase meter's interval profile (format 0x14) from ``start`` to ``end``:
        (interval start, status, total active import in the register's raw units) for as much
        of the range as one reply holds (ask again from after its last interval for the rest)."""
        request = records.ThreePhaseIntervalRequest(0, start, end).encode()  # profile 0, as deployed
        reply = await self.send_raw(serial, bytes((Format.THREE_PHASE_INTERVALS,)) + request)
        block = _decode(records.ThreePhaseIntervalBlock.decode, reply)  # the format byte is not echoed
        if ObjectId.THREE_PHASE_TOTAL_ACTIVE_IMPORT not in block.channels:
            raise UndecodableReply(f"the interval profile has no total active import channel "
                                   f"(channels {[f'{c:06X}' for c in block.channels]})")
        channel = block.channels.index(ObjectId.THREE_PHASE_TOTAL_ACTIVE_IMPORT)
        step = timedelta(minutes=block.interval_minutes)
        return [(block.start + n * step, status, values[channel])
                for n, (status, values) in enumerate(block.intervals)]

    # Info ------------------------------------------------------------------------------------

    async def info(self, serial: str) -> str:
        return str((await self._rpc(self._info.GetInfo, pb.GetInfoRequest(serial=serial))).json_data)

    async def meters(self, esco: str) -> str:
        return str((await self._rpc(self._info.GetMeters, pb.GetMetersRequest(esco=esco))).json_meters)
