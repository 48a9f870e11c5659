"""The views' daily aggregates written in the iteration's transaction (its ``before_commit``)."""

from __future__ import annotations

from typing import Any

import flows.ivm as st
from flows.db import Database, daily


def _split(output: st.ZSetPython[Any]) -> tuple[list[Any], list[Any]]:
    removed: list[Any] = []
    added: list[Any] = []
    for value, count in output.iter():
        (added if count > 0 else removed).append(value)
    return removed, added


def write_outputs(writer: Database, outputs: tuple[st.ZSetPython[Any], ...]) -> None:
    """Apply the query's output changes (meter days, customer days) to their tables."""
    meter_days, customer_days = outputs
    daily.write_meter_days(writer, *_split(meter_days))
    daily.write_customer_days(writer, *_split(customer_days))
