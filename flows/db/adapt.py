"""Values in and out of SQLite, which stores timestamps, ids and decimals as text: how a value
is written (`sqlite_time`: UTC to the millisecond, the one shape the database accepts) and how
a result column's text becomes the type PostgreSQL returns."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from flows.db.errors import InvalidValueError

# Columns stored as decimal text on SQLite and as numeric on PostgreSQL.
DECIMAL_COLUMNS = frozenset({"balance", "voltage", "kwh"})


def sqlite_time(moment: datetime) -> str:
    """How SQLite stores a timestamp: UTC, millisecond precision, sortable text."""
    if moment.tzinfo is None:
        raise InvalidValueError(f"timestamps must be timezone-aware (UTC), got {moment!r}")
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    return utc.isoformat(timespec="milliseconds")[:-6] + "Z"  # drop "+00:00"


@functools.lru_cache(maxsize=1 << 16)
def id_text(value: UUID | str) -> str:
    """An id as text, remembered: bulk writes repeat each register's id row after row."""
    return str(value)


@functools.lru_cache(maxsize=1 << 16)
def iso_time(moment: datetime) -> str:
    """A timestamp's ISO text (PostgreSQL's COPY reads it), remembered: bulk writes repeat the
    same half-hour starts for every register."""
    return moment.isoformat()


@functools.lru_cache(maxsize=1 << 16)
def sqlite_slot_time(moment: datetime) -> str:
    """`sqlite_time`, remembered: bulk writes repeat the same half-hour starts for every
    register."""
    return sqlite_time(moment)


def sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return sqlite_time(value)
    if isinstance(value, (UUID, Decimal)):
        return str(value)
    return value


def _timestamp(value: Any) -> Any:
    """SQLite's timestamp text ('2026-11-25T00:30:00.000Z') as an aware datetime; any other
    value as it is."""
    if type(value) is str and len(value) >= 20 and value[-1] == "Z" and value[10] == "T":
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    return value


def _uuid_or_timestamp(value: Any) -> Any:
    if type(value) is str and len(value) == 36:
        try:
            return UUID(value)
        except ValueError:
            pass
    return _timestamp(value)


def _day(value: Any) -> Any:
    return date.fromisoformat(value) if type(value) is str else value


def sqlite_converter(column: str) -> Any:
    """How a result column's SQLite text becomes the type PostgreSQL returns, by its name:
    ids (``id``, ``*_id`` but ``customer_id``, ``esco``) are UUIDs, ``day`` a date, the money
    and energy columns Decimals; timestamp text is a datetime in any column. Text columns
    (serials, names, customer ids) stay text whatever they look like."""
    if column in DECIMAL_COLUMNS:
        return decimal_value
    if column == "day":
        return _day
    if column in ("id", "esco") or (column.endswith("_id") and column != "customer_id"):
        return _uuid_or_timestamp
    return _timestamp


def decimal_value(value: Any) -> Any:
    return value if value is None or isinstance(value, Decimal) else Decimal(str(value))


