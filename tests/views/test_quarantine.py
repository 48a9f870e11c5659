"""One bad row never stops the views: a row written behind Flows' back that no rule can read
quarantines its meter, every other meter's new values reach their usage, /readyz reports
degraded, and a retry after the fix applies the meter exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from flows.db import Database, registry
from flows.devtools.processes import serve_flows
from flows.views import freshness, update
from flows.views.store import quarantine
from tests.views.helpers import (
    HALF_HOUR,
    linked_meters,
    recomputed_views,
    stored_views,
    write_values,
)

START = datetime(2025, 1, 6, tzinfo=UTC)
KEY = "read-key-0123456789"


def steady(registers: list, start: datetime, count: int, first: int = 0) -> list[tuple]:
    return [(r, start + n * HALF_HOUR, 5_000 + (first + n) * 100)
            for r in registers for n in range(count)]


def write_bad_row(db: Database, kind: str, register: object) -> None:
    """A row no rule can read, written as another tool would (not through Flows)."""
    with db.transaction():
        if kind == "link":
            db.execute("UPDATE customer_meters SET valid_from = :t WHERE customer_id = 'C0'",
                       {"t": datetime(1, 1, 1, tzinfo=UTC)})
        else:  # a year typo far outside the days Flows holds (in SQLite's own text shape:
            # the database refuses any other, see tests/db/test_timestamp_shape.py)
            stamp = "'0202-01-08T00:00:00.000Z'" if db.engine == "sqlite" else "'0202-01-08T00:00:00Z'"
            db.execute("INSERT INTO register_profile_hh (register_id, timestamp, cumulative_wh, "
                       f"status) VALUES (:r, {stamp}, 1, 0)", {"r": register})


def fix_bad_row(db: Database, kind: str, register: object) -> None:
    with db.transaction():
        if kind == "link":
            db.execute("UPDATE customer_meters SET valid_from = :t WHERE customer_id = 'C0'",
                       {"t": datetime(2020, 1, 1, tzinfo=UTC)})
        else:
            db.execute("DELETE FROM register_profile_hh WHERE register_id = :r "
                       "AND cumulative_wh = 1", {"r": register})


def views_of(db: Database, meter: object) -> tuple[dict, dict]:
    return stored_views(db, {meter}, set()), recomputed_views(db, {meter}, set())


@pytest.mark.parametrize("kind", ["timestamp", "link"])
def test_a_bad_row_quarantines_its_meter_and_a_retry_applies_it_once(db: Database, kind: str
                                                                      ) -> None:
    registers = linked_meters(db, 2)
    bad_meter, good_meter = registry.meter_id(db, "EML0000"), registry.meter_id(db, "EML0001")
    write_values(db, steady(registers, START, 96))
    update(db)
    write_bad_row(db, kind, registers[0])
    write_values(db, steady(registers, START + 96 * HALF_HOUR, 48, first=96))

    summary = update(db)
    assert summary.quarantined == 1
    [held] = quarantine.quarantined(db)
    assert held.meter_id == bad_meter and held.serial == "EML0000"
    assert ("customer_meters" if kind == "link" else "register_profile_hh") in held.error
    stored, recomputed = views_of(db, good_meter)  # the other meter goes on
    assert stored == recomputed and len(stored["meter_days"]) == 3  # its three days
    assert freshness(db).problems(stale_after_s=60)[0].startswith("1 meter(s) quarantined")
    # Its later changes wait too; the views keep going for the rest.
    write_values(db, steady(registers, START + 144 * HALF_HOUR, 48, first=144))
    assert update(db).quarantined == 1
    assert views_of(db, good_meter)[0] == views_of(db, good_meter)[1]

    fix_bad_row(db, kind, registers[0])
    quarantine.request_retry(db, [bad_meter])
    assert update(db).quarantined == 0
    stored, recomputed = views_of(db, bad_meter)
    assert stored == recomputed and len(stored["import"]) == 2 * (192 - 1)  # exactly once
    assert freshness(db).problems(stale_after_s=60) == []
    assert update(db).changes == 0


def test_a_retry_of_a_row_still_bad_keeps_the_meter_quarantined(db: Database) -> None:
    registers = linked_meters(db, 2)
    write_values(db, steady(registers, START, 48))
    write_bad_row(db, "link", registers[0])
    update(db)
    meter = registry.meter_id(db, "EML0000")
    quarantine.request_retry(db, [meter])
    assert update(db).quarantined == 1
    assert quarantine.quarantined_meters(db) == {meter}
    assert views_of(db, registry.meter_id(db, "EML0001"))[0] != {}


def test_the_rebuild_quarantines_a_bad_meter_and_builds_the_rest(db: Database) -> None:
    registers = linked_meters(db, 2)
    write_values(db, steady(registers, START, 96))
    update(db)
    write_bad_row(db, "link", registers[0])
    assert update(db, rebuild=True).quarantined == 1
    good = registry.meter_id(db, "EML0001")
    stored, recomputed = views_of(db, good)
    assert stored == recomputed != {}


def test_readyz_reports_degraded_while_a_meter_is_quarantined(tmp_path: Path) -> None:
    from flows.db import connect, migrate

    url = f"sqlite:///{tmp_path / 'flows.db'}"
    db = connect(url)
    migrate(db)
    registers = linked_meters(db, 2)
    write_values(db, steady(registers, START, 48))
    update(db)
    log = tmp_path / "serve.log"
    process, base = serve_flows(["--database", url, "--api-keys", f"{KEY}=read"], log)
    try:
        assert httpx.get(base + "/readyz").text == "ready\n"
        page = httpx.get(base + "/meters/EML0001/consumption", headers={"X-API-Key": KEY},
                         params={"period_from": START.isoformat(), "group_by": "day"}).json()
        as_of = datetime.fromisoformat(page["data_as_of"])
        assert timedelta(0) <= datetime.now(UTC) - as_of < timedelta(minutes=1)
        write_bad_row(db, "link", registers[0])
        update(db)
        ready = httpx.get(base + "/readyz")
        assert ready.status_code == 200 and ready.text.startswith("degraded: 1 meter(s) quarantined")
        page = httpx.get(base + "/", headers={"X-API-Key": KEY}).text  # the dashboard says so
        assert "1 meter(s) quarantined" in page and "id='quarantine'" in page
        assert "EML0000" in page and "customer_meters" in page
        metrics = httpx.get(base + "/metrics").text
        assert "flows_views_quarantined_meters 1.0" in metrics
        assert "flows_views_lag_changes 0.0" in metrics
    finally:
        process.terminate()
        process.wait(timeout=10)
        db.close()


def test_staleness_is_told_from_the_last_time_the_views_caught_up(db: Database) -> None:
    registers = linked_meters(db, 1)
    write_values(db, steady(registers, START, 4))
    assert freshness(db).data_as_of is None  # never caught up yet
    update(db)
    caught_up = freshness(db)
    assert caught_up.lag_changes == 0 and caught_up.lag_seconds == 0
    assert caught_up.problems(stale_after_s=0) == []
    write_values(db, steady(registers, START + 4 * HALF_HOUR, 2, first=4))  # no feeder runs
    behind = freshness(db)
    assert behind.lag_changes == 2 * len(registers)
    assert behind.data_as_of is not None and behind.data_as_of <= behind.now
    assert behind.lag_seconds > 0
    assert "changes behind" in behind.problems(stale_after_s=0)[0]
    assert behind.problems(stale_after_s=3600) == []
    update(db)
    assert freshness(db).lag_changes == 0
