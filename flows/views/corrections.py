"""Corrections judged by the views' own interval rules: a value that would make a reversal, a
spike or a sentinel with the values around it is refused unless ``allow_reversal`` confirms
it (a ``wh: 0`` on a 17.9 MWh register reverses its whole history). The API and the CLI both
correct through `correct`; `flows.db.corrections.apply_correction` checks the rest and stores
it, audited, in one transaction with the judgement."""

from __future__ import annotations

from datetime import datetime

from flows.db.connection import Database
from flows.db.corrections import Applied, Correction, Value, apply_correction
from flows.meterdata import HALF_HOUR
from flows.views.rules import actual_interval, advance


def correct(db: Database, correction: Correction, now: datetime | None = None) -> Applied:
    return apply_correction(db, correction, now, judge=interval_flags)


def interval_flags(source: str, before: Value | None, value: Value, after: Value | None
                   ) -> list[str]:
    """The implausible flags the value's intervals with its neighbours would get: profile
    values half an hour apart are actual intervals (spikes count), others spans."""
    found: list[str] = []
    for first, last in ((before, value), (value, after)):
        if first is None or last is None:
            continue
        adjacent = source == "profile" and last[0] - first[0] == HALF_HOUR
        _, flag = (actual_interval if adjacent else advance)(first[1], last[1])
        if flag and flag != "rollover" and flag not in found:
            found.append(flag)
    return found
