"""The console's meter lists on both engines: each state lists exactly the meters fleet health
counts in it; filters, search (literal, any case), sorting (empty values last either way) and
paging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from flows.db import Database, fleet, registry, shadows
from flows.db.fleet import STATES
from flows.db.fleet_lists import ListError, filter_options, meter_list
from flows.views import update
from tests.db.test_monitoring import profile, register_of

NOW = datetime(2025, 6, 6, 12, tzinfo=UTC)


def seed(db: Database) -> None:
    """Eight meters, one or more states each: healthy with usage, unhealthy, offline, never
    synced, low balance, clock drift, half hours missing, healthy without usage; a passive
    meter (never listed)."""
    north, south = registry.add_esco(db, "NORTH"), registry.add_esco(db, "SOUTH")
    meters = {}
    for n, (serial, esco, hardware) in enumerate([
            ("EML1", north, "B1.w"), ("EML2", north, "B1.w"), ("EML3", south, "C1.w"),
            ("EML4", south, "B1.w"), ("EML5", north, "B1.w"), ("EML6", south, "B1.w"),
            ("EML7", north, "B1.w"), ("EML_8", north, "B1.w"), ("EML9", north, "B1.w")]):
        meters[serial] = registry.add_meter(db, serial, f"127.20.0.{n + 1}", hardware, esco,
                                            mode="passive" if serial == "EML9" else "active")
    seen = {"csq": 20, "csq_at": NOW - timedelta(minutes=20)}
    shadows.update_shadow_healthy(db, meters["EML1"], {**seen, "balance": Decimal("40.10")})
    shadows.update_shadow_unhealthy(db, meters["EML2"], "mediator: failed to connect")
    shadows.update_shadow_healthy(db, meters["EML3"], {"csq": 11, "csq_at": NOW - timedelta(hours=5)})
    shadows.update_shadow_healthy(db, meters["EML5"], {**seen, "balance": Decimal("3.50")})
    shadows.update_shadow_healthy(db, meters["EML6"], {**seen, "clock_time_diff_seconds": -400})
    shadows.update_shadow_healthy(db, meters["EML7"], {**seen, "balance": Decimal("15.00")})
    shadows.update_shadow_healthy(db, meters["EML_8"], seen)
    first = datetime(2025, 6, 1, 9, tzinfo=UTC)
    for serial in ("EML1", "EML5", "EML6", "EML7"):
        profile(db, register_of(db, meters[serial]), first, NOW)
    # A twin-element meter whose element B reports from 3 June: 2 June misses B's 48.
    profile(db, registry.register_id(db, "EML3", "A"), first, NOW)
    profile(db, registry.register_id(db, "EML3", "B"), datetime(2025, 6, 2, 23, tzinfo=UTC), NOW)
    update(db)


def serials(db: Database, state: str = "active", **options: object) -> list[str]:
    return [row["serial"] for row in meter_list(db, state, now=NOW, **options).rows]  # type: ignore[arg-type]


def test_each_state_lists_what_fleet_health_counts(db: Database) -> None:
    seed(db)
    health = fleet.health(db, NOW)
    counts = {**health["counts"], "missing_half_hours": len(health["missing_half_hours"])}
    assert set(STATES) == set(counts)
    listed = {state: meter_list(db, state, now=NOW) for state in STATES}
    for state, found in listed.items():
        assert found.total == counts[state] == len(found.rows), state
    for state in ("unhealthy", "offline", "low_balance", "clock_drift", "no_usage",
                  "missing_half_hours"):
        assert [row["serial"] for row in listed[state].rows] == sorted(
            row["serial"] for row in health[state]), state
    assert [row["serial"] for row in listed["missing_half_hours"].rows] == ["EML3"]
    assert listed["missing_half_hours"].rows[0]["missing"] == 48
    # Each state's meters, as seeded (the lists and the counts share `fleet.STATES`).
    assert {state: serials(db, state) for state in STATES} == {
        "active": ["EML1", "EML2", "EML3", "EML4", "EML5", "EML6", "EML7", "EML_8"],
        "healthy": ["EML1", "EML3", "EML5", "EML6", "EML7", "EML_8"],
        "unhealthy": ["EML2"], "never_synced": ["EML4"],
        "offline": ["EML2", "EML3", "EML4"],  # never seen, or 5 h ago
        "low_balance": ["EML5"], "clock_drift": ["EML6"], "no_usage": ["EML_8"],
        "missing_half_hours": ["EML3"]}
    assert serials(db, "never_synced") == ["EML4"]
    assert serials(db, "low_balance") == ["EML5"]  # 15.00 is not low; text compares would say so
    unhealthy = listed["unhealthy"].rows[0]
    assert unhealthy["unhealthy_since"] is not None and unhealthy["last_healthy_at"] is None


def test_filters_search_sorting_and_pages(db: Database) -> None:
    seed(db)
    assert serials(db, esco="north") == ["EML1", "EML2", "EML5", "EML7", "EML_8"]
    assert serials(db, hardware="C1.w") == ["EML3"]
    assert serials(db, health="never_synced") == ["EML4"]
    assert serials(db, search="ml_") == ["EML_8"]  # _ is a character, not a wildcard
    assert serials(db, search="%") == []
    by_balance = serials(db, sort="balance")
    assert by_balance[:3] == ["EML5", "EML7", "EML1"]  # then the meters without a balance
    assert serials(db, sort="balance", descending=True)[:3] == ["EML1", "EML7", "EML5"]
    assert serials(db, sort="missing", descending=True)[0] == "EML3"
    page = meter_list(db, now=NOW, offset=2, limit=3)
    assert page.total == 8 and [row["serial"] for row in page.rows] == ["EML3", "EML4", "EML5"]
    assert filter_options(db) == {"esco": ["NORTH", "SOUTH"], "hardware": ["B1.w", "C1.w"]}


@pytest.mark.parametrize("options", [{"state": "lost"}, {"sort": "colour"},
                                     {"health": "poorly"}])
def test_unknown_choices_name_the_problem(db: Database, options: dict[str, str]) -> None:
    name = next(iter(options))
    with pytest.raises(ListError, match=f"unknown {name}"):
        meter_list(db, now=NOW, **options)  # type: ignore[arg-type]
