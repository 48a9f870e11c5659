"""The interval rules and their SQL twins against one table of cases, on both engines."""

from __future__ import annotations

from flows.db import Database
from flows.meterdata import REGISTER_MAX_WH, REGISTER_SENTINEL_WH, SPIKE_WH
from flows.views.rules import (
    DayTotal,
    actual_interval,
    actual_interval_sql,
    day_total_sql,
    quality,
    quality_sql,
)

# (first, last) cumulative Wh half an hour apart → (Wh, flags)
ACTUAL_INTERVALS = [
    ((5_000, 5_100), (100, "")),
    ((5_000, 5_000), (0, "")),
    ((0, SPIKE_WH), (SPIKE_WH, "")),
    ((0, SPIKE_WH + 1), (SPIKE_WH + 1, "spike")),
    ((5_100, 5_000), (-100, "reversal")),
    ((REGISTER_MAX_WH - 10, 20), (31, "rollover")),
    ((REGISTER_MAX_WH - 2_000_000, 20), (20 - REGISTER_MAX_WH + 2_000_000, "reversal")),
    ((REGISTER_MAX_WH - 10, 2_000_000), (2_000_000 - REGISTER_MAX_WH + 10, "reversal")),
    ((REGISTER_SENTINEL_WH, 5_000), (5_000 - REGISTER_SENTINEL_WH, "sentinel")),
    ((5_000, REGISTER_SENTINEL_WH), (REGISTER_SENTINEL_WH - 5_000, "sentinel")),
]
# (flags, derived) → quality
QUALITIES = [
    (("", False), "actual"),
    (("", True), "estimated"),
    (("gap", True), "estimated"),
    (("clock_skew,rollover", True), "estimated"),
    (("rollover", False), "actual"),
    (("spike", False), "invalid"),
    (("gap,spike", True), "invalid"),
    (("reversal", False), "invalid"),
    (("clock_skew,sentinel", True), "invalid"),
    (("derived", False), "estimated"),
]


def test_actual_interval_in_python_and_sql(db: Database) -> None:
    wh, flags = actual_interval_sql("first_wh", "last_wh")
    for (first, last), expected in ACTUAL_INTERVALS:
        assert actual_interval(first, last) == expected
        row = db.query(f"SELECT {wh} AS wh, {flags} AS flags FROM (SELECT CAST(:first AS "
                       "bigint) AS first_wh, CAST(:last AS bigint) AS last_wh) AS v",
                       {"first": first, "last": last})[0]
        assert (int(row["wh"]), row["flags"]) == expected, (first, last)


def test_quality_in_python_and_sql(db: Database) -> None:
    for (flags, derived), expected in QUALITIES:
        assert quality(flags, derived) == expected
        if flags == "derived":
            continue  # the API's flag text; stored intervals keep it in their own column
        row = db.query(f"SELECT {quality_sql('flags', 'derived')} AS quality FROM (SELECT "
                       "CAST(:flags AS text) AS flags, :derived AS derived) AS v",
                       {"flags": flags, "derived": derived})[0]
        assert row["quality"] == expected, (flags, derived)


def test_day_total_in_python_and_sql(db: Database) -> None:
    half_hours = [(wh * 7, flags, derived)
                  for wh, ((flags, derived), _) in enumerate(QUALITIES) if flags != "derived"]
    python = DayTotal()
    for wh, flags, derived in half_hours:
        python = python + DayTotal.of_half_hour(wh, flags, derived)
    rows = " UNION ALL ".join(f"SELECT {wh} AS wh, '{flags}' AS flags, {str(derived).upper()} "
                              "AS derived" for wh, flags, derived in half_hours)
    row = db.query(f"SELECT {day_total_sql('wh', 'quality')} FROM (SELECT wh, "
                   f"{quality_sql('flags', 'derived')} AS quality FROM ({rows}) AS h) AS q")[0]
    assert DayTotal(*(int(row[name]) for name in ("wh", "actual", "estimated", "invalid",
                                                   "invalid_wh"))) == python
    assert (python.actual, python.estimated, python.invalid) == (2, 3, 4)
