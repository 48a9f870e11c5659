"""flows.eventloop: the commands' asyncio code runs on uvloop unless told otherwise."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from flows import eventloop


async def running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def test_uvloop_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(eventloop.ENVIRONMENT_VARIABLE, raising=False)
    assert isinstance(eventloop.run(running_loop()), uvloop.Loop)


def test_the_standard_loop_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(eventloop.ENVIRONMENT_VARIABLE, "asyncio")
    loop = eventloop.run(running_loop())
    assert not isinstance(loop, uvloop.Loop) and isinstance(loop, asyncio.BaseEventLoop)


def test_an_unknown_choice_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(eventloop.ENVIRONMENT_VARIABLE, "trio")
    with pytest.raises(eventloop.EventLoopChoiceError, match="must be 'uvloop' or 'asyncio', not 'trio'"):
        eventloop.run(running_loop())
