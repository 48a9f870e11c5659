"""SQLite keeps timestamps as text in one shape (UTC to the millisecond, ...Z): rows other tools
write in another form are refused by the database, and the migration rewrote the ones already
there. Reads and corrections over data other tools wrote answer, never fail."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flows.db import connect, customers, migrate, registry

SHAPE_MIGRATION = 17


def test_another_tool_writing_another_time_form_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "flows.db"
    with connect(f"sqlite:///{path}") as db:
        migrate(db)
        registry.add_meter(db, "EML1", "127.0.0.1", "EMA1.w", None)
        register = str(registry.register_id(db, "EML1"))
        customers.add_customer(db, "C1")
        customers.link_meter(db, "C1", "EML1", datetime(2024, 1, 1, tzinfo=UTC))
    other = sqlite3.connect(path)  # another tool, not Flows
    for stamp in ("2025-01-08T00:00:00+00:00", "2025-01-08 00:00:00", "yesterday"):
        with pytest.raises(sqlite3.IntegrityError, match="timestamps must be UTC text"):
            other.execute("INSERT INTO register_profile_hh (register_id, timestamp, "
                          "cumulative_wh, status) VALUES (?, ?, 1, 0)", (register, stamp))
    with pytest.raises(sqlite3.IntegrityError, match="valid_from"):
        other.execute("UPDATE customer_meters SET valid_from = '2020-01-01'")
    other.execute("INSERT INTO register_profile_hh (register_id, timestamp, cumulative_wh, "
                  "status) VALUES (?, '2025-01-08T00:00:00.000Z', 1, 0)", (register,))
    other.commit()
    other.close()


def test_the_migration_rewrites_rows_in_another_form(tmp_path: Path) -> None:
    with connect(f"sqlite:///{tmp_path / 'flows.db'}") as db:
        migrate(db, upto=SHAPE_MIGRATION - 1)
        registry.add_meter(db, "EML1", "127.0.0.1", "EMA1.w", None)
        register = str(registry.register_id(db, "EML1"))
        db.raw.execute("INSERT INTO register_profile_hh (register_id, timestamp, cumulative_wh, "
                       "status) VALUES (?, '2025-01-08T01:00:00+01:00', 7, 0)", (register,))
        migrate(db)
        [row] = db.query("SELECT timestamp FROM register_profile_hh")
        assert row["timestamp"] == datetime(2025, 1, 8, tzinfo=UTC)
