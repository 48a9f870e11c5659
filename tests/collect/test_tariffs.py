"""`flows tariffs schedule`: a future tariff written through the mediator to simulated meters
(real TCP, real gRPC) and read back; every meter ends verified or failed with its reason,
audited; a re-run skips the verified ones and retries the others."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli import main as cli
from flows.collect.tariffs import ScheduleSummary, schedule_tariff
from flows.db import Database, InvalidValueError, connect, migrate, registry, tariffs
from flows.db.tariffs import FutureTariff
from flows.emop import records
from flows.emop.messages import WRITE, Format, ObjectId
from flows.mediator import MediatorClient
from flows.meters import FaultRates, Faults, VirtualMeter, build_fleet
from tests.collect.fleet import START, Running, fleet_behind_mediator

RATES = FaultRates(no_answer=0.03, corrupt_crc=0.03, nak=0.02, refuse_connections=0.02)
TARIFF = FutureTariff(START.replace(microsecond=0) + timedelta(days=30), Decimal("0.61234"),
                      Decimal("0.27891"), debt_recovery_rate=Decimal("0.25"))

def writes_by_serial(running: Running) -> dict[str, int]:
    """How many object writes each meter was sent (data field: format, object id, read/write)."""
    return {serial: sum(1 for data in requests if data[0] == Format.OBJECT and data[4] == WRITE)
            for serial, requests in running.requests_by_serial().items()}


def run(db: Database, meters: list[VirtualMeter], rounds: int, mended: VirtualMeter
        ) -> list[tuple[ScheduleSummary, dict[str, int]]]:
    """``rounds`` schedules of TARIFF to every meter; each summary with the writes each meter
    got in that round. After the first round the ``mended`` meter's faults are gone."""
    async def main() -> list[tuple[ScheduleSummary, dict[str, int]]]:
        results = []
        async with fleet_behind_mediator(db, meters) as running, MediatorClient(
                running.mediator, deadline_s=20) as client:
            serials = [m.serial for m in meters]
            for _ in range(rounds):
                before = writes_by_serial(running)
                summary = await schedule_tariff(db, client, TARIFF, serials, "test", parallel=50)
                after = writes_by_serial(running)
                results.append((summary, {s: after[s] - before.get(s, 0) for s in after}))
                mended.faults = Faults()
        return results

    return asyncio.run(main())


@pytest.mark.slow
def test_200_meters_with_faults_end_verified_or_failed_and_a_rerun_skips_the_verified(
        db: Database) -> None:
    meters = build_fleet(200, seed=31, start=START, rates=RATES)
    faulty = {m.serial for m in meters if m.faults.active() or m.three_phase}
    assert 8 <= len(faulty) <= 60
    # A meter whose replies were wrong (a listener refusing connections stays closed).
    mending = next(m for m in meters if m.faults.nak_code is not None or m.faults.corrupt_crc)
    mended = mending.serial

    (first, first_writes), (second, second_writes) = run(db, meters, 2, mending)

    # Every meter ends verified or failed with a reason; what verified, the meter holds.
    assert set(first.verified) | set(first.failed) == {m.serial for m in meters}
    assert set(first.failed) == faulty
    assert all(reason for reason in first.failed.values())
    three_phase = next(m.serial for m in meters if m.three_phase)
    assert "NAK 5" in first.failed[three_phase]  # the meter's own refusal, with its code
    by_serial = {m.serial: m for m in meters}
    for serial in first.verified:
        written = by_serial[serial].written
        assert written[ObjectId.TARIFF_FUTURE_STANDING_CHARGE] == records.encode_money(
            TARIFF.standing_charge)
        assert written[ObjectId.TARIFF_FUTURE_DEBT_RECOVERY_RATE] == records.encode_money(
            Decimal("0.25"))
        assert written[ObjectId.TARIFF_FUTURE_EMERGENCY_CREDIT] == records.encode_money(
            Decimal("5"))  # not given: the meter's own kept
        assert first_writes[serial] == 11
    # The re-run skips the verified meters (not one write) and retries the failed ones.
    assert sorted(second.skipped) == sorted(first.verified)
    assert all(second_writes[serial] == 0 for serial in first.verified)
    assert mended in second.verified, second.failed.get(mended)
    assert set(second.failed) == faulty - {mended}
    # Audited: each attempt's outcome, the last one per meter.
    outcomes = tariffs.latest_outcomes(db, first.schedule_id)
    assert outcomes[mended]["outcome"] == "verified" and outcomes[mended]["actor"] == "test"
    assert {serial for serial, last in outcomes.items() if last["outcome"] == "failed"} == (
        faulty - {mended})
    assert db.query("SELECT count(*) AS n FROM tariff_schedule_outcomes")[0]["n"] == (
        200 + len(faulty))


def test_a_write_the_meter_refuses_is_a_failure_with_its_code(db: Database) -> None:
    meter = next(m for m in build_fleet(20, seed=3, start=START) if m.hardware == "C1.w")
    past = FutureTariff(START.replace(microsecond=0) - timedelta(days=1), Decimal("0.5"),
                        Decimal("0.2"), Decimal("5"), Decimal("2.5"), Decimal("0.5"))

    async def main() -> ScheduleSummary:
        async with fleet_behind_mediator(db, [meter]) as running, MediatorClient(
                running.mediator, deadline_s=20) as client:
            return await schedule_tariff(db, client, past, [meter.serial], "test")

    summary = asyncio.run(main())
    # An activation time already past by the meter's clock: refused at the last object.
    assert summary.verified == [] and "NAK 2" in summary.failed[meter.serial]
    assert ObjectId.TARIFF_FUTURE_ACTIVATION_DATETIME not in meter.written


def test_the_same_tariff_written_otherwise_is_the_same_schedule(db: Database) -> None:
    again = FutureTariff(TARIFF.activation, Decimal("0.612340"), Decimal("0.27891000"),
                         debt_recovery_rate=Decimal("0.250"))
    other = FutureTariff(TARIFF.activation, Decimal("0.61235"), TARIFF.unit_rate)
    first = tariffs.schedule(db, TARIFF, "test")
    assert tariffs.schedule(db, again, "someone else") == first
    assert tariffs.schedule(db, other, "test") != first


def test_meters_are_chosen_by_esco_list_or_file_and_unknown_ones_are_named(
        db: Database, tmp_path: Path) -> None:
    registry.add_esco(db, "MOR")
    escos = registry.esco_ids(db)
    for n in range(3):
        registry.add_meter(db, f"EML{n}", "127.0.0.1", "C1.w", escos["MOR"] if n else None,
                           port=9000 + n)
    listed = tmp_path / "meters.txt"
    listed.write_text("EML0  # the first\n\nEML2\n")
    assert tariffs.target_meters(db, esco="mor") == ["EML1", "EML2"]
    assert tariffs.target_meters(db, serials=("EML0",), file=listed) == ["EML0", "EML2"]
    with pytest.raises(InvalidValueError, match="unknown meters: EML9"):
        tariffs.target_meters(db, serials=("EML0", "EML9"))
    with pytest.raises(InvalidValueError, match="no meters"):
        tariffs.target_meters(db)


def test_the_command_refuses_bad_tariffs_before_writing_anything(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'flows.db'}"
    with connect(url) as db:
        migrate(db)
        registry.add_meter(db, "EML1", "127.0.0.1", "C1.w", None)
    common = ["tariffs", "schedule", "--database", url, "--serial", "EML1",
              "--mediator", "127.0.0.1:1"]
    cases = {
        ("--from", "2027-01-01T00:00:00+0000", "--standing-charge", "0.123456",
         "--unit-rate", "0.2"): "5 decimal places",
        ("--from", "2027-01-01T00:00:00", "--standing-charge", "0.5",
         "--unit-rate", "0.2"): "time zone",
        ("--from", "2027-01-01T00:00:00+0000", "--standing-charge", "lots",
         "--unit-rate", "0.2"): "not an amount",
        ("--from", "2027-01-01T00:00:00+0000", "--standing-charge", "0.5",
         "--unit-rate", "-1"): "from 0",
    }
    for args, message in cases.items():
        result = CliRunner().invoke(cli, [*common, *args])
        assert result.exit_code != 0 and message in result.output, (args, result.output)
    with connect(url) as db:
        assert db.query("SELECT count(*) AS n FROM tariff_schedules")[0]["n"] == 0
