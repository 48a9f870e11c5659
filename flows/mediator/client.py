"""`MediatorClient`: typed, async access to meters through a mediator (ours or a deployed one).

    async with MediatorClient("127.0.0.1:50051") as mediator:
        registers = await mediator.read_element_a("EML2001000000")

Every failure is a `MediatorError(code, message)`; its message is fit for `health_details`.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from typing import Any

import grpc

from flows.emop import records
from flows.emop.messages import Format, ObjectId
from flows.emop.records import ElementRegisters, Event, ProfileLog1Record, ProfileLog2Record, SignalQuality
from flows.mediator.proto import mediator_pb2 as pb
from flows.mediator.proto import mediator_pb2_grpc as pb_grpc

DEFAULT_DEADLINE_S = 75.0


class MediatorError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


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

    async def read_element_a(self, serial: str) -> ElementRegisters:
        return ElementRegisters.decode(await self.read_element(serial, ObjectId.ELEMENT_A))

    async def read_element_b(self, serial: str) -> ElementRegisters:
        return ElementRegisters.decode(await self.read_element(serial, ObjectId.ELEMENT_B))

    async def prepay_balance(self, serial: str) -> Decimal:
        return records.decode_balance(await self.read_element(serial, ObjectId.PREPAY_BALANCE))

    async def csq(self, serial: str) -> SignalQuality:
        return SignalQuality.decode(await self.read_element(serial, ObjectId.CSQ_NET_OP))

    async def clock(self, serial: str) -> datetime:
        return records.decode_clock(await self.read_element(serial, ObjectId.TIME))

    async def hardware(self, serial: str) -> str:
        """The hardware name; three-phase meters answer with their configuration."""
        name = records.decode_hardware(await self.read_element(serial, ObjectId.HARDWARE_VERSION))
        if name is not None:
            return name
        value = await self.read_element(serial, ObjectId.THREE_PHASE_CONFIGURATION)
        return records.decode_three_phase_config(value)

    async def firmware_version(self, serial: str) -> str:
        return records.decode_firmware(await self.read_element(serial, ObjectId.FIRMWARE_VERSION))

    async def serial_number(self, serial: str) -> str:
        return records.decode_serial(await self.read_element(serial, ObjectId.SERIAL))

    async def voltage(self, serial: str) -> Decimal:
        return records.decode_voltage(await self.read_element(serial, ObjectId.INSTANTANEOUS_VOLTAGE))

    async def prepay_enabled(self, serial: str) -> bool:
        return records.decode_flag(await self.read_element(serial, ObjectId.PREPAY_ENABLED_FLAG))

    async def tariffs_active(self, serial: str) -> dict[str, Any]:
        read = self.read_element
        return {
            "standing_charge": records.decode_money(
                await read(serial, ObjectId.TARIFF_ACTIVE_STANDING_CHARGE)
            ),
            "unit_rate": records.decode_money(await read(serial, ObjectId.TARIFF_ACTIVE_BLOCK_8_RATE_1)),
            "threshold_mask": sorted(
                records.decode_threshold_mask(await read(serial, ObjectId.TARIFF_ACTIVE_THRESHOLD_MASK))
            ),
            "threshold_values": list(
                records.decode_threshold_values(await read(serial, ObjectId.TARIFF_ACTIVE_THRESHOLD_VALUES))
            ),
            "emergency_credit": records.decode_money(
                await read(serial, ObjectId.TARIFF_ACTIVE_EMERGENCY_CREDIT)
            ),
            "ecredit_availability": records.decode_money(
                await read(serial, ObjectId.TARIFF_ACTIVE_ECREDIT_AVAILABILITY)
            ),
            "debt_recovery_rate": records.decode_money(
                await read(serial, ObjectId.TARIFF_ACTIVE_DEBT_RECOVERY_RATE)
            ),
        }

    async def tariffs_future(self, serial: str) -> dict[str, Any]:
        read = self.read_element
        return {
            "standing_charge": records.decode_money(
                await read(serial, ObjectId.TARIFF_FUTURE_STANDING_CHARGE)
            ),
            "activation": records.decode_timestamp(
                await read(serial, ObjectId.TARIFF_FUTURE_ACTIVATION_DATETIME)
            ),
            "unit_rate": records.decode_money(await read(serial, ObjectId.TARIFF_FUTURE_BLOCK_8_RATE_1)),
            "element_b_tou_rate_1": records.decode_money(
                await read(serial, ObjectId.TARIFF_FUTURE_ELEMENT_B_TOU_RATE_1)
            ),
            "emergency_credit": records.decode_money(
                await read(serial, ObjectId.TARIFF_FUTURE_EMERGENCY_CREDIT)
            ),
            "ecredit_availability": records.decode_money(
                await read(serial, ObjectId.TARIFF_FUTURE_ECREDIT_AVAILABILITY)
            ),
            "debt_recovery_rate": records.decode_money(
                await read(serial, ObjectId.TARIFF_FUTURE_DEBT_RECOVERY_RATE)
            ),
        }

    async def event_log(self, serial: str, page: int) -> list[Event]:
        data = bytes((Format.EVENT_LOG,)) + ObjectId.EVENT_LOG.to_bytes(3, "big") + bytes((page,))
        reply = await self.send_raw(serial, data)  # oid(3) rw(1) + events
        return records.decode_events(reply[4:])

    async def profile_log_1(self, serial: str, since: datetime) -> list[ProfileLog1Record]:
        data = bytes((Format.PROFILE_LOG_1,)) + records.emop_seconds(since).to_bytes(4, "big")
        return records.decode_profile_log_1((await self.send_raw(serial, data))[4:])

    async def profile_log_2(self, serial: str, since: datetime, twin: bool) -> list[ProfileLog2Record]:
        data = bytes((Format.PROFILE_LOG_2,)) + records.emop_seconds(since).to_bytes(4, "big")
        return records.decode_profile_log_2((await self.send_raw(serial, data))[4:], twin)

    # Info ------------------------------------------------------------------------------------

    async def info(self, serial: str) -> str:
        return str((await self._rpc(self._info.GetInfo, pb.GetInfoRequest(serial=serial))).json_data)

    async def meters(self, esco: str) -> str:
        return str((await self._rpc(self._info.GetMeters, pb.GetMetersRequest(esco=esco))).json_meters)
