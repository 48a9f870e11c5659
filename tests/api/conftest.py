"""A Flows database with a small fleet (healthy, unhealthy, low balance), customers and usage,
served by a real `flows serve` process on a free port."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from flows.db import Database, connect, customers, migrate, registry, shadows
from flows.devtools.processes import serve_flows
from flows.views import update

READ_KEY, ADMIN_KEY = "read-key-0123456789", "admin-key-0123456789"
# EML0000's meter points: it imports and exports (valid check digits).
IMPORT_MPAN, EXPORT_MPAN = "2000024512368", "1900000000013"
START = datetime(2025, 3, 28, tzinfo=UTC)
HALF_HOUR = timedelta(minutes=30)
DAYS = 4


@dataclass
class Served:
    url: str
    database_url: str
    db: Database
    meter_ids: dict[str, str]
    log: Path  # the server's stderr (JSON lines: access log, views)


def populate(db: Database) -> dict[str, str]:
    esco = registry.add_esco(db, "ESCO1")
    ids = {}
    for n in range(3):
        serial = f"EML000{n}"
        mpans = (IMPORT_MPAN, EXPORT_MPAN) if n == 0 else (None, None)
        ids[serial] = str(registry.add_meter(db, serial, f"127.0.0.{n + 1}", "B1.w", esco,
                                             import_mpan=mpans[0], export_mpan=mpans[1]))
        customers.add_customer(db, f"C{n}", f"Customer {n}")
        customers.link_meter(db, f"C{n}", serial, START)
        register = registry.register_id(db, serial)
        with db.transaction():
            for step in range(DAYS * 48 + 1):
                db.execute("INSERT INTO register_profile_hh (register_id, timestamp, "
                           "cumulative_wh, status) VALUES (:r, :t, :wh, 0)",
                           {"r": register, "t": START + step * HALF_HOUR,
                            "wh": 10_000 + step * (100 + 10 * n)})
            for step in range(DAYS * 2 + 1):  # export reads twice a day: 0.6 kWh each time
                db.execute("INSERT INTO register_export (register_id, timestamp, read) "
                           "VALUES (:r, :t, :kwh)",
                           {"r": register, "t": START + step * 24 * HALF_HOUR,
                            "kwh": 2 + step * 0.6})
    meter = {serial: registry.meters(db)[n].id for n, serial in enumerate(sorted(ids))}
    shadows.update_shadow_healthy(db, meter["EML0000"], {"balance": Decimal("42.50"), "csq": 20,
                                                         "voltage": Decimal("2311.0")})  # deci-volts
    shadows.update_shadow_healthy(db, meter["EML0001"], {"balance": Decimal("3.20"), "csq": 12})
    shadows.update_shadow_unhealthy(db, meter["EML0002"], "mediator: failed to connect after retries")
    update(db)
    return ids


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    path: Path = tmp_path_factory.mktemp("api") / "flows.db"
    database_url = f"sqlite:///{path}"
    db = connect(database_url)
    migrate(db)
    ids = populate(db)
    log = path.parent / "serve.log"
    process, url = serve_flows(["--database", database_url, "--api-keys",
                                f"{READ_KEY}=read,{ADMIN_KEY}=admin", "--views"], log)
    try:
        yield Served(url, database_url, db, ids, log)
    finally:
        process.terminate()
        process.wait(timeout=10)
        db.close()
