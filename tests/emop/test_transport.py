"""MeterConnection over real loopback sockets: whole, split and coalesced replies, and each
failure raising its own exception. The peer here is a minimal scripted server, not the fleet."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from flows import eventloop
from flows.devtools.processes import free_port
from flows.emop import (
    ConnectionClosedError,
    ConnectionRefusedByMeterError,
    CrcError,
    ElementRegisters,
    MeterConnection,
    NakError,
    ObjectId,
    ReadTimeoutError,
    decode_frame,
    object_value,
    read_frame,
    read_request,
)

REGISTERS = ElementRegisters(12345678, 2500, 7, 9)
Behaviour = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


def reply_for(raw_request: bytes, ack_code: int = 0) -> bytes:
    request = decode_frame(raw_request)
    data = request.data[:5] + (REGISTERS.encode() if not ack_code else b"")
    return request.reply(data, ack_code).encode()


async def serve(behaviour: Behaviour, check: Callable[[int], Awaitable[None]]) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    raw = await read_frame(reader)
                except ConnectionClosedError:
                    return
                await behaviour(raw, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        await check(port)


@pytest.fixture(autouse=True, params=["asyncio", "uvloop"])
def event_loop_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test on both loops the commands may run on (their transports differ)."""
    monkeypatch.setenv(eventloop.ENVIRONMENT_VARIABLE, request.param)
    return str(request.param)


def run(behaviour: Behaviour, check: Callable[[int], Awaitable[None]]) -> None:
    eventloop.run(serve(behaviour, check))


async def whole(raw: bytes, writer: asyncio.StreamWriter) -> None:
    writer.write(reply_for(raw))
    await writer.drain()


async def byte_by_byte(raw: bytes, writer: asyncio.StreamWriter) -> None:
    for byte in reply_for(raw):
        writer.write(bytes((byte,)))
        await writer.drain()
        await asyncio.sleep(0)  # let each byte go out as its own segment


def read_registers(read_timeout: float = 5.0) -> Callable[[int], Awaitable[None]]:
    async def check(port: int) -> None:
        request = read_request(ObjectId.ELEMENT_A)
        async with MeterConnection("127.0.0.1", port, read_timeout=read_timeout) as meter:
            reply = await meter.exchange(request)
            assert ElementRegisters.decode(object_value(reply, request)) == REGISTERS
    return check


@pytest.mark.parametrize("behaviour", [whole, byte_by_byte])
def test_reads_the_whole_reply(behaviour: Behaviour) -> None:
    run(behaviour, read_registers())


def test_coalesced_replies_are_split_by_length() -> None:
    pending: list[bytes] = []

    async def two_at_once(raw: bytes, writer: asyncio.StreamWriter) -> None:
        pending.append(reply_for(raw))
        if len(pending) == 2:  # both replies in one write, after the second request
            writer.write(b"".join(pending))
            await writer.drain()

    async def check(port: int) -> None:
        request = read_request(ObjectId.ELEMENT_A)
        async with MeterConnection("127.0.0.1", port, read_timeout=5) as meter:
            await meter.send(request)  # an earlier request, reply still to come
            first = await meter.exchange(request)
            second = await meter.receive()
            assert first == second and ElementRegisters.decode(object_value(first, request)) == REGISTERS

    run(two_at_once, check)


def test_close_mid_frame() -> None:
    async def half(raw: bytes, writer: asyncio.StreamWriter) -> None:
        reply = reply_for(raw)
        writer.write(reply[: len(reply) // 2])
        await writer.drain()
        writer.close()

    with pytest.raises(ConnectionClosedError, match="after 17 bytes"):
        run(half, read_registers())


def test_no_answer_is_a_read_timeout() -> None:
    async def silent(raw: bytes, writer: asyncio.StreamWriter) -> None:
        return

    with pytest.raises(ReadTimeoutError, match=r"within 0\.2 s"):
        run(silent, read_registers(read_timeout=0.2))


def test_corrupt_crc() -> None:
    async def corrupt(raw: bytes, writer: asyncio.StreamWriter) -> None:
        reply = bytearray(reply_for(raw))
        reply[-1] ^= 0xFF
        writer.write(bytes(reply))
        await writer.drain()

    with pytest.raises(CrcError):
        run(corrupt, read_registers())


def test_nak_code() -> None:
    async def nak(raw: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(reply_for(raw, ack_code=5))
        await writer.drain()

    with pytest.raises(NakError, match=r"NAK 5 \(unknown object id\)") as error:
        run(nak, read_registers())
    assert error.value.code == 5


def test_refused_connection() -> None:
    port = free_port()  # nobody listens on it

    async def check() -> None:
        async with MeterConnection("127.0.0.1", port) as meter:
            await meter.exchange(read_request(ObjectId.ELEMENT_A))

    with pytest.raises(ConnectionRefusedByMeterError, match="refused"):
        eventloop.run(check())
