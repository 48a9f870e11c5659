"""Guarded, audited corrections (both engines): every absurd input is a clear error with nothing
stored, every accepted change has its audit row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flows.db import Database, InvalidValueError, NotFoundError, corrections, registry
from flows.db.corrections import Correction, apply_correction

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
FIRST = NOW - timedelta(days=10)


@pytest.fixture
def meter(db: Database) -> str:
    registry.add_meter(db, "EML1", "127.0.0.1", "EMA1.w", None)
    register = registry.register_id(db, "EML1")
    with db.transaction():
        for n in range(48 * 10):
            corrections.correct_profile_value(db, register, FIRST + n * timedelta(minutes=30),
                                              1_000 + n * 10)
    return "EML1"


def counts(db: Database) -> tuple[int, ...]:
    return tuple(int(db.query(f"SELECT count(*) AS n FROM {table}")[0]["n"]) for table in (
        "register_profile_hh", "register_import", "register_value_changes", "value_corrections"))


def correction(at: datetime, wh: int | None = 5_000, **extra: object) -> Correction:
    extra.setdefault("reason", "test")
    return Correction("EML1", str(extra.pop("element", "A")), at, wh, "test", **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize("at, wh, extra, message", [
    (NOW + timedelta(hours=1), 5_000, {}, "in the future"),
    (datetime(2016, 11, 20, tzinfo=UTC), 5_000, {}, "before the register's first"),
    (FIRST + timedelta(days=1), -1, {}, "outside a register's range"),
    (FIRST + timedelta(days=1), 2**32, {}, "outside a register's range"),
    (FIRST + timedelta(days=1), 5_000, {"element": "B"}, "has no element B"),
    (FIRST + timedelta(hours=1, minutes=7), None, {}, "no profile value"),
    (FIRST + timedelta(hours=1, minutes=7), 5_000, {}, "not on the half-hour grid"),
    (FIRST + timedelta(days=1), 5_000, {"reason": " "}, "give a reason"),
])
def test_absurd_corrections_are_refused_with_nothing_stored(
        db: Database, meter: str, at: datetime, wh: int | None, extra: dict[str, object],
        message: str) -> None:
    before = counts(db)
    with pytest.raises((InvalidValueError, NotFoundError), match=message):
        apply_correction(db, correction(at, wh, **extra), now=NOW)
    assert counts(db) == before


def test_a_long_stretch_needs_confirming(db: Database, meter: str) -> None:
    # 40 days after the last value (a month's typo, not yet in the future) would add 1,921
    # half hours: refused unless confirmed; 30 days before the first adds 1,440: fine.
    later = FIRST + timedelta(days=10 + 40)
    apply_correction(db, correction(FIRST - timedelta(days=30)), now=NOW)
    with pytest.raises(InvalidValueError, match="add 1,921 half hours"):
        apply_correction(db, correction(later), now=later)
    applied = apply_correction(db, correction(later, allow_span=True), now=later)
    assert applied.old_wh is None and applied.new_wh == 5_000


def test_each_change_is_audited_with_old_and_new_values(db: Database, meter: str) -> None:
    at = FIRST + timedelta(days=2)
    old = 1_000 + 96 * 10
    first = apply_correction(db, Correction("EML1", "A", at, old + 5, "admin-key-1234abcd",
                                            reason="meter photo"), now=NOW)
    second = apply_correction(db, Correction("EML1", "A", at, None, "cli:ops", reason="dup"),
                              now=NOW)
    assert (first.old_wh, first.new_wh, second.old_wh, second.new_wh) == (old, old + 5, old + 5, None)
    assert second.change > first.change > 0
    history = corrections.history_of(db, "EML1")
    assert [(row["actor"], row["old_wh"], row["new_wh"], row["reason"], row["element"])
            for row in history] == [("cli:ops", old + 5, None, "dup", "A"),
                                    ("admin-key-1234abcd", old, old + 5, "meter photo", "A")]
    assert all(row["timestamp"] == at and row["source"] == "profile" for row in history)


@pytest.mark.parametrize("wh, flags", [
    (0, "reversal"),  # the whole history reversed
    (1_000 + 96 * 10 + 30_000, "spike and a reversal"),  # 30 kWh in half an hour, then back
    (1_000 + 96 * 10 + 5, ""),  # plausible: stored
])
def test_a_value_making_a_reversal_or_spike_needs_confirming(db: Database, meter: str, wh: int,
                                                             flags: str) -> None:
    from flows.views import correct

    at = FIRST + timedelta(days=2)
    before = counts(db)
    if flags:
        with pytest.raises(InvalidValueError, match=f"would make a {flags}"):
            correct(db, correction(at, wh), now=NOW)
        assert counts(db) == before
    applied = correct(db, correction(at, wh, allow_reversal=True), now=NOW)
    assert applied.new_wh == wh


def test_a_row_in_another_text_form_is_named_not_a_server_error(tmp_path: object) -> None:
    """A row another tool wrote before the database refused other text forms, which the
    migration could not rewrite (the same instant is stored already in Flows' form)."""
    from pathlib import Path

    from flows.db import connect, migrate

    with connect(f"sqlite:///{Path(str(tmp_path)) / 'flows.db'}") as db:
        migrate(db, upto=16)
        registry.add_meter(db, "EML1", "127.0.0.1", "EMA1.w", None)
        register = registry.register_id(db, "EML1")
        corrections.correct_profile_value(db, register, FIRST, 1_000)
        db.raw.execute("INSERT INTO register_profile_hh (register_id, timestamp, cumulative_wh, "
                       "status) VALUES (?, ?, 2000, 0)",
                       (str(register), FIRST.isoformat()))  # ...+00:00: the same instant
        migrate(db)
        with pytest.raises(InvalidValueError, match="Flows cannot read"):
            apply_correction(db, correction(FIRST + timedelta(hours=1)), now=NOW)
