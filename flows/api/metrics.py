"""Prometheus metrics, computed from the database at each scrape."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from flows.db import Database, change_log, fleet


def metrics_text(db: Database) -> str:
    registry = CollectorRegistry()
    health = fleet.health(db)
    meters = Gauge("flows_meters", "Active meters by state", ["state"], registry=registry)
    for state, count in health["counts"].items():
        meters.labels(state=state).set(count)
    missing = Gauge("flows_missing_half_hours", "Half hours missing in the last 7 days",
                    registry=registry)
    missing.set(sum(row["missing"] for row in health["missing_half_hours"]))
    position = change_log.last_change(db)
    Gauge("flows_register_value_changes", "Changes logged for the views",
          registry=registry).set(int(position))
    return generate_latest(registry).decode()
