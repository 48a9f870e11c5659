"""Liveness, readiness and Prometheus metrics of a long-running command over HTTP, on a port of
its own, served from a thread (so a busy or stuck main loop is what it reports, not what it
suffers from):

- ``GET /healthz``: 200 while the main loop beats (`HealthServer.beat`) at least every
  ``stale_s`` seconds, else 503 — for a liveness probe (restart me).
- ``GET /readyz``: 200 when ``ready()`` (e.g. no dependency in an outage), else 503 with the
  reason — for a readiness probe (do not count on me now).
- ``GET /metrics``: the process's Prometheus metrics (outages, retries, ...).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from flows.retry import ongoing_outages

Readiness = Callable[[], str | None]  # None: ready, else why not


def listen_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``PORT`` (on 127.0.0.1) → (host, port); ValueError naming the problem."""
    host, _, port = text.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r}: expected HOST:PORT or PORT (0 to 65535)")
    return host or "127.0.0.1", int(port)


def no_outage() -> str | None:
    """Ready unless a dependency (database, mediator) is in an outage."""
    ongoing = ongoing_outages()
    return f"unavailable: {', '.join(sorted(ongoing))}" if ongoing else None


class HealthError(Exception):
    """``--health`` cannot be served: a malformed address or a port in use."""


def serve_health(listen: str | None) -> HealthServer | None:
    """The started health server of a ``--health HOST:PORT`` option (None: not asked for)."""
    if listen is None:
        return None
    try:
        return HealthServer(*listen_address(listen)).start()
    except (ValueError, OSError) as error:
        raise HealthError(f"--health {listen}: {error}") from None


class HealthServer:
    def __init__(self, host: str, port: int, ready: Readiness = no_outage,
                 stale_s: float = 30.0) -> None:
        self.ready, self.stale_s = ready, stale_s
        self.last_beat = time.monotonic()
        health = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body, kind = health.answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass  # probes every few seconds would drown the service's own log

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.port = int(self.server.server_address[1])

    def beat(self) -> None:
        """Called by the main loop: it is alive."""
        self.last_beat = time.monotonic()

    def answer(self, path: str) -> tuple[int, bytes, str]:
        text = "text/plain; charset=utf-8"
        if path == "/healthz":
            silent = time.monotonic() - self.last_beat
            if silent > self.stale_s:
                return 503, f"main loop silent for {silent:.0f} s\n".encode(), text
            return 200, b"ok\n", text
        if path == "/readyz":
            reason = self.ready()
            return (503, f"{reason}\n".encode(), text) if reason else (200, b"ready\n", text)
        if path == "/metrics":
            return 200, generate_latest(), CONTENT_TYPE_LATEST
        return 404, b"not found: /healthz, /readyz or /metrics\n", text

    def start(self) -> HealthServer:
        threading.Thread(target=self.server.serve_forever, name="health", daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
