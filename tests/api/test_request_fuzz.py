"""A bounded fuzz of request bodies against a real server: huge (declared and chunked),
truncated, non-UTF-8, NaN and Infinity, deeply nested, and slowloris-style partial bodies.
No answer is a 5xx, the server's peak memory stays under `RSS_BOUND_MB`, and it still answers
at the end."""

from __future__ import annotations

import json
import random
import re
import socket
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flows.devtools.processes import FLOWS_COMMAND
from tests.api.conftest import ADMIN_KEY, populate

REQUESTS = 5_000
RSS_BOUND_MB = 300
BODY_TIMEOUT_S = 2
ROUTES = [("PUT", "/meters/EML0000/reads"), ("POST", "/customers/C0/links"),
          ("POST", "/meters/EML0000/links/end"), ("POST", "/login"), ("POST", "/logout")]
VALID = {"/meters/EML0000/reads": {"timestamp": "2025-03-28T00:00:00Z", "wh": 10_000,
                                   "reason": "fuzz"},
         "/customers/C0/links": {"serial": "EML0001", "valid_from": "2025-06-02",
                                 "reason": "fuzz"},
         "/meters/EML0000/links/end": {"at": "2030-01-01", "reason": "fuzz"}}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, int]]:
    from flows.db import connect, migrate

    path: Path = tmp_path_factory.mktemp("fuzz") / "flows.db"
    url = f"sqlite:///{path}"
    with connect(url) as db:
        migrate(db)
        populate(db)
    log = path.parent / "serve.log"
    process = subprocess.Popen([*FLOWS_COMMAND, "serve", "--port", "0", "--database", url,
                                "--api-keys", f"{ADMIN_KEY}=admin", "--body-timeout",
                                str(BODY_TIMEOUT_S)], stdout=subprocess.PIPE,
                               stderr=log.open("w"), text=True)
    try:
        assert process.stdout is not None
        found = re.search(r"http://([\d.]+):(\d+)", process.stdout.readline())
        assert found, log.read_text()
        yield found.group(0), int(found.group(2)), process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def bodies(rng: random.Random, path: str) -> bytes:
    """One malformed (or now and then valid) body for ``path``."""
    valid = json.dumps(VALID.get(path, {"key": "x"})).encode()
    kind = rng.randrange(7)
    if kind == 0:
        return valid[:rng.randrange(len(valid))]  # truncated
    if kind == 1:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))  # not UTF-8
    if kind == 2:
        return valid.replace(b"10000", rng.choice([b"NaN", b"Infinity", b"-Infinity", b"1e999"]))
    if kind == 3:
        depth = rng.randrange(100, 20_000)
        return b"[" * depth + b"]" * depth
    if kind == 4:
        return json.dumps({"timestamp": "2025-03-28T00:00:00Z", "wh": rng.choice(
            [-1, 2**70, "1", None, True, [], {}]), "extra": "x" * rng.randrange(100)}).encode()
    if kind == 5:
        return b"key=" + bytes(rng.randrange(256) for _ in range(50))  # a form of bytes
    return valid


def raw(port: int, head: str, body: bytes = b"", read: bool = True) -> int:
    """Send a request by hand on a socket; the status answered (0: none)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        try:
            connection.sendall(head.encode() + b"\r\n" + body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before taking it all: fine
        if not read:
            return 0
        answer = connection.recv(64)
    found = re.match(rb"HTTP/1\.1 (\d{3})", answer)
    return int(found.group(1)) if found else 0


def chunked_until_answered(port: int, path: str, chunk: int = 64 * 1024, most: int = 2**21
                           ) -> int:
    """A chunked body that keeps growing until the server answers (or ``most`` bytes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(f"PUT {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: {ADMIN_KEY}\r\n"
                           "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                           .encode())
        sent = 0
        try:
            while sent < most:
                connection.sendall(f"{chunk:x}\r\n".encode() + b"7" * chunk + b"\r\n")
                sent += chunk
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = connection.recv(64)
    found = re.match(rb"HTTP/1\.1 (\d{3})", answer)
    return int(found.group(1)) if found else 0


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]


@pytest.mark.slow
def test_no_malformed_body_makes_a_5xx_and_memory_stays_bounded(server: tuple[str, int, int]
                                                                ) -> None:
    url, port, pid = server
    rng = random.Random(26)
    statuses: Counter[int] = Counter()
    # Slowloris: partial bodies that never finish, held open while everything else runs.
    stalled: list[int] = []
    slow = [threading.Thread(target=lambda: stalled.append(raw(
        port, f"PUT /meters/EML0000/reads HTTP/1.1\r\nHost: x\r\nX-API-Key: {ADMIN_KEY}\r\n"
              "Content-Type: application/json\r\nContent-Length: 1000\r\n", b'{"times'))
    ) for _ in range(40)]
    for thread in slow:
        thread.start()
    with httpx.Client(base_url=url, headers={"X-API-Key": ADMIN_KEY}, timeout=30) as client:
        for _n in range(REQUESTS - 40 - 40 - 20):
            method, path = rng.choice(ROUTES)
            content_type = ("application/x-www-form-urlencoded" if path in ("/login", "/logout")
                            else "application/json")
            response = client.request(method, path, content=bodies(rng, path),
                                      headers={"Content-Type": content_type})
            statuses[response.status_code] += 1
    for _n in range(40):  # declared huge: refused by Content-Length, not read
        path = rng.choice(["/meters/EML0000/reads", "/login"])
        statuses[raw(port, f"PUT {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: {ADMIN_KEY}\r\n"
                           f"Content-Length: {300 * 2**20}\r\n", b"x" * 4096)] += 1
    for _n in range(20):  # chunked, growing until refused
        statuses[chunked_until_answered(port, "/meters/EML0000/reads")] += 1
    for thread in slow:
        thread.join(timeout=60)
    statuses.update(stalled)
    print(dict(statuses), f"peak RSS {peak_rss_mb(pid):.0f} MB")
    assert sum(statuses.values()) >= REQUESTS
    assert not [status for status in statuses if status >= 500 or status == 0], statuses
    assert statuses[413] >= 60 and stalled == [408] * 40, statuses
    assert peak_rss_mb(pid) < RSS_BOUND_MB
    assert httpx.get(url + "/readyz", timeout=30).status_code == 200
