"""How Flows' long-running commands run their asyncio code: on uvloop where it is installed.

The collector, mediator and simulated fleet spend most of their time opening sockets, moving
small frames and waking timers; uvloop (libuv) does that at a fraction of the CPU of the
standard event loop (the fleet benchmark: about a quarter less CPU in all). `FLOWS_EVENT_LOOP=
asyncio` chooses the standard loop, e.g. to debug with asyncio's debug mode.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
ENVIRONMENT_VARIABLE = "FLOWS_EVENT_LOOP"
YOUNGEST_GENERATION_THRESHOLD = 7_000  # the default is 700


class EventLoopChoiceError(ValueError):
    """FLOWS_EVENT_LOOP names no event loop we know."""


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop's loop when installed and not declined, else asyncio's."""
    choice = os.environ.get(ENVIRONMENT_VARIABLE, "uvloop").strip().lower()
    if choice not in ("uvloop", "asyncio"):
        raise EventLoopChoiceError(f"{ENVIRONMENT_VARIABLE} must be 'uvloop' or 'asyncio', not {choice!r}")
    if choice == "uvloop":
        try:
            import uvloop
        except ImportError:  # not available on this platform (Windows): the standard loop
            pass
        else:
            return uvloop.new_event_loop
    return asyncio.new_event_loop


def tune_garbage_collector() -> None:
    """Every request makes a few dozen short-lived objects (futures, frames, messages), and
    the default thresholds then run a collection every few requests, each full one walking
    everything the process built at startup (the fleet's meters, imported modules). Freezing
    those and collecting the youngest generation ten times less often took the fleet
    benchmark's collector from 0.76 s of collections per cycle to about 0.3 s."""
    gc.freeze()
    youngest, middle, oldest = gc.get_threshold()
    gc.set_threshold(max(youngest, YOUNGEST_GENERATION_THRESHOLD), middle, oldest)


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on the chosen event loop, with the garbage collector set for a
    long-running server."""
    try:
        factory = loop_factory()
    except EventLoopChoiceError:
        main.close()  # never started: no "never awaited" warning on top of the error
        raise
    tune_garbage_collector()
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
