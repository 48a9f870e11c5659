"""`MeterConnection`: one TCP connection to a meter, one request and its whole reply at a time.

Unlike the reference client's single ``recv(512)``, replies are read until the length byte's
worth of bytes arrived, so frames split over several TCP segments (or sent with other bytes
behind them) are handled.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from flows.emop.errors import (
    ConnectionClosedError,
    ConnectionRefusedByMeterError,
    ConnectTimeoutError,
    ReadTimeoutError,
    TransportError,
)
from flows.emop.frame import Frame, decode_frame, frame_size

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
                                    "of a frame") from None
    return header + rest


class MeterConnection:
    """``async with MeterConnection(host) as meter: reply = await meter.exchange(request)``."""

    def __init__(self, host: str, port: int = DEFAULT_PORT, *,
                 connect_timeout: float = CONNECT_TIMEOUT_S,
                 read_timeout: float = READ_TIMEOUT_S) -> None:
        self.host, self.port = host, port
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        try:
            async with asyncio.timeout(self.connect_timeout):  # cheaper than wait_for: no task
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
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
        if self._reader is None or self._writer is None:
            await self.open()
        assert self._reader is not None and self._writer is not None
        try:
            self._writer.write(request.encode())
            await self._writer.drain()
            async with asyncio.timeout(self.read_timeout):
                raw = await read_frame(self._reader)
        except TimeoutError:
            raise ReadTimeoutError(f"{self.host}:{self.port} sent no complete reply within "
                                   f"{self.read_timeout:g} s") from None
        except (ConnectionResetError, BrokenPipeError) as error:
            raise ConnectionClosedError(f"{self.host}:{self.port}: {error}") from None
        return decode_frame(raw)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except OSError:
                pass  # already gone: nothing left to release
            self._reader = self._writer = None

    async def __aenter__(self) -> MeterConnection:
        await self.open()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.close()
