"""Failed attempts per client, in this process: after `MOST_FAILURES` failed logins or
unknown keys within `WINDOW_S`, a client gets 429 for whatever key it sends until its oldest
failure leaves the window (guessing keys becomes slow, and a 429 tells nothing about the key
tried). Memory is bounded: at most `MOST_CLIENTS` clients are remembered, the least recent
forgotten first."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque

from fastapi import HTTPException, Request

MOST_FAILURES = 10
WINDOW_S = 60.0
MOST_CLIENTS = 10_000


class Failures:
    def __init__(self, most: int = MOST_FAILURES, window_s: float = WINDOW_S) -> None:
        self.most, self.window_s = most, window_s
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, client: str) -> None:
        """429 if ``client`` failed too often lately."""
        with self._lock:
            recent = self._recent(client, time.monotonic())
            if len(recent) >= self.most:
                wait = int(recent[0] + self.window_s - time.monotonic()) + 1
                raise HTTPException(429, f"too many failed attempts; try again in {wait} s",
                                    headers={"Retry-After": str(wait)})

    def failed(self, client: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._recent(client, now).append(now)
            self._seen.move_to_end(client)
            while len(self._seen) > MOST_CLIENTS:
                self._seen.popitem(last=False)

    def _recent(self, client: str, now: float) -> deque[float]:
        recent = self._seen.setdefault(client, deque())
        while recent and recent[0] <= now - self.window_s:
            recent.popleft()
        return recent


def client_of(request: Request) -> str:
    """The client's address (the proxy's view of it only from trusted proxies: uvicorn's
    `forwarded_allow_ips`)."""
    return request.client.host if request.client else "unknown"
