"""The views against a from-scratch recomputation, after every step of random sequences of
everything that moves them: profile values written, corrected and deleted, register reads
and export reads, customer links made, ended and made again, registers replaced or moved to
another meter, meters moved to another esco. On both engines."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from flows.db import Database, DatabaseError, connect, corrections, customers, migrate, registry
from flows.views import update
from tests.views.helpers import HALF_HOUR, recomputed_views, stored_views

# Two local days either side of the spring clock change (23 hours long on 30 March 2025).
START = datetime(2025, 3, 29, 20, tzinfo=UTC)
SLOTS = 60
METERS = 3  # a twin-element meter, a single-element one, a twin-element one
HARDWARE = ("C1.w", "EMA1.w", "C1.w")

slot = hs.integers(0, SLOTS)
meter = hs.integers(0, METERS - 1)
element = hs.sampled_from(("A", "B"))
step = hs.one_of(
    hs.tuples(hs.just("profile"), meter, element, slot, hs.integers(0, 400)),
    hs.tuples(hs.just("reverse"), meter, element, slot, hs.integers(1, 300)),
    hs.tuples(hs.just("spike"), meter, element, slot, hs.just(30_000)),
    hs.tuples(hs.just("delete"), meter, element, slot, hs.just(0)),
    hs.tuples(hs.just("read"), meter, element, slot, hs.integers(0, 1_799)),
    hs.tuples(hs.just("export"), meter, element, slot, hs.integers(0, 1_799)),
    hs.tuples(hs.just("link"), meter, hs.integers(0, 2), slot, hs.sampled_from((0, 10, 30))),
    hs.tuples(hs.just("unlink"), meter, hs.just(""), slot, hs.sampled_from((0, 10))),
    hs.tuples(hs.just("replace"), meter, element, hs.just(0), hs.just(0)),
    hs.tuples(hs.just("move_register"), meter, element, hs.just(0), hs.integers(0, METERS - 1)),
    hs.tuples(hs.just("esco"), meter, hs.just(""), hs.just(0), hs.integers(0, 2)),
)
_examples = itertools.count()


class Fleet:
    """One example's meters, customers and escos (new names each time: examples share the
    database, and each compares only what is its own)."""

    def __init__(self, db: Database) -> None:
        n = next(_examples)
        self.db = db
        self.escos = [registry.add_esco(db, f"E{n}-{k}") for k in range(2)]
        self.serials = [f"P{n:03d}M{k}" for k in range(METERS)]
        self.meters = {registry.add_meter(db, serial, f"127.{n // 250}.{n % 250}.{k + 1}",
                                          hardware, self.escos[k % 2])
                       for k, (serial, hardware) in enumerate(zip(self.serials, HARDWARE,
                                                                  strict=True))}
        self.customers = [f"P{n:03d}C{k}" for k in range(3)]
        for customer in self.customers:
            customers.add_customer(db, customer)
        self.level: dict[UUID, int] = {}

    def register(self, meter: int, element: str) -> UUID | None:
        try:
            return registry.register_id(self.db, self.serials[meter], element)
        except DatabaseError:  # no such element (single-element meter) or moved away
            return None

    def apply(self, kind: str, meter: int, detail: str, at: int, amount: int) -> None:
        db, stamp = self.db, START + at * HALF_HOUR
        if kind in ("profile", "reverse", "spike", "delete", "read", "export"):
            register = self.register(meter, detail)
            if register is None:
                return
            level = self.level.get(register, 10_000)
            if kind == "delete":
                db.execute("DELETE FROM register_profile_hh WHERE register_id = :r "
                           "AND timestamp = :t", {"r": register, "t": stamp})
            elif kind in ("read", "export"):
                self.level[register] = level + amount
                table = "register_import" if kind == "read" else "register_export"
                db.execute(f"INSERT INTO {table} (register_id, timestamp, read) VALUES "
                           "(:r, :t, :kwh) ON CONFLICT DO NOTHING",
                           {"r": register, "t": stamp + timedelta(seconds=amount),
                            "kwh": self.level[register] / 1000})
            else:
                self.level[register] = level - amount if kind == "reverse" else level + amount
                corrections.correct_profile_value(db, register, stamp, max(0, self.level[register]))
        elif kind == "link":
            start = stamp + timedelta(minutes=amount)
            try:
                customers.link_meter(db, self.customers[int(detail)], self.serials[meter], start,
                                     start + timedelta(hours=6) if amount == 30 else None)
            except DatabaseError:
                pass  # overlaps a link the meter has: refused
        elif kind == "unlink":
            try:
                customers.unlink_meter(db, self.serials[meter], stamp + timedelta(minutes=amount))
            except DatabaseError:
                pass  # no link valid then
        elif kind == "replace":
            try:
                registry.replace_register(db, self.serials[meter], detail)
            except DatabaseError:
                pass  # no such element
        elif kind == "move_register":
            register = self.register(meter, detail)
            target = registry.meter_id(db, self.serials[amount])
            if register is not None:
                db.execute("UPDATE meter_registers SET meter_id = :m, status = 'replaced' "
                           "WHERE register_id = :r", {"m": target, "r": register})
        elif kind == "esco":
            registry.set_meter_esco(db, self.serials[meter],
                                    self.escos[amount] if amount < 2 else None)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def shared_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[Database]:
    """One database per engine for every example (each example has meters of its own)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('properties') / 'flows.db'}"
    else:
        url = request.getfixturevalue("migrated_postgres_url_module")
    database = connect(url)
    migrate(database)
    yield database
    database.close()


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=hs.lists(step, min_size=4, max_size=14))
def test_every_step_leaves_the_views_equal_to_a_recomputation(shared_db: Database,
                                                               steps: list) -> None:
    fleet = Fleet(shared_db)
    update(shared_db)
    for kind, meter_, detail, at, amount in steps:
        fleet.apply(kind, meter_, detail, at, amount)
        update(shared_db, batch=5)
        escos = set(fleet.escos)
        assert stored_views(shared_db, fleet.meters, escos) == recomputed_views(
            shared_db, fleet.meters, escos), (kind, meter_, detail, at, amount)
