"""`MeterConnection`: one TCP connection to a meter, one request and its whole reply at a time.

Unlike the reference client's single ``recv(512)``, replies are read until the length byte's
worth of bytes arrived, so frames split over several TCP segments (or sent with other bytes
behind them) are handled.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import cast

from flows.emop.errors import (
    ConnectionClosedError,
    ConnectionRefusedByMeterError,
    ConnectTimeoutError,
    FrameError,
    ReadTimeoutError,
    TransportError,
)
from flows.emop.frame import Frame, FrameSplitter, decode_frame, frame_size

DEFAULT_PORT = 8080
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 10.0


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    """Read exactly one frame's bytes (delimiter and length first, then the rest)."""
    header = b""
    try:
        header = await reader.readexactly(2)
        rest = await reader.readexactly(frame_size(header) - 2)
    except asyncio.IncompleteReadError as error:
        received = len(header) + len(error.partial)
        raise ConnectionClosedError(f"the meter closed the connection after {received} bytes "
                                    "of a frame", received) from None
    return header + rest


class _FrameReceiver(asyncio.Protocol):
    """Collects a connection's bytes and hands them out one whole frame at a time (a bare
    protocol: a third of the CPU of asyncio streams per connection, which the mediator opens
    for every request)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.frames = FrameSplitter()
        self.waiter: asyncio.Future[bytes] | None = None
        self.closed = False
        self.lost = asyncio.get_running_loop().create_future()  # done once the socket is gone

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A TCP connection's transport (uvloop's does not subclass asyncio.Transport).
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.frames.feed(data)
        self._hand_out()

    def connection_lost(self, error: Exception | None) -> None:
        self.closed = True
        self.lost.set_result(None)
        self._hand_out()

    def next_frame(self) -> asyncio.Future[bytes]:
        self.waiter = asyncio.get_running_loop().create_future()
        self._hand_out()
        return self.waiter

    def _hand_out(self) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        try:
            frame = self.frames.next_frame()
        except FrameError as error:
            waiter.set_exception(error)
            return
        if frame is not None:
            waiter.set_result(frame)
        elif self.closed:
            waiter.set_exception(ConnectionClosedError(
                f"the meter closed the connection after {len(self.frames)} bytes of a frame",
                len(self.frames)))


class MeterConnection:
    """``async with MeterConnection(host) as meter: reply = await meter.exchange(request)``."""

    def __init__(self, host: str, port: int = DEFAULT_PORT, *,
                 connect_timeout: float = CONNECT_TIMEOUT_S,
                 read_timeout: float = READ_TIMEOUT_S) -> None:
        self.host, self.port = host, port
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self._receiver: _FrameReceiver | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):  # cheaper than wait_for: no task
                _, self._receiver = await loop.create_connection(_FrameReceiver, self.host, self.port)
        except TimeoutError:
            raise ConnectTimeoutError(f"no connection to {self.host}:{self.port} within "
                                      f"{self.connect_timeout:g} s") from None
        except ConnectionRefusedError:
            raise ConnectionRefusedByMeterError(
                f"{self.host}:{self.port} refused the connection") from None
        except OSError as error:
            raise TransportError(f"cannot connect to {self.host}:{self.port}: {error}") from None

    async def exchange(self, request: Frame) -> Frame:
        """Send ``request`` and return the meter's checked reply frame."""
        await self.send(request)
        return await self.receive()

    async def send(self, request: Frame) -> None:
        """Send one frame (connecting first if needed); its reply comes with `receive`."""
        if self._receiver is None:
            await self.open()
        assert self._receiver is not None and self._receiver.transport is not None
        if self._receiver.closed:
            raise ConnectionClosedError(f"{self.host}:{self.port} closed the connection", 0)
        self._receiver.transport.write(request.encode())

    async def receive(self) -> Frame:
        """The next whole frame from the meter, checked."""
        if self._receiver is None:
            raise TransportError(f"not connected to {self.host}:{self.port}")
        try:
            async with asyncio.timeout(self.read_timeout):
                raw = await self._receiver.next_frame()
        except TimeoutError:
            raise ReadTimeoutError(f"{self.host}:{self.port} sent no complete reply within "
                                   f"{self.read_timeout:g} s") from None
        return decode_frame(raw)

    async def close(self) -> None:
        receiver, self._receiver = self._receiver, None
        if receiver is not None and receiver.transport is not None:
            receiver.transport.close()
            await receiver.lost  # closed for the meter too before anyone connects to it again

    async def __aenter__(self) -> MeterConnection:
        await self.open()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.close()
