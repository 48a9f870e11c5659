"""Simulated fleet (real TCP) → mediator (real gRPC) → sync cycles → the Flows database, on
SQLite and PostgreSQL: values land exactly, faulty meters are unhealthy with specific details."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from flows.collect import CycleSummary, sync_cycle
from flows.db import Database, connect, history, migrate, registry, shadows
from flows.devtools.processes import start_flows_line, stop_flows
from flows.mediator import MediatorClient
from flows.meterdata import LOCAL_ZONE as LONDON
from flows.meterdata import local_midnight
from flows.meters import FaultRates, Faults, build_fleet
from flows.views import update
from tests.collect.fleet import PATIENT, START, fleet_behind_mediator, only_metric, run_cycles

RATES = FaultRates(no_answer=0.03, corrupt_crc=0.03, nak=0.02, refuse_connections=0.02)
HALF_HOUR = timedelta(minutes=30)


def synced(frequency: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("flows_meter_syncs_total",
                                     {"frequency": frequency, "outcome": outcome}) or 0.0


@pytest.mark.slow
def test_a_fleet_syncs_into_the_database(db: Database) -> None:
    registry.set_metric(db, "SyncerProfileLog", enabled=False)  # its 30-day backfill: own test
    meters = build_fleet(200, seed=21, start=START, rates=RATES)
    faulty = {m.serial: m.faults.active()[0] for m in meters if m.faults.active()}
    assert 8 <= len(faulty) <= 40

    before = {key: synced(*key) for key in itertools.product(("hourly", "daily"),
                                                              ("healthy", "unhealthy"))}
    started = time.time()
    summaries = run_cycles(db, meters, ("hourly", "daily"))
    for frequency, summary in summaries.items():
        assert summary.ok == 200 - len(faulty) and summary.unhealthy == len(faulty)
        # What the sync success rate alert reads (the collector's /metrics).
        assert synced(frequency, "healthy") - before[frequency, "healthy"] == summary.ok
        assert synced(frequency, "unhealthy") - before[frequency, "unhealthy"] == len(faulty)
    last_healthy = REGISTRY.get_sample_value("flows_collector_last_healthy_sync_timestamp_seconds")
    assert last_healthy is not None and started <= last_healthy <= time.time()
    stored = {m.serial: m for m in registry.meters(db)}
    for meter in meters:
        row = shadows.shadow(db, stored[meter.serial].id)
        if meter.serial in faulty:
            assert row["health"] == "unhealthy" and row["csq"] is None
            expected = {
                "no_answer": "sent no complete reply",
                "corrupt_crc": "CRC mismatch",
                "refuse_connections": "failed to connect after retries",
            }
            kind = faulty[meter.serial]
            assert expected.get(kind, "NAK") in row["health_details"], (kind, row["health_details"])
            continue
        assert row["health"] == "healthy" and row["health_details"] == ""
        element_a = meter.element_a(START)
        if not meter.three_phase:
            assert row["import_a"] == element_a.import_active / 1000
            assert Decimal(str(row["balance"])) == meter.balance(START)
            reads = history.register_history(db, stored[meter.serial].id, "A")
            assert [read for _, read in reads] == [element_a.import_active / 1000]
        assert row["csq"] == meter.signal_quality(START).csq
        # The deployed sign: our time (when synced) minus the meter's (frozen at START here).
        behind = (START - meter.clock(START)).total_seconds()
        assert behind - 1 <= row["clock_time_diff_seconds"] <= behind + (
            datetime.now(UTC) - START).total_seconds() + 1
    twin = next(m for m in meters if m.hardware == "C1.w" and m.serial not in faulty)
    registered = db.query(
        "SELECT firmware_version, prepay_enabled FROM meter_registry WHERE serial = :s", {"s": twin.serial}
    )[0]
    assert registered["firmware_version"].startswith("3_0") and registered["prepay_enabled"]
    events = db.query(
        "SELECT count(*) AS n FROM meter_event_log WHERE meter_id = :m", {"m": stored[twin.serial].id}
    )[0]["n"]
    assert events == len(twin.events(START))


def test_profile_log_backfills_30_days(db: Database) -> None:
    for name in registry.enabled_metrics(db, "daily"):
        registry.set_metric(db, name, enabled=name == "SyncerProfileLog")
    twin = next(m for m in build_fleet(20, seed=5, start=START) if m.hardware == "C1.w")
    summary = run_cycles(db, [twin], ("daily",))["daily"]
    assert summary.ok == 1
    meter_id = registry.meters(db)[0].id
    profile = db.query(
        "SELECT r.element, p.timestamp, p.cumulative_wh FROM register_profile_hh p "
        "JOIN meter_registers r ON r.register_id = p.register_id WHERE r.meter_id = :m "
        "ORDER BY r.element, p.timestamp",
        {"m": meter_id},
    )
    element_a = [
        (p["timestamp"], p["cumulative_wh"]) for p in profile if p["element"] == "A"
    ]
    element_b = [p for p in profile if p["element"] == "B"]
    assert 30 * 48 <= len(element_a) == len(element_b) <= 30 * 48 + 2  # 30 days, both ends
    assert all(wh == twin.element_a(ts).import_active for ts, wh in element_a)
    assert all(b - a == HALF_HOUR for (a, _), (b, _) in itertools.pairwise(element_a))


def test_a_meter_silent_past_our_deadline_is_its_fault_when_the_mediator_answers(
        db: Database) -> None:
    """A mediator that waits longer for a silent meter than our deadline (as the deployed one
    retries ~5 × 17 s): the deadline is the meter's fault, not an outage, and the cycle ends."""
    meters = build_fleet(6, seed=4, start=START)
    for meter in meters:
        meter.faults = Faults()
    meters[0].faults.no_answer = True
    only_metric(db, "hourly", "SyncerCsq")

    async def main() -> CycleSummary:
        async with fleet_behind_mediator(db, meters, PATIENT) as running, MediatorClient(
                running.mediator, deadline_s=1.0) as client:
            return await sync_cycle(db, client, "hourly", parallel=6,
                                    retry_until=datetime.now(UTC) + timedelta(minutes=5))

    summary = asyncio.run(main())
    assert (summary.ok, summary.unhealthy, summary.left, summary.retries) == (5, 1, 0, 0)
    reason = summary.problems[meters[0].serial]
    assert reason.startswith("SyncerCsq: no answer within 1 s while the mediator answers")
    row = shadows.shadow(db, registry.meter_id(db, meters[0].serial))
    assert row["health"] == "unhealthy" and "no answer" in row["health_details"]


@pytest.mark.slow
def test_three_phase_meters_have_half_hours_and_usage_like_single_phase_ones(
        tmp_path: Path) -> None:
    """The interval profile (format 0x14) into the profile history, in Wh whatever the meter
    kind (a CT-operated meter counts tenths of a Wh); the views then give a three-phase meter's
    whole day its 48 half hours, served by `GET /meters/{serial}/consumption`."""
    url = f"sqlite:///{tmp_path / 'flows.db'}"
    db = connect(url)
    migrate(db)
    for name in registry.enabled_metrics(db, "daily"):
        registry.set_metric(db, name, enabled=name == "SyncerProfileLog")
    fleet = build_fleet(100, seed=5, start=START)
    meters = [next(m for m in fleet if m.hardware == kind) for kind in ("P1.ax", "P1.cx")]

    async def sync() -> CycleSummary:
        async with fleet_behind_mediator(db, meters) as running, MediatorClient(
                running.mediator, deadline_s=30) as client:
            return await sync_cycle(db, client, "daily", profile_days=3)

    summary = asyncio.run(sync())
    assert (summary.ok, summary.unhealthy) == (2, 0), summary.problems
    for meter in meters:
        profile = db.query(
            "SELECT p.timestamp, p.cumulative_wh FROM register_profile_hh p JOIN meter_registers r "
            "ON r.register_id = p.register_id JOIN meter_registry m ON m.id = r.meter_id "
            "WHERE m.serial = :serial ORDER BY p.timestamp", {"serial": meter.serial})
        assert 3 * 48 <= len(profile) <= 3 * 48 + 2, meter.hardware
        assert all(row["cumulative_wh"] == meter.registers(row["timestamp"])[0] for row in profile)
        assert all(b["timestamp"] - a["timestamp"] == HALF_HOUR for a, b in itertools.pairwise(profile))
    update(db)
    server, line = start_flows_line(["serve", "--port", "0", "--database", url, "--api-keys",
                                     "reader-key=read"], "http://")
    try:
        base = re.search(r"http://[\d.]+:\d+", line)
        assert base is not None, line
        yesterday = (START.astimezone(LONDON) - timedelta(days=1)).date()
        for meter in meters:
            answer = httpx.get(f"{base.group(0)}/meters/{meter.serial}/consumption",
                               headers={"X-API-Key": "reader-key"},
                               params={"group_by": "day",
                                       "period_from": local_midnight(yesterday).isoformat(),
                                       "period_to": local_midnight(yesterday + timedelta(days=1))
                                       .isoformat()})
            assert answer.status_code == 200, answer.text
            days = answer.json()["results"]
            assert [row["counts"] for row in days] == [
                {"actual": 48, "estimated": 0, "invalid": 0, "missing": 0, "expected": 48}]
    finally:
        stop_flows(server)
