"""Future tariffs scheduled to meters (``tariff_schedules``) and each attempt's audited
outcome per meter (``tariff_schedule_outcomes``): `flows tariffs schedule` writes a tariff to
the meters whose last outcome for it is not verified."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from flows.db import registry
from flows.db.connection import Database, InvalidValueError, NotFoundError

OUTCOMES = ("verified", "failed")


@dataclass(frozen=True)
class FutureTariff:
    """A tariff a meter switches to at ``activation``: GBP per day and per kWh (five decimal
    places at most, as a meter holds money). The prepayment settings (GBP) are optional: left
    out, each meter keeps its active ones."""

    activation: datetime
    standing_charge: Decimal
    unit_rate: Decimal
    emergency_credit: Decimal | None = None
    ecredit_availability: Decimal | None = None
    debt_recovery_rate: Decimal | None = None

    def __post_init__(self) -> None:
        if self.activation.tzinfo is None:
            raise InvalidValueError("the activation time needs a time zone (UTC offset)")
        if self.activation.microsecond:
            raise InvalidValueError("a meter holds the activation time to the second")
        for name in ("standing_charge", "unit_rate", "emergency_credit", "ecredit_availability",
                     "debt_recovery_rate"):
            amount = getattr(self, name)
            if amount is None:
                continue
            if not amount.is_finite() or amount < 0 or amount != round(amount, 5) \
                    or amount >= Decimal(2**32) / 100_000:
                raise InvalidValueError(f"{name.replace('_', ' ')} {amount}: a meter holds "
                                        "money from 0 to 42,949.67295 with 5 decimal places")

    def values(self) -> dict[str, Any]:
        return {"activation": self.activation, "standing_charge": self.standing_charge,
                "unit_rate": self.unit_rate, "emergency_credit": self.emergency_credit,
                "ecredit_availability": self.ecredit_availability,
                "debt_recovery_rate": self.debt_recovery_rate}


def schedule(db: Database, tariff: FutureTariff, actor: str) -> UUID:
    """The schedule of this tariff (the same values: the same schedule), made if new."""
    # Money as text with its five places (0.5 and 0.50000 are one tariff on SQLite too).
    values = {name: (f"{value:.5f}" if isinstance(value, Decimal) else value)
              for name, value in tariff.values().items()}
    found = db.query(
        "SELECT id FROM tariff_schedules WHERE activation = :activation "
        "AND standing_charge = :standing_charge AND unit_rate = :unit_rate "
        "AND coalesce(emergency_credit, '-') = coalesce(CAST(:emergency_credit AS TEXT), '-') "
        "AND coalesce(ecredit_availability, '-') = coalesce(CAST(:ecredit_availability AS TEXT), '-') "
        "AND coalesce(debt_recovery_rate, '-') = coalesce(CAST(:debt_recovery_rate AS TEXT), '-')"
        if db.engine == "sqlite" else
        "SELECT id FROM tariff_schedules WHERE activation = :activation "
        "AND standing_charge = CAST(:standing_charge AS numeric) "
        "AND unit_rate = CAST(:unit_rate AS numeric) "
        "AND emergency_credit IS NOT DISTINCT FROM CAST(:emergency_credit AS numeric) "
        "AND ecredit_availability IS NOT DISTINCT FROM CAST(:ecredit_availability AS numeric) "
        "AND debt_recovery_rate IS NOT DISTINCT FROM CAST(:debt_recovery_rate AS numeric)",
        values)
    if found:
        return UUID(str(found[0]["id"]))
    schedule_id = uuid4()
    db.execute("INSERT INTO tariff_schedules (id, activation, standing_charge, unit_rate, "
               "emergency_credit, ecredit_availability, debt_recovery_rate, created_at, actor) "
               "VALUES (:id, :activation, :standing_charge, :unit_rate, :emergency_credit, "
               ":ecredit_availability, :debt_recovery_rate, :at, :actor)",
               {**values, "id": schedule_id, "at": datetime.now(UTC), "actor": actor})
    return schedule_id


def record_outcome(db: Database, schedule_id: UUID, meter: UUID, outcome: str, reason: str,
                   actor: str) -> None:
    if outcome not in OUTCOMES:
        raise InvalidValueError(f"outcome {outcome!r} is not one of {', '.join(OUTCOMES)}")
    db.execute("INSERT INTO tariff_schedule_outcomes (schedule_id, meter_id, at, actor, outcome, "
               "reason) VALUES (:s, :m, :at, :actor, :outcome, :reason)",
               {"s": schedule_id, "m": meter, "at": datetime.now(UTC), "actor": actor,
                "outcome": outcome, "reason": reason})


def latest_outcomes(db: Database, schedule_id: UUID) -> dict[str, dict[str, Any]]:
    """serial → the meter's last outcome for the schedule (outcome, reason, at, actor)."""
    if not db.query("SELECT id FROM tariff_schedules WHERE id = :s", {"s": schedule_id}):
        raise NotFoundError(f"no tariff schedule {schedule_id}")
    rows = db.query(
        "SELECT r.serial, o.outcome, o.reason, o.at, o.actor FROM tariff_schedule_outcomes o "
        "JOIN meter_registry r ON r.id = o.meter_id WHERE o.schedule_id = :s AND o.id = "
        "(SELECT max(last.id) FROM tariff_schedule_outcomes last WHERE last.schedule_id = :s "
        "AND last.meter_id = o.meter_id) ORDER BY r.serial", {"s": schedule_id})
    return {row["serial"]: {key: row[key] for key in ("outcome", "reason", "at", "actor")}
            for row in rows}


def verified_meters(db: Database, schedule_id: UUID) -> set[str]:
    """The serials whose last outcome for the schedule is verified (a re-run skips them)."""
    return {serial for serial, last in latest_outcomes(db, schedule_id).items()
            if last["outcome"] == "verified"}


def target_meters(db: Database, esco: str | None = None, serials: tuple[str, ...] = (),
                  file: Path | None = None) -> list[str]:
    """The serials a schedule goes to: an esco's active meters, the serials given and those of
    a file (one per line; blank lines and ``#`` comments ignored). Unknown serials are an
    error naming them (nothing is written)."""
    chosen = list(serials)
    if file is not None:
        chosen += [line.split("#")[0].strip() for line in file.read_text().splitlines()
                   if line.split("#")[0].strip()]
    if esco is not None:
        chosen += [str(row["serial"]) for row in registry.active_meters(db, esco)]
    if not chosen:
        raise InvalidValueError("no meters: name an esco, serials or a file of serials")
    known = {meter.serial for meter in registry.meters(db)}
    unknown = sorted(set(chosen) - known)
    if unknown:
        raise InvalidValueError(f"unknown meters: {', '.join(unknown[:10])}"
                                + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""))
    return sorted(set(chosen))
