"""Riding out outages of what a process depends on (the database, the mediator): exponential
backoff with jitter, one log line when an outage starts and one when it ends, and Prometheus
counters of outages and retries (``flows_outages_total``, ``flows_retries_total``,
``flows_dependency_up``).

    outage = Outage("database", log)
    backoff = Backoff()
    while True:
        try:
            work()
        except UnavailableError as error:
            outage.failed(error)
            time.sleep(backoff.next_delay())
            continue
        outage.recovered()
        backoff.reset()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge

OUTAGES = Counter("flows_outages", "Outages of a dependency (database, mediator) seen", ["dependency"])
RETRIES = Counter("flows_retries", "Attempts retried because a dependency was unavailable",
                  ["dependency"])
UP = Gauge("flows_dependency_up", "1 while the dependency answers, 0 during an outage",
           ["dependency"])
OUTAGE_METRICS = (OUTAGES, RETRIES, UP)


@dataclass
class Backoff:
    """Delays of 0.5 s, 1 s, 2 s, ... up to ``most_s``, each with up to half of it as jitter
    (so a fleet of collectors does not come back at one instant)."""

    first_s: float = 0.5
    most_s: float = 10.0
    attempt: int = field(default=0, init=False)

    def next_delay(self) -> float:
        delay = min(self.most_s, self.first_s * float(2 ** min(self.attempt, 30)))
        self.attempt += 1
        return delay * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.attempt = 0


_down: set[str] = set()  # dependencies whose latest news was an outage
_down_lock = threading.Lock()


def ongoing_outages() -> set[str]:
    """The dependencies in an outage now, as this process last heard (for readiness)."""
    with _down_lock:
        return set(_down)


class Outage:
    """Logs an outage of ``dependency`` once when it starts and once when it ends."""

    def __init__(self, dependency: str, log: logging.Logger) -> None:
        self.dependency, self.log = dependency, log
        self.since: float | None = None
        UP.labels(dependency).set(1)

    @property
    def ongoing(self) -> bool:
        return self.since is not None

    def failed(self, error: BaseException | str) -> None:
        RETRIES.labels(self.dependency).inc()
        if self.since is not None:
            return
        self.since = time.monotonic()
        with _down_lock:
            _down.add(self.dependency)
        OUTAGES.labels(self.dependency).inc()
        UP.labels(self.dependency).set(0)
        self.log.warning("%s unavailable, retrying with backoff: %s", self.dependency, error,
                         extra={"event": "outage", "dependency": self.dependency})

    def recovered(self) -> None:
        if self.since is None:
            if self.dependency in _down:  # another part of the process saw it go down
                with _down_lock:
                    _down.discard(self.dependency)
                UP.labels(self.dependency).set(1)
            return
        seconds = time.monotonic() - self.since
        self.since = None
        with _down_lock:
            _down.discard(self.dependency)
        UP.labels(self.dependency).set(1)
        self.log.info("%s available again after %.1f s", self.dependency, seconds,
                      extra={"event": "recovered", "dependency": self.dependency,
                             "outage_s": round(seconds, 3)})


async def pause(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` unless ``stop`` is set first; whether it was."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max(0.0, seconds))
    return stop.is_set()
