"""Bounded requests. Body sizes are FastAPI's own limits (``max_body_size``: the app's
`MAX_BODY`, smaller on the login form), refused with 413 by Content-Length before the body is
read, or as soon as a chunked body grows past it. Here: a body that trickles in slower than
the app's body timeout is cut with 408 (a slow client holds no route for long), and an invalid
request is answered without echoing what was sent (an error that repeats a 400 MB input is
another 400 MB, and a NaN cannot be written back as JSON)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 64 * 1024  # nothing in the API takes more
FORM_BODY = 4 * 1024  # the login and logout forms
DEFAULT_BODY_TIMEOUT_S = 30.0  # the whole body must arrive within this


class BodyTimeout:
    """408 when a request's body has not arrived within ``timeout_s`` of its first read."""

    def __init__(self, app: ASGIApp, timeout_s: float = DEFAULT_BODY_TIMEOUT_S) -> None:
        self.app, self.timeout_s = app, timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = timed_out = False
        deadline: float | None = None
        loop = asyncio.get_running_loop()

        async def timed_receive() -> Message:
            nonlocal deadline, timed_out
            if timed_out:
                return {"type": "http.disconnect"}
            deadline = deadline or loop.time() + self.timeout_s
            try:
                return await asyncio.wait_for(receive(), timeout=max(0.001, deadline - loop.time()))
            except TimeoutError:
                timed_out = True
                if not started:  # answer now; the app sees a client that went away
                    await _send_json(send, 408, f"the body did not arrive within "
                                                f"{self.timeout_s:g} s")
                return {"type": "http.disconnect"}

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if timed_out:
                return  # answered already
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, timed_receive, tracking_send)


async def _send_json(send: Send, status: int, detail: str) -> None:
    body = JSONResponse({"detail": detail}).body
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


async def invalid_request(request: Request, error: Exception) -> JSONResponse:
    """422 naming where and what, never echoing the input."""
    assert isinstance(error, RequestValidationError)
    details: list[dict[str, Any]] = [
        {"loc": list(item.get("loc", ())), "msg": str(item.get("msg", ""))[:300],
         "type": item.get("type", "")} for item in error.errors()[:20]]
    return JSONResponse({"detail": jsonable_encoder(details)}, status_code=422)
