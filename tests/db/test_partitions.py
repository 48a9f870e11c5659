"""Monthly partitions made ahead by Flows itself (plain PostgreSQL)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli import main as cli
from flows.db import Database, connect, migrate, partitions, registry
from flows.db.corrections import Correction, apply_correction
from flows.db.errors import InvalidValueError
from flows.views import update
from tests.views.helpers import HALF_HOUR, linked_meters, write_values


def month_name(table: str, month: date) -> str:
    return f"{table}_{month:%Y_%m}"


def months_on(start: date, offset: int) -> date:
    year, month = divmod(start.month - 1 + offset, 12)
    return date(start.year + year, month + 1, 1)


def exists(db: Database, name: str) -> bool:
    return bool(db.query("SELECT to_regclass(:n) IS NOT NULL AS made", {"n": f"flows.{name}"})
                [0]["made"])


def test_missing_months_ahead_are_made_and_a_month_with_rows_in_default_is_left(
        migrated_postgres_url: str, caplog: pytest.LogCaptureFixture) -> None:
    db = connect(migrated_postgres_url)
    tables = partitions.partitioned_tables(db)
    assert "register_profile_hh" in tables and "meter_csq" in tables and len(tables) == 10
    this_month = datetime.now(UTC).date().replace(day=1)
    gone = months_on(this_month, 12)
    db.execute(f"DROP TABLE {month_name('register_import', gone)}")
    assert partitions.ensure_ahead(db) == 1
    assert exists(db, month_name("register_import", gone))
    assert partitions.ensure_ahead(db) == 0  # nothing missing
    # A year on, months up to 36 ahead are wanted; a row 30 months ahead (a clock far off)
    # sits in the default partition: that month stays unmade, the others are made.
    meter = registry.add_meter(db, "EML1", "127.0.0.1", "C1.w", None)
    far = months_on(this_month, 30)
    db.execute("INSERT INTO meter_csq (meter_id, timestamp, csq) VALUES (:m, :t, 20)",
               {"m": meter, "t": datetime(far.year, far.month, 2, tzinfo=UTC)})
    with caplog.at_level(logging.WARNING, logger="flows.db.partitions"):
        made = partitions.ensure_ahead(db, today=months_on(this_month, 12))
    assert made == 12 * len(tables) - 1  # months 25-36 ahead of now, but one
    assert not exists(db, month_name("meter_csq", far))
    assert exists(db, month_name("meter_csq", months_on(this_month, 36)))
    assert exists(db, month_name("register_profile_hh", far))
    assert any(month_name("meter_csq", far) in message for message in caplog.messages)
    assert db.query("SELECT count(*) AS n FROM meter_csq")[0]["n"] == 1


def test_retention_drops_whole_old_months_the_views_are_done_with_and_keeps_daily_usage(
        migrated_postgres_url: str) -> None:
    db = connect(migrated_postgres_url)
    tables = partitions.partitioned_tables(db)
    today = datetime.now(UTC).date()
    this_month = today.replace(day=1)
    cutoff = months_on(this_month, -12)
    old_months = [months_on(this_month, -n) for n in range(13, 25)]  # made by migration 0002
    register = linked_meters(db, meters=1)[0]
    old = datetime(months_on(this_month, -18).year, months_on(this_month, -18).month, 10,
                   tzinfo=UTC)
    write_values(db, [(register, old + n * HALF_HOUR, 1_000 + 100 * n) for n in range(4)])
    # The change log still has a change of 18 months ago (no feeder ran): that month is kept.
    held_back, expired = partitions.expired_history(db, keep_months=12)
    assert held_back == months_on(this_month, -18)
    assert len(expired) == 6 * len(tables)
    update(db)  # the views apply it (the log keeps only its newest change: that one)
    write_values(db, [(register, datetime.now(UTC) - HALF_HOUR, 900_000)])
    update(db)  # now the newest change is of today: nothing old left in the log
    usage_before = db.query("SELECT day, wh FROM usage_meter_daily WHERE day < :cutoff",
                            {"cutoff": cutoff})
    assert usage_before  # the old day's usage
    at, dropped = partitions.drop_expired_history(db, keep_months=12)
    assert at == cutoff
    assert sorted(dropped) == sorted(f'flows."{table}_{month:%Y_%m}"'
                                     for table in tables for month in old_months)
    assert not any(exists(db, month_name(table, month)) for table in tables
                   for month in old_months)
    assert exists(db, month_name("register_profile_hh", cutoff))  # the oldest month kept
    assert not db.query("SELECT 1 FROM register_profile_hh WHERE timestamp < :cutoff",
                        {"cutoff": cutoff})
    assert not db.query("SELECT 1 FROM register_value_changes WHERE timestamp < :cutoff",
                        {"cutoff": cutoff})  # dropped, not deleted: nothing for the views
    assert db.query("SELECT day, wh FROM usage_meter_daily WHERE day < :cutoff",
                    {"cutoff": cutoff}) == usage_before
    assert partitions.drop_expired_history(db, keep_months=12) == (cutoff, [])


def test_a_value_written_for_a_month_retention_dropped_changes_no_usage_and_goes_next_time(
        migrated_postgres_url: str) -> None:
    db = connect(migrated_postgres_url)
    this_month = datetime.now(UTC).date().replace(day=1)
    cutoff = months_on(this_month, -12)
    register = linked_meters(db, meters=1)[0]
    dropped_month = months_on(this_month, -18)
    old = datetime(dropped_month.year, dropped_month.month, 10, tzinfo=UTC)
    kept = datetime(cutoff.year, cutoff.month, 5, tzinfo=UTC)  # the first value kept
    write_values(db, [(register, old + n * HALF_HOUR, 1_000 + 100 * n) for n in range(4)])
    write_values(db, [(register, kept + n * HALF_HOUR, 500_000 + 100 * n) for n in range(4)])
    write_values(db, [(register, datetime.now(UTC) - HALF_HOUR, 900_000)])
    update(db)
    daily = "SELECT * FROM usage_meter_daily ORDER BY day"
    usage = db.query(daily)
    assert any(row["day"] < cutoff for row in usage)  # the gap to the kept value is spread
    assert partitions.history_kept_from(db) is None  # nothing dropped yet
    partitions.drop_expired_history(db, keep_months=12)
    assert partitions.history_kept_from(db) == datetime(cutoff.year, cutoff.month, 1, tzinfo=UTC)
    # A meter clock 18 months behind sends a value for a month already dropped: it lands in
    # the default partition, and the views leave every day as it was (before this, they
    # computed the days from it to the first value kept again: the kept days lost usage).
    write_values(db, [(register, old + 5 * HALF_HOUR, 1_450)])
    update(db)
    assert db.query(daily) == usage
    assert db.query("SELECT count(*) AS n FROM register_profile_hh WHERE timestamp < :cutoff",
                    {"cutoff": cutoff})[0]["n"] == 1
    # The next retention deletes it (the deletion, outside the history kept, moves nothing).
    partitions.drop_expired_history(db, keep_months=12)
    assert not db.query("SELECT 1 FROM register_profile_hh WHERE timestamp < :cutoff",
                        {"cutoff": cutoff})
    update(db)
    assert db.query(daily) == usage


def test_a_late_value_before_the_history_kept_is_no_neighbour_and_cannot_be_corrected(
        migrated_postgres_url: str) -> None:
    db = connect(migrated_postgres_url)
    this_month = datetime.now(UTC).date().replace(day=1)
    cutoff = months_on(this_month, -12)
    kept_from = datetime(cutoff.year, cutoff.month, 1, tzinfo=UTC)
    register = linked_meters(db, meters=1)[0]
    dropped_month = months_on(this_month, -18)
    old = datetime(dropped_month.year, dropped_month.month, 10, tzinfo=UTC)
    # The first value kept at 06:00: its day's first half hours come from the value before.
    kept = datetime(cutoff.year, cutoff.month, 5, 6, tzinfo=UTC)
    write_values(db, [(register, old, 1_000), (register, kept, 500_000),
                      (register, kept + HALF_HOUR, 500_100),
                      (register, datetime.now(UTC) - HALF_HOUR, 900_000)])
    update(db)
    partitions.drop_expired_history(db, keep_months=12)
    # A late value just before the history kept, then a value that makes the first kept day
    # be computed again: the late value is not the day's previous value (before, its first
    # half hours took usage from it — usage that a rebuild would not have).
    write_values(db, [(register, kept_from - HALF_HOUR, 499_000)])
    write_values(db, [(register, kept + 2 * HALF_HOUR, 500_150)])
    update(db)
    first_day = "SELECT * FROM usage_meter_daily WHERE day = :day"
    incremental = db.query(first_day, {"day": kept.date()})
    assert incremental
    partitions.drop_expired_history(db, keep_months=12)  # deletes the late value
    update(db, rebuild=True)
    assert db.query(first_day, {"day": kept.date()}) == incremental
    # A correction there would change nothing: refused, naming where the history kept begins.
    with pytest.raises(InvalidValueError, match="before the history kept"):
        apply_correction(db, Correction("EML0000", "A", kept_from - HALF_HOUR, 499_000, "test",
                                        reason="late read"))


def test_retention_from_the_command_line_lists_first_and_refuses_sqlite(
        migrated_postgres_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(cli, ["db", "retention", "--keep-months", "20", "--database",
                                 migrated_postgres_url])
    assert listed.exit_code == 0, listed.output
    assert "40 partitions or chunks would be dropped (run again with --apply)" in listed.output
    db = connect(migrated_postgres_url)
    assert exists(db, month_name("meter_csq", months_on(datetime.now(UTC).date().replace(day=1),
                                                         -24)))
    applied = runner.invoke(cli, ["db", "retention", "--keep-months", "20", "--apply",
                                  "--database", migrated_postgres_url])
    assert applied.exit_code == 0 and "40 partitions or chunks dropped" in applied.output
    sqlite_url = f"sqlite:///{tmp_path / 'flows.db'}"
    with connect(sqlite_url) as embedded:
        migrate(embedded)
    refused = runner.invoke(cli, ["db", "retention", "--keep-months", "20", "--database",
                                  sqlite_url])
    assert refused.exit_code != 0 and "on SQLite history is kept" in refused.output
