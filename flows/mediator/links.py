"""Talking to meters safely: one request at a time per meter (others wait in order, for a bounded
time), a minimum gap between two requests to one meter, and connection retries that can never
send a frame twice: a frame is only re-sent for reads, never for writes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from flows.emop import (
    ConnectionClosedError,
    EmopError,
    Frame,
    MeterConnection,
    NakError,
    TransportError,
)


class LinkError(Exception):
    """Why a request to a meter did not get an answer; `status` names the gRPC status."""

    status = "INTERNAL"


class UnknownMeter(LinkError):
    status = "NOT_FOUND"


class MeterBusy(LinkError):
    status = "RESOURCE_EXHAUSTED"


class ConnectFailed(LinkError):
    status = "INTERNAL"


class MeterFailed(LinkError):
    status = "INTERNAL"


TURNED_AWAY_PAUSE_S = 0.3
Resolver = Callable[[str], Awaitable[tuple[str, int] | None]]


@dataclass
class LinkSettings:
    min_gap_s: float = 2.0  # real meters need about 2 s between requests
    lock_wait_s: float = 60.0  # longest wait for a busy meter
    connect_attempts: int = 5
    connect_backoff_s: float = 7.0
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 10.0


class MeterLinks:
    def __init__(self, resolve: Resolver, settings: LinkSettings | None = None) -> None:
        self.resolve = resolve
        self.settings = settings or LinkSettings()
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}  # per meter: the request holding its lock + those waiting
        self._last_done: dict[str, float] = {}
        self.queue_wait_observer: Callable[[str, float], None] = lambda serial, seconds: None

    async def exchange(self, serial: str, request: Frame, *, is_write: bool) -> Frame:
        """Send ``request`` to the meter and return its checked reply frame."""
        address = await self.resolve(serial)
        if address is None:
            raise UnknownMeter(f"Meter '{serial}' not known")
        lock = self._locks.setdefault(serial, asyncio.Lock())
        queued = time.monotonic()
        await self._acquire(serial, lock)
        self.queue_wait_observer(serial, time.monotonic() - queued)
        try:
            attempts = 1 if is_write else 2  # a read may be asked again; a write never
            for attempt in range(attempts):
                try:
                    return await self._once(serial, address, request)
                except EmopError as error:  # a NAK is the meter's answer: never asked again
                    if isinstance(error, NakError) or attempt + 1 == attempts:
                        raise
                    if isinstance(error, ConnectionClosedError) and error.received == 0:
                        # Turned away without a byte: a meter takes one connection at a time
                        # and may not have let go of the last one yet (seen with --min-gap 0).
                        await asyncio.sleep(TURNED_AWAY_PAUSE_S)
            raise AssertionError("unreachable")
        except EmopError as error:
            raise MeterFailed(f"Meter communication failed: {error}") from error
        finally:
            self._last_done[serial] = time.monotonic()
            lock.release()
            self._users[serial] -= 1

    async def _acquire(self, serial: str, lock: asyncio.Lock) -> None:
        """Take the meter's lock, waiting in line for at most `lock_wait_s`. ``_users`` counts
        the request holding the lock and those waiting: when it is zero the lock is free at
        once, and no timer is set up (asyncio.timeout costs CPU on every request)."""
        users = self._users.get(serial, 0)
        self._users[serial] = users + 1
        try:
            if users == 0:
                await lock.acquire()
                return
            async with asyncio.timeout(self.settings.lock_wait_s):
                await lock.acquire()
        except TimeoutError:
            self._users[serial] -= 1
            raise MeterBusy(f"Meter {serial} is busy (timeout)") from None
        except BaseException:
            self._users[serial] -= 1
            raise

    async def _once(self, serial: str, address: tuple[str, int], request: Frame) -> Frame:
        """One exchange on a fresh connection; connecting is retried, sending never."""
        await self._keep_gap(serial)
        settings = self.settings
        connection = MeterConnection(
            *address, connect_timeout=settings.connect_timeout_s, read_timeout=settings.read_timeout_s
        )
        for attempt in range(settings.connect_attempts):
            try:
                await connection.open()
                break
            except TransportError:  # refused, timed out, unreachable: nothing was sent yet
                if attempt + 1 == settings.connect_attempts:
                    raise ConnectFailed("failed to connect after retries") from None
                await asyncio.sleep(settings.connect_backoff_s)  # back off before trying again
        try:
            return await connection.exchange(request)
        finally:
            await connection.close()
            self._last_done[serial] = time.monotonic()  # a retry keeps the gap too

    async def _keep_gap(self, serial: str) -> None:
        last = self._last_done.get(serial)
        if last is not None:
            wait = self.settings.min_gap_s - (time.monotonic() - last)
            if wait > 0:
                await asyncio.sleep(wait)  # the meter needs this pause between requests
