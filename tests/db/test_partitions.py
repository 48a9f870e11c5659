"""Monthly partitions made ahead by Flows itself (plain PostgreSQL)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import pytest

from flows.db import Database, connect, partitions, registry


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
