"""What the views check before they apply a batch: a row written behind Flows' back that no
rule can read (a timestamp in another text form, a value or link outside the days Flows holds)
is a `BadRow` naming the row and what to do; the feeder quarantines its meter and goes on."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from flows.db import Database, customers
from flows.meterdata import FIRST_DAY, LAST_DAY, local_midnight
from flows.views.errors import BadRow

SOURCE_TABLE = {"profile": "register_profile_hh", "reads": "register_import",
                "export": "register_export"}
_FIRST_VALUE, _END_OF_VALUES = local_midnight(FIRST_DAY), local_midnight(LAST_DAY + timedelta(days=1))
_FIX = "correct or delete that row, then run `flows views retry`"


def check_value_windows(windows: dict[tuple[str, UUID], tuple[Any, Any]]) -> None:
    """Every changed value's timestamp is a time within the days Flows holds."""
    for (source, register), ends in windows.items():
        for moment in ends:
            where = f"{SOURCE_TABLE.get(source, source)} (register {register})"
            if not isinstance(moment, datetime):
                raise BadRow(f"{where} holds the timestamp {moment!r}, not a time Flows can "
                              f"read (UTC text such as 2025-01-06T00:30:00.000Z): {_FIX}")
            if not _FIRST_VALUE <= moment < _END_OF_VALUES:
                raise BadRow(f"{where} holds a value at {moment.isoformat()}, outside the days "
                             f"Flows holds ({FIRST_DAY} to {LAST_DAY}): {_FIX}")


def check_links(db: Database, meters: Iterable[UUID]) -> None:
    """Every customer link of these meters starts and ends at a time Flows can read, within
    the dates a link may have."""
    for link in customers.links_of_meters(db, meters):
        for end in ("valid_from", "valid_to"):
            moment = link[end]
            if moment is None and end == "valid_to":
                continue
            where = (f"customer_meters (customer {link['customer_id']!r}, meter "
                     f"{link['meter_id']})")
            if not isinstance(moment, datetime):
                raise BadRow(f"{where} has {end} {moment!r}, not a time Flows can read: {_FIX}")
            if not customers.within_link_dates(moment):  # the rule links enter by
                raise BadRow(f"{where} has {end} {moment.isoformat()}, outside the dates a link "
                             f"may have ({customers.LINK_DATES}): {_FIX}")
