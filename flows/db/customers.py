"""Customers and the meters they have (``customers``, ``customer_meters``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flows.db.connection import ConflictError, Database, InvalidValueError, NotFoundError
from flows.db.registry import meter_id


def add_customer(db: Database, customer_id: str, name: str = "") -> None:
    if not customer_id.strip():
        raise InvalidValueError("a customer needs an id")
    if exists(db, customer_id):
        raise ConflictError(f"customer {customer_id!r} exists already")
    db.execute("INSERT INTO customers (id, name) VALUES (:id, :name)", {"id": customer_id, "name": name})


def link_meter(db: Database, customer_id: str, serial: str, valid_from: datetime,
               valid_to: datetime | None = None) -> None:
    """The customer had the meter from ``valid_from`` (inclusive) to ``valid_to`` (exclusive)."""
    if valid_to is not None and valid_to <= valid_from:
        raise InvalidValueError(f"valid_to {valid_to} is not after valid_from {valid_from}")
    if not exists(db, customer_id):
        raise NotFoundError(f"no customer {customer_id!r}")
    db.execute("INSERT INTO customer_meters (customer_id, meter_id, valid_from, valid_to) "
               "VALUES (:c, :m, :f, :t)", {"c": customer_id, "m": meter_id(db, serial),
                                             "f": valid_from, "t": valid_to})


def exists(db: Database, customer_id: str) -> bool:
    return bool(db.query("SELECT 1 AS found FROM customers WHERE id = :id", {"id": customer_id}))


def links(db: Database) -> list[dict[str, Any]]:
    """Every customer-meter link: customer_id, meter_id, valid_from, valid_to (None: open)."""
    return db.query("SELECT customer_id, meter_id, valid_from, valid_to FROM customer_meters")
