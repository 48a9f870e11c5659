"""The views' daily aggregates: ``usage_meter_daily`` (per meter, direction and local day,
whoever the customer) and ``usage_customer_daily`` (per customer, meter, direction and local
day, while linked). The views write them in their iteration's transaction; readers get one
row per day: wh (usable), actual, estimated, invalid (register half hours) and invalid_wh."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, Protocol
from uuid import UUID

from flows.db.connection import Database

TOTAL_COLUMNS = ("wh", "actual", "estimated", "invalid", "invalid_wh")


class DayTotalFields(Protocol):
    """A day's total as the views hold it (`flows.views.query.DayTotal`)."""

    @property
    def wh(self) -> int: ...
    @property
    def actual(self) -> int: ...
    @property
    def estimated(self) -> int: ...
    @property
    def invalid(self) -> int: ...
    @property
    def invalid_wh(self) -> int: ...


class MeterDayFields(Protocol):
    @property
    def meter_id(self) -> UUID: ...
    @property
    def direction(self) -> str: ...
    @property
    def date(self) -> date: ...
    @property
    def total(self) -> DayTotalFields: ...


class CustomerDayFields(MeterDayFields, Protocol):
    @property
    def customer_id(self) -> str: ...


def _totals(total: DayTotalFields) -> dict[str, int]:
    return {column: getattr(total, column) for column in TOTAL_COLUMNS}


def write_meter_days(db: Database, removed: Iterable[MeterDayFields],
                     added: Iterable[MeterDayFields]) -> None:
    """Apply the views' changes (removals first: a changed day is removed and added)."""
    db.executemany(
        "DELETE FROM usage_meter_daily WHERE meter_id = :m AND direction = :direction "
        "AND day = :day", [{"m": d.meter_id, "direction": d.direction, "day": d.date}
                           for d in removed])
    db.executemany(
        "INSERT INTO usage_meter_daily (meter_id, direction, day, wh, actual, estimated, "
        "invalid, invalid_wh) VALUES (:m, :direction, :day, :wh, :actual, :estimated, "
        ":invalid, :invalid_wh)",
        [{"m": d.meter_id, "direction": d.direction, "day": d.date, **_totals(d.total)}
         for d in added])


def write_customer_days(db: Database, removed: Iterable[CustomerDayFields],
                        added: Iterable[CustomerDayFields]) -> None:
    db.executemany(
        "DELETE FROM usage_customer_daily WHERE customer_id = :c AND direction = :direction "
        "AND day = :day AND meter_id = :m",
        [{"c": d.customer_id, "m": d.meter_id, "direction": d.direction, "day": d.date}
         for d in removed])
    db.executemany(
        "INSERT INTO usage_customer_daily (customer_id, meter_id, direction, day, wh, actual, "
        "estimated, invalid, invalid_wh) VALUES (:c, :m, :direction, :day, :wh, :actual, "
        ":estimated, :invalid, :invalid_wh)",
        [{"c": d.customer_id, "m": d.meter_id, "direction": d.direction, "day": d.date,
          **_totals(d.total)} for d in added])


def meter_days(db: Database, meter: UUID, direction: str, first: date, last: date
               ) -> list[dict[str, Any]]:
    """The meter's days from ``first`` to ``last`` (inclusive) that have half hours, in order:
    day and the totals."""
    return db.query(
        "SELECT day, wh, actual, estimated, invalid, invalid_wh FROM usage_meter_daily "
        "WHERE meter_id = :m AND direction = :direction AND day >= :first AND day <= :last "
        "ORDER BY day", {"m": meter, "direction": direction, "first": first, "last": last})


def customer_days(db: Database, customer: str, direction: str, first: date, last: date
                  ) -> list[dict[str, Any]]:
    """The customer's days of each of their meters (while linked), in day order: day and the
    totals (a customer with two meters has two rows a day; adding them up is the caller's,
    cheaper than a GROUP BY)."""
    return db.query(
        "SELECT day, wh, actual, estimated, invalid, invalid_wh FROM usage_customer_daily "
        "WHERE customer_id = :c AND direction = :direction AND day >= :first AND day <= :last "
        "ORDER BY day", {"c": customer, "direction": direction, "first": first, "last": last})


def register_counts(db: Database, meter: UUID | None = None, customer: str | None = None
                    ) -> list[tuple[datetime | None, datetime | None, int]]:
    """(from, to, registers) for the expected half hours: a meter's register count at any time,
    or for each of a customer's links the linked meter's register count while linked."""
    if customer is None:
        rows = db.query("SELECT count(*) AS n FROM meter_registers WHERE meter_id = :m",
                        {"m": meter})
        return [(None, None, int(rows[0]["n"]))]
    rows = db.query(
        "SELECT c.valid_from, c.valid_to, (SELECT count(*) FROM meter_registers r "
        "WHERE r.meter_id = c.meter_id) AS n FROM customer_meters c WHERE c.customer_id = :c",
        {"c": customer})
    return [(row["valid_from"], row["valid_to"], int(row["n"])) for row in rows]


def clear(db: Database) -> None:
    """Empty every table the views write (before they are built again from the tables)."""
    tables = ("register_interval_hh", "usage_meter_daily", "usage_customer_daily",
              "views_position")
    if db.engine == "postgres":  # millions of rows: TRUNCATE, not a row-by-row DELETE
        db.execute(f"TRUNCATE {', '.join(tables)}")
        return
    for table in tables:
        db.execute(f"DELETE FROM {table}")
