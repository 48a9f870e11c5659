"""The collector's Prometheus metrics, served at ``/metrics`` of its ``--health`` port: what the
sync success rate and the freshness alerts (deploy/prometheus/flows-alerts.yml) are computed
from."""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge

METER_SYNCS = Counter("flows_meter_syncs", "Meter syncs done by this collector, by frequency "
                      "and outcome (healthy, unhealthy)", ["frequency", "outcome"])
LAST_HEALTHY_SYNC = Gauge("flows_collector_last_healthy_sync_timestamp_seconds",
                          "When this collector last synced a meter healthy (Unix time)")


def meter_synced(frequency: str, healthy: bool) -> None:
    METER_SYNCS.labels(frequency=frequency, outcome="healthy" if healthy else "unhealthy").inc()
    if healthy:
        LAST_HEALTHY_SYNC.set(time.time())
