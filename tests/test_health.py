"""Health endpoints of long-running commands: liveness follows the main loop's beat, readiness
follows outages, metrics count them (a real HTTP server on a free port)."""

from __future__ import annotations

import logging
import time

import httpx
import pytest

from flows.health import HealthError, HealthServer, listen_address, serve_health
from flows.retry import Outage


@pytest.fixture
def health() -> HealthServer:
    server = HealthServer("127.0.0.1", 0, stale_s=30).start()
    yield server  # type: ignore[misc]
    server.stop()


def get(health: HealthServer, path: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{health.port}{path}", timeout=10)


def test_liveness_follows_the_main_loops_beat(health: HealthServer) -> None:
    health.beat()
    assert get(health, "/healthz").status_code == 200
    health.last_beat = time.monotonic() - 31  # the loop has been silent past the bound
    silent = get(health, "/healthz")
    assert silent.status_code == 503 and "silent" in silent.text
    health.beat()
    assert get(health, "/healthz").status_code == 200


def test_readiness_and_metrics_follow_outages(health: HealthServer) -> None:
    # Readiness is the whole process's: other tests' dependencies may be down too, so this
    # one looks at its own dependency's name.
    outage = Outage("test-database", logging.getLogger("test"))
    assert "test-database" not in get(health, "/readyz").text
    outage.failed("connection refused")
    outage.failed("connection refused")  # one outage, two retries
    down = get(health, "/readyz")
    assert down.status_code == 503 and "test-database" in down.text
    metrics = get(health, "/metrics").text
    assert 'flows_outages_total{dependency="test-database"} 1.0' in metrics
    assert 'flows_retries_total{dependency="test-database"} 2.0' in metrics
    assert 'flows_dependency_up{dependency="test-database"} 0.0' in metrics
    outage.recovered()
    assert "test-database" not in get(health, "/readyz").text
    assert get(health, "/nope").status_code == 404


def test_ready_when_no_dependency_is_down() -> None:
    server = HealthServer("127.0.0.1", 0, ready=lambda: None).start()
    try:
        ready = get(server, "/readyz")
        assert ready.status_code == 200 and ready.text == "ready\n"
    finally:
        server.stop()


@pytest.mark.parametrize("text, expected", [("9100", ("127.0.0.1", 9100)),
                                            ("0.0.0.0:80", ("0.0.0.0", 80))])
def test_listen_addresses(text: str, expected: tuple[str, int]) -> None:
    assert listen_address(text) == expected


@pytest.mark.parametrize("text", ["", "host:", "host:http", "1:70000"])
def test_bad_listen_addresses_name_the_problem(text: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        listen_address(text)


def test_serve_health_names_a_bad_option_and_serves_a_good_one() -> None:
    assert serve_health(None) is None
    with pytest.raises(HealthError, match="--health nope"):
        serve_health("nope")
    server = serve_health("127.0.0.1:0")
    assert server is not None
    try:
        assert get(server, "/metrics").status_code == 200
    finally:
        server.stop()
