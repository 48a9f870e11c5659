"""Prometheus metrics, computed from the database at each scrape."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from flows.api.missing_cache import MissingHalfHours
from flows.db import Database, fleet
from flows.views import freshness


def metrics_text(db: Database, missing: MissingHalfHours) -> str:
    registry = CollectorRegistry()
    now, fresh = datetime.now(UTC), freshness(db)
    health = fleet.counts(db, now)
    meters = Gauge("flows_meters", "Active meters by state", ["state"], registry=registry)
    for state, count in health["counts"].items():
        meters.labels(state=state).set(count)
    Gauge("flows_missing_half_hours", "Half hours missing in the last 7 days",
          registry=registry).set(sum(row["missing"] for row in missing(db, now, fresh)))
    last_healthy = health["last_healthy_sync_at"]
    Gauge("flows_last_healthy_sync_timestamp_seconds", "When a meter was last synced healthy, "
          "by any collector (Unix time; 0: never)", registry=registry).set(
        last_healthy.timestamp() if last_healthy else 0)
    Gauge("flows_register_value_changes", "Changes logged for the views",
          registry=registry).set(fresh.logged)
    Gauge("flows_views_lag_changes", "Logged changes the views have not applied yet",
          registry=registry).set(fresh.lag_changes)
    Gauge("flows_views_lag_seconds", "How long the views have lagged behind the change log "
          "(+Inf: they never caught up)", registry=registry).set(fresh.lag_seconds)
    Gauge("flows_views_quarantined_meters", "Meters whose changes the views could not apply",
          registry=registry).set(fresh.quarantined)
    return generate_latest(registry).decode()
