"""The fleet on the network: one listening socket per virtual meter, each at its own address.

Meters listen on their own loopback address (``127.10.x.y``, port 8080 by default) as real meters
do on their private addresses, or, with ``port=0``, on 127.0.0.1 with a port each. A meter serves
one connection at a time and refuses a second concurrent one, as real Emlite meters do.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import socket
import time
from collections import deque
from dataclasses import dataclass
from typing import cast

from flows.emop.errors import FrameError
from flows.emop.frame import Frame, FrameSplitter, decode_frame
from flows.meters.fleet import SimClock
from flows.meters.model import VirtualMeter
from flows.meters.responder import respond

log = logging.getLogger(__name__)
SPLIT_CHUNK = 3  # bytes per piece for meters that deliver replies in pieces


def loopback_host(number: int) -> str:
    """Meter ``number``'s own loopback address: 127.10.0.1, 127.10.0.2, …"""
    n = number + 1
    return f"127.{10 + n // 65536}.{n // 256 % 256}.{n % 256}"


@dataclass
class MeterEndpoint:
    meter: VirtualMeter
    host: str
    port: int


class FleetServer:
    """``async with FleetServer(meters, clock) as fleet: fleet.endpoints[i].host/.port``."""

    def __init__(self, meters: list[VirtualMeter], clock: SimClock, *, port: int = 8080,
                 own_addresses: bool = True, requests_kept: int = 1000) -> None:
        self.meters, self.clock = meters, clock
        self.port, self.own_addresses = port, own_addresses
        self.endpoints: list[MeterEndpoint] = []
        self._servers: list[asyncio.base_events.Server] = []
        self._reserved: list[socket.socket] = []
        self._busy: set[int] = set()
        self._sessions: set[_Session] = set()
        # Per meter number: (started, finished, request data field) of its last `requests_kept`
        # requests, in monotonic seconds, so tests can check spacing, overlap and "sent exactly
        # once" (bounded: `flows simulate` runs for weeks).
        self.requests_kept = requests_kept
        self.requests: dict[int, deque[tuple[float, float, bytes]]] = {}
        self.request_arrived = asyncio.Event()  # set whenever a meter starts on a request
        self._rng = random.Random(0)

    async def start(self) -> None:
        for meter in self.meters:
            host = loopback_host(meter.number) if self.own_addresses else "127.0.0.1"
            if meter.faults.refuse_connections:
                # Nothing listens: record where it would be, so clients get "refused". With
                # port 0 the port stays bound (not listening) so no other meter can take it.
                self.endpoints.append(MeterEndpoint(meter, host, self.port or self._reserve_port()))
                continue
            server = await asyncio.get_running_loop().create_server(
                functools.partial(_Session, self, meter), host, self.port, backlog=64)
            self._servers.append(server)
            self.endpoints.append(MeterEndpoint(meter, host, server.sockets[0].getsockname()[1]))

    def _reserve_port(self) -> int:
        reserved = socket.socket()
        reserved.bind(("127.0.0.1", 0))
        self._reserved.append(reserved)
        return int(reserved.getsockname()[1])

    async def stop(self) -> None:
        for reserved in self._reserved:
            reserved.close()
        self._reserved.clear()
        for server in self._servers:
            server.close()
        answering = [session.end() for session in list(self._sessions)]  # before the loop ends
        await asyncio.gather(*[task for task in answering if task is not None],
                             return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    async def __aenter__(self) -> FleetServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _answer(self, meter: VirtualMeter, raw: bytes, writer: _Session) -> bool:
        """Reply to one request; False when the connection must end."""
        try:
            request = decode_frame(raw)
        except FrameError:
            return True  # a garbled request gets no answer, as on a real meter
        started = time.monotonic()
        self.request_arrived.set()
        received = self.requests.get(meter.number)
        if received is None:
            received = self.requests[meter.number] = deque(maxlen=self.requests_kept)
        try:
            return await self._reply(meter, request, raw, writer)
        finally:
            received.append((started, time.monotonic(), request.data))

    async def _reply(self, meter: VirtualMeter, request: Frame, raw: bytes,
                     writer: _Session) -> bool:
        faults = meter.faults
        if faults.no_answer:
            return True
        if faults.latency_s or faults.fixed_latency_s:
            delay = faults.fixed_latency_s
            if faults.latency_s:
                delay += self._rng.expovariate(1 / faults.latency_s)
            await asyncio.sleep(delay)  # a slow meter, simulated
        try:
            reply = bytearray(respond(meter, request, self.clock.now()).encode())
        except Exception:  # a simulator bug must not hang the client: log it, drop the link
            log.exception("meter %s failed to answer %s", meter.serial, raw.hex())
            return False
        if faults.corrupt_crc:
            reply[-1] ^= 0x5A
        if faults.close_mid_frame:
            writer.write(bytes(reply[: len(reply) // 2]))
            await writer.drain()
            return False
        if faults.split_reply:
            for start in range(0, len(reply), SPLIT_CHUNK):
                writer.write(bytes(reply[start:start + SPLIT_CHUNK]))
                await writer.drain()
                await asyncio.sleep(0)  # let each piece leave as its own TCP segment
        else:
            writer.write(bytes(reply))
            await writer.drain()
        return True


class _Session(asyncio.Protocol):
    """One client's connection to one meter: whole request frames are answered in order, one
    at a time, by a task that lives while there are requests (a bare protocol costs far less
    CPU per connection than asyncio streams, and the mediator connects for every request)."""

    def __init__(self, fleet: FleetServer, meter: VirtualMeter) -> None:
        self.fleet, self.meter = fleet, meter
        self.transport: asyncio.Transport | None = None
        self.frames = FrameSplitter()
        self.requests: deque[bytes] = deque()
        self.answering: asyncio.Task[None] | None = None
        self.holds_meter = False  # this connection made the meter busy
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no asyncio.Transport
        number = self.meter.number
        if number in self.fleet._busy and not self.meter.faults.allow_second_connection:
            transport.close()  # a real meter refuses a second connection while one is open
            return
        self.holds_meter = True
        self.fleet._busy.add(number)
        self.fleet._sessions.add(self)

    def data_received(self, data: bytes) -> None:
        if not self.holds_meter:
            return
        self.frames.feed(data)
        try:
            while (frame := self.frames.next_frame()) is not None:
                self.requests.append(frame)
        except FrameError:  # not a frame start: a real meter drops such a link
            self.close()
            return
        if self.requests and self.answering is None:
            self.answering = asyncio.get_running_loop().create_task(self._answer_all())

    def connection_lost(self, error: Exception | None) -> None:
        self.lost = True
        if self.answering is None:
            self._release()

    async def _answer_all(self) -> None:
        try:
            while self.requests:  # also after the client left: what arrived is answered
                if not await self.fleet._answer(self.meter, self.requests.popleft(), self):
                    self.close()
                    return
        except asyncio.CancelledError:
            pass  # the fleet is stopping
        finally:
            self.answering = None
            if self.lost:
                self._release()

    def _release(self) -> None:
        if self.holds_meter:
            self.holds_meter = False
            self.fleet._busy.discard(self.meter.number)
            self.fleet._sessions.discard(self)

    def end(self) -> asyncio.Task[None] | None:
        """Stop answering and close; the answering task, if any, to wait for."""
        task = self.answering
        if task is not None:
            task.cancel()
        self.close()
        return task

    # What `FleetServer._reply` writes through (a stream writer's shape).

    def write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    async def drain(self) -> None:
        await asyncio.sleep(0)  # replies are a few bytes: let the loop send them

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
