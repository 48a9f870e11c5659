"""Consecutive values of a register: the views' actual intervals and spans.

Consecutive rows are a question for SQL, not for a join on a fixed offset, so the feeder asks
it here: for every register a batch of changes touches, the pairs of consecutive values its
table holds now around the changed timestamps, compared with what the views hold (actual
intervals in ``register_interval_hh``, spans in ``views_spans``, both written in the views'
transactions). Only the difference goes into the iteration. Because states are compared, every
commit of the views reflects one moment of each touched register's table (never two
overlapping pairs, so nothing counted twice), and a change applied again does no harm.

Profile log: two on-grid values exactly half an hour apart make an actual interval; on-grid
values further apart make a span ("gap", or "clock_skew" when off-grid values lie between them).
Register reads (import and export): every two consecutive reads make a span.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from flows.db import Database, intervals
from flows.meterdata import HALF_HOUR
from flows.views.query import IMPORT, RegisterInterval, Span, actual_interval

Window = tuple[datetime, datetime]
REGISTRY_SOURCE = "meter"  # a change to a meter's registers or links; register_id is the meter


def changed_meters(rows: Iterable[dict[str, Any]]) -> set[UUID]:
    """The meters whose registers or customer links changed in ``rows``."""
    return {row["register_id"] for row in rows if row["source"] == REGISTRY_SOURCE}


def touched_windows(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, UUID], Window]:
    """(source, register) → the earliest and latest changed timestamp in ``rows`` (rows of
    registry changes, source "meter", are not values: see `changed_meters`)."""
    windows: dict[tuple[str, UUID], Window] = {}
    for row in rows:
        if row["source"] == REGISTRY_SOURCE:
            continue
        key = (row["source"], row["register_id"])
        stamp = row["timestamp"]
        first, last = windows.get(key, (stamp, stamp))
        windows[key] = (min(first, stamp), max(last, stamp))
    return windows


@dataclass
class Changes:
    actual: dict[RegisterInterval, int] = field(default_factory=dict)
    spans: dict[Span, int] = field(default_factory=dict)


def changes_for(db: Database, windows: dict[tuple[str, UUID], Window]) -> Changes:
    """What the views must add and retract for these windows to match the tables."""
    changes = Changes()
    for (source, register), window in windows.items():
        wanted_actual, wanted_spans, lower, upper = table_pairs(db, source, register, window)
        held_spans = stored_spans(db, source, register, lower, upper)
        _diff(changes.spans, held_spans, wanted_spans)
        if source == "profile":
            _diff(changes.actual, stored_actual(db, register, lower, upper), wanted_actual)
    return changes


def _diff(into: dict[Any, int], held: set[Any], wanted: set[Any]) -> None:
    for value in held - wanted:
        into[value] = -1
    for value in wanted - held:
        into[value] = 1


def table_pairs(db: Database, source: str, register: UUID, window: Window
                ) -> tuple[set[RegisterInterval], set[Span], datetime | None, datetime | None]:
    """The actual intervals and spans the table holds from the last usable value before the
    window to the first after it, and those two values' timestamps (None: no such value, the
    range is open)."""
    values = intervals.values_around(db, source, register, *window)
    usable_values = [(stamp, wh) for stamp, wh, ok in values if ok]
    lower = usable_values[0][0] if usable_values and usable_values[0][0] < window[0] else None
    upper = usable_values[-1][0] if usable_values and usable_values[-1][0] > window[1] else None
    actual, spans = set(), set()
    skewed = [stamp for stamp, _, ok in values if not ok]
    for (first_at, first_wh), (last_at, last_wh) in itertools.pairwise(usable_values):
        if source == "profile" and last_at - first_at == HALF_HOUR:
            actual.add(actual_interval(register, first_at, first_wh, last_wh))
            continue
        flag = ""
        if source == "profile":
            between = any(first_at < stamp < last_at for stamp in skewed)
            flag = "clock_skew" if between else "gap"
        spans.add(Span(register_id=register, source=source, flag=flag, first_at=first_at,
                       first_wh=first_wh, last_at=last_at, last_wh=last_wh))
    return actual, spans, lower, upper


def stored_spans(db: Database, source: str, register: UUID, lower: datetime | None,
                 upper: datetime | None) -> set[Span]:
    """The views' spans of the register that overlap (lower, upper)."""
    return {Span(register_id=register, source=source, flag=row["flag"],
                 first_at=row["first_at"], first_wh=int(row["first_wh"]),
                 last_at=row["last_at"], last_wh=int(row["last_wh"]))
            for row in intervals.stored_spans(db, source, register, lower, upper)}


def stored_actual(db: Database, register: UUID, lower: datetime | None,
                  upper: datetime | None) -> set[RegisterInterval]:
    """The views' actual intervals of the register within [lower, upper)."""
    return {RegisterInterval(register_id=register, direction=IMPORT, start=row["timestamp"],
                             wh=int(row["wh"]), flags=row["flags"], derived=False)
            for row in intervals.stored_actual(db, register, lower, upper)}


def write_spans(writer: Database, changes: dict[Span, int]) -> None:
    """Record the views' spans (inside the iteration's transaction)."""
    intervals.write_spans(writer, [span for span, count in changes.items() if count < 0],
                          [span for span, count in changes.items() if count > 0])
