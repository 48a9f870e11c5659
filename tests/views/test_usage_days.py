"""Days you can bill on: the daily aggregates the views maintain (sums and counts, import and
export, per meter and per customer) against a from-scratch recomputation after every kind of
change, the quality and completeness of every period, and day reads that never touch the half
hours."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from uuid import UUID

from click.testing import CliRunner

from flows.cli import main as cli
from flows.db import Database, connect, corrections, customers, migrate, registry
from flows.views import update, usage
from flows.views.rules import DayTotal
from tests.views.helpers import (
    HALF_HOUR,
    LONDON,
    linked_meters,
    recomputed_days,
    view_days,
    write_reads,
    write_values,
)

# Saturday 29 March 2025, 21:00 UTC: the next day (30 March) is the spring DST day (46 half hours).
START = datetime(2025, 3, 29, 21, 30, tzinfo=UTC)


def _meter(db: Database, serial: str = "EML0000") -> UUID:
    return registry.meter_id(db, serial)


def _values(registers: list[UUID], start: datetime, count: int) -> list[tuple[UUID, datetime, int]]:
    return [(r, start + n * HALF_HOUR, 10_000 + n * 100) for r in registers for n in range(count)]


def _assert_days_match(db: Database) -> None:
    update(db)
    recomputed = recomputed_days(db)
    assert view_days(db) == recomputed
    _assert_quality_of_every_day(db, recomputed[0])


def _assert_quality_of_every_day(db: Database, meter_days: dict) -> None:  # type: ignore[type-arg]
    """Every day the API reads, against an independent count: expected = the local day's half
    hours (46/48/50, from the time zone) x the meter's two registers."""
    for meter, direction in {(m, d) for m, d, _ in meter_days}:
        days = sorted(day for m, d, day in meter_days if (m, d) == (meter, direction))
        start = datetime.combine(days[0], datetime.min.time(), LONDON)
        end = datetime.combine(days[-1] + timedelta(days=1), datetime.min.time(), LONDON)
        rows = usage(db, meter_id=meter, period_from=start, period_to=end, group_by="day",
                     direction=direction)
        assert [row.start.date() for row in rows] == days
        for row in rows:
            wh, actual, estimated, invalid, invalid_wh = meter_days[(meter, direction,
                                                                     row.start.date())]
            expected = 2 * int((row.end.astimezone(UTC) - row.start.astimezone(UTC)) / HALF_HOUR)
            missing = expected - actual - estimated - invalid
            quality = ("incomplete" if missing or invalid else
                       "estimated" if estimated else "actual")
            assert (row.total, row.expected) == (
                DayTotal(wh, actual, estimated, invalid, invalid_wh), expected)
            assert (row.missing, row.quality, row.kwh) == (missing, quality, Decimal(wh) / 1000)


def test_days_and_their_counts_follow_every_kind_of_change(db: Database) -> None:
    registers = linked_meters(db, meters=2)
    a, b = registers[0], registers[1]
    values = _values(registers, START, 4 * 48)
    gap = {START + timedelta(hours=30) + n * HALF_HOUR for n in range(4)}  # a gap on 31 March
    write_values(db, [v for v in values if not (v[0] == a and v[1] in gap)])
    # A clock-skewed (off-grid) value, a spike and its reversal on register B.
    skew_at = START + timedelta(hours=50, minutes=7)
    write_values(db, [(b, skew_at, 0)])
    spike_at = START + timedelta(hours=60)
    corrections.correct_profile_value(db, b, spike_at, 900_000)
    # Export reads of register A, twice a day.
    write_reads(db, [(a, START + timedelta(hours=12 * n), 1_000 + 700 * n) for n in range(8)],
                table="register_export")
    _assert_days_match(db)

    meter_days, _ = view_days(db)
    spring = meter_days[(_meter(db), "import", date(2025, 3, 30))]
    assert spring[1] + spring[2] + spring[3] == 2 * 46  # two registers × 46 half hours
    assert any(key[1] == "export" for key in meter_days)

    # A late value fills the gap; a correction and a deletion change one day each.
    write_values(db, [v for v in values if v[0] == a and v[1] in gap])
    _assert_days_match(db)
    corrections.correct_profile_value(db, a, START + timedelta(hours=80), 10_000 + 160 * 100 + 55)
    _assert_days_match(db)
    corrections.delete_profile_value(db, b, START + timedelta(hours=20))
    db.execute("DELETE FROM register_export WHERE register_id = :r AND timestamp = :t",
               {"r": a, "t": START + timedelta(hours=36)})
    _assert_days_match(db)

    # The first customer moves out; a new one moves in an hour and a half later.
    move_out = START + timedelta(hours=40)
    customers.unlink_meter(db, "EML0000", move_out)
    customers.add_customer(db, "NEW")
    customers.link_meter(db, "NEW", "EML0000", move_out + 3 * HALF_HOUR)
    _assert_days_match(db)
    _, customer_days = view_days(db)
    assert {day for c, _, _, day in customer_days if c == "NEW"} == {
        (move_out + 3 * HALF_HOUR).astimezone(LONDON).date() + timedelta(days=n) for n in range(3)}


def test_quality_and_counts_of_each_day(db: Database) -> None:
    (register,) = linked_meters(db, meters=1)[:1]
    first = datetime(2025, 6, 1, 23, tzinfo=UTC)  # local midnight, 2 June (BST)
    values = [(register, first + n * HALF_HOUR, 10_000 + n * 100) for n in range(4 * 48 + 1)]
    day2 = first + timedelta(days=1)
    values = [v for v in values if not (day2 + 2 * HALF_HOUR <= v[1] <= day2 + 4 * HALF_HOUR)]
    write_values(db, values)
    day3 = first + timedelta(days=2)
    corrections.correct_profile_value(db, register, day3 + 10 * HALF_HOUR, 500_000)  # spike, reversal
    update(db)
    meter = _meter(db)
    rows = usage(db, meter_id=meter, period_from=first, period_to=first + timedelta(days=4),
                 group_by="day")
    by_day = {row.start.date(): row for row in rows}
    # Register B of the twin-element meter has no values at all: half of every day is missing.
    assert (by_day[date(2025, 6, 2)].total.actual, by_day[date(2025, 6, 2)].expected) == (48, 96)
    assert by_day[date(2025, 6, 2)].quality == "incomplete"
    day3_total = by_day[date(2025, 6, 3)].total
    assert day3_total is not None and (day3_total.actual, day3_total.estimated,
                                       by_day[date(2025, 6, 3)].expected) == (44, 4, 96)
    spiky = by_day[date(2025, 6, 4)]
    assert spiky.total is not None and (spiky.total.invalid, spiky.total.actual) == (2, 46)
    # The spike and the reversal are kept apart, not dropped: together they are the two half
    # hours' true 200 Wh, and the day's usage plus them is the register's advance.
    assert spiky.invalid_kwh == Decimal("0.2")
    assert spiky.kwh + spiky.invalid_kwh == Decimal("4.8")


def test_quality_of_a_complete_single_register_day(tmp_path: Path) -> None:
    db = connect(f"sqlite:///{tmp_path / 'flows.db'}")
    migrate(db)
    registry.add_meter(db, "EMLS", "127.0.0.9", "EMA1.w", None)
    register = registry.register_id(db, "EMLS", "A")
    assert len(registry.registers(db, _meter(db, "EMLS"))) == 1
    first = datetime(2025, 10, 25, 23, tzinfo=UTC)  # 26 October: 50 half hours
    write_values(db, [(register, first + n * HALF_HOUR, n * 10) for n in range(51 + 47)])
    update(db)
    days = usage(db, meter_id=_meter(db, "EMLS"), period_from=first,
                 period_to=first + timedelta(days=2, hours=1), group_by="day")
    autumn, next_day = days
    assert (autumn.total, autumn.expected, autumn.quality, autumn.kwh) == (
        DayTotal(wh=500, actual=50), 50, "actual", Decimal("0.5"))
    assert next_day.quality == "incomplete" and not next_day.partial  # its last half hour is missing
    month = usage(db, meter_id=_meter(db, "EMLS"), period_from=first,
                  period_to=first + timedelta(days=2, hours=1), group_by="month")
    assert [(row.partial, row.total, row.expected) for row in month] == [
        (True, DayTotal(wh=970, actual=97), 98)]


def test_day_reads_come_from_the_aggregates_not_the_half_hours(db: Database) -> None:
    registers = linked_meters(db, meters=1)
    write_values(db, _values(registers, START, 6 * 48))
    write_reads(db, [(registers[0], START + timedelta(hours=12 * n), 1_000 + 700 * n)
                     for n in range(12)], table="register_export")
    update(db)
    period = {"period_from": datetime(2025, 3, 30, tzinfo=LONDON),
              "period_to": datetime(2025, 4, 3, tzinfo=LONDON)}
    reads = [(group, direction, who) for group in ("day", "week", "month")
             for direction in ("import", "export")
             for who in ({"meter_id": _meter(db)}, {"customer_id": "C0"})]
    before = [usage(db, group_by=g, direction=d, **who, **period) for g, d, who in reads]
    assert all(before) and before[0][0].total is not None
    db.execute("DELETE FROM register_interval_hh")
    assert [usage(db, group_by=g, direction=d, **who, **period) for g, d, who in reads] == before


def test_rebuild_builds_the_same_views(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'flows.db'}"
    db = connect(url)
    migrate(db)
    registers = linked_meters(db, meters=2)
    write_values(db, _values(registers, START, 3 * 48))
    update(db)
    built = view_days(db)
    result = CliRunner().invoke(cli, ["views", "rebuild", "--database", url])
    assert result.exit_code == 0, result.output
    assert view_days(db) == built == recomputed_days(db)
    # A rebuild of views already built changes nothing.
    assert CliRunner().invoke(cli, ["views", "rebuild", "--database", url]).exit_code == 0
    assert view_days(db) == built
    # SQLite has one writer: more jobs are refused, naming why, and nothing is dropped.
    refused = CliRunner().invoke(cli, ["views", "rebuild", "--jobs", "2", "--database", url])
    assert refused.exit_code == 1 and "SQLite has one writer" in refused.output
    assert view_days(db) == built


def test_the_engine_state_of_an_older_flows_goes_when_the_feeder_opens(db: Database) -> None:
    registers = linked_meters(db, meters=1)
    write_values(db, _values(registers, START, 48))
    db.execute("CREATE TABLE ivm_stores (name TEXT PRIMARY KEY, shape TEXT, version INTEGER)")
    db.execute("INSERT INTO ivm_stores VALUES ('views', '[]', 0), ('mine', '[]', 0)")
    db.execute("CREATE TABLE views__parts (value TEXT)")
    db.execute("CREATE TABLE views__group_reduce_flatten__groups (value TEXT)")
    db.execute("CREATE TABLE views_kept (value TEXT)")  # not the engine's: kept
    update(db)
    tables = {row["name"] for row in db.query(
        "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'flows'"
        if db.engine == "postgres" else "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert not {name for name in tables if name.startswith("views__")}
    assert {"views_kept", "views_position", "usage_esco_daily"} <= tables
    assert [row["name"] for row in db.query("SELECT name FROM ivm_stores")] == ["mine"]
    assert view_days(db) == recomputed_days(db) != ({}, {})


def test_a_link_change_reaches_the_views_through_the_change_log(db: Database) -> None:
    registers = linked_meters(db, meters=3)
    write_values(db, _values(registers, START, 48))
    update(db)
    customers.add_customer(db, "LATE")
    customers.unlink_meter(db, "EML0001", START + timedelta(hours=12))
    customers.link_meter(db, "LATE", "EML0001", START + timedelta(hours=12))
    summary = update(db)
    assert summary.changes == 3  # the link ended (its old and new row) and the new link
    assert view_days(db) == recomputed_days(db)
