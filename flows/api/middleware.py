"""Every response's security headers and its access-log line, as a plain ASGI middleware (a
`BaseHTTPMiddleware` would cost a task and a stream per request)."""

from __future__ import annotations

import logging
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Pages get a content security policy: nothing from elsewhere, no framing. The dashboard runs
# no script at all; /docs runs Swagger UI's (its own file and one inline start-up script).
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self'; "
               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
DOCS_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' "
               "'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'")
access_log = logging.getLogger("flows.api.access")


class HeadersAndAccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status, logged = time.monotonic(), 500, False

        def log_request() -> None:
            # The path without its query, and the key's name: never a key, whatever was sent.
            nonlocal logged
            logged = True
            key = scope.get("state", {}).get("key_name")
            client = (scope.get("client") or ("unknown",))[0]  # a trusted proxy's forwarded one
            access_log.info("%s %s %s %d", client, scope["method"], scope["path"], status,
                            extra={"event": "request", "client": client,
                                   "method": scope["method"], "path": scope["path"],
                                   "status": status, "key": key,
                                   "duration_ms": round(1000 * (time.monotonic() - started), 1)})

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                if headers.get("content-type", "").startswith("text/html"):
                    headers["Content-Security-Policy"] = (
                        DOCS_POLICY if scope["path"] == "/docs" else PAGE_POLICY)
                    headers["X-Frame-Options"] = "DENY"
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                log_request()  # before the last byte leaves: a client that has the answer
                # can read its log line
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            if not logged:  # no answer sent (an error, a client gone)
                log_request()
