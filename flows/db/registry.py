"""The registry: escos, meters and their registers, and which metrics run how often.

Every function takes a `Database` and runs in the caller's transaction when there is one
(``with db.transaction(): ...``), else each statement on its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from flows.db.connection import (
    ConflictError,
    Database,
    InvalidValueError,
    NotFoundError,
    query_in,
)
from flows.meterdata import FREQUENCIES, SERIAL_PATTERN, Hardware, check_mpan

REGISTRY_COLUMNS = {"name", "hardware", "firmware_version", "prepay_enabled", "serial",
                    "daylight_savings_correction_enabled", "mode", "ip_address", "port"}
HARDWARE_NAMES = sorted(hardware.value for hardware in Hardware)


@dataclass(frozen=True)
class Meter:
    id: UUID
    serial: str
    ip_address: str | None
    port: int
    hardware: str | None
    esco_code: str | None
    mode: str
    import_mpan: str | None = None
    export_mpan: str | None = None

    @property
    def kind(self) -> Hardware | None:
        """The hardware as a `Hardware`, None when unknown (not synced yet)."""
        return Hardware(self.hardware) if self.hardware in HARDWARE_NAMES else None


def _ip(db: Database, column: str) -> str:
    return f"host({column})" if db.engine == "postgres" else column


def check_serial(serial: str) -> str:
    if not re.fullmatch(SERIAL_PATTERN, serial):
        raise InvalidValueError(f"{serial[:80]!r} is not a meter serial: letters and digits "
                                "(then also . _ -), at most 64")
    return serial


def check_hardware(hardware: str) -> Hardware:
    if hardware not in HARDWARE_NAMES:
        raise InvalidValueError(f"unknown hardware {hardware!r} (known: {', '.join(HARDWARE_NAMES)})")
    return Hardware(hardware)


def checked_mpans(import_mpan: str | None, export_mpan: str | None) -> tuple[str | None, str | None]:
    """A meter's import and export MPANs as stored (`check_mpan`), each may be None; they
    differ. `InvalidValueError` naming the problem otherwise."""
    try:
        checked = tuple(None if mpan is None else check_mpan(mpan)
                        for mpan in (import_mpan, export_mpan))
    except ValueError as error:
        raise InvalidValueError(str(error)) from None
    if checked[0] is not None and checked[0] == checked[1]:
        raise InvalidValueError(f"MPAN {checked[0]} cannot be both the import and the export "
                                "MPAN of a meter")
    return checked[0], checked[1]


def check_frequency(frequency: str) -> str:
    if frequency not in FREQUENCIES:
        raise InvalidValueError(f"frequency must be one of {', '.join(FREQUENCIES)}, not {frequency!r}")
    return frequency


# Escos ----------------------------------------------------------------------------------------


def add_esco(db: Database, code: str, name: str | None = None) -> UUID:
    esco_id = uuid4()
    try:
        db.execute("INSERT INTO escos (id, code, name) VALUES (:id, :code, :name)",
                   {"id": esco_id, "code": code, "name": name or code})
    except ConflictError:
        raise ConflictError(f"esco {code!r} exists already") from None
    return esco_id


def esco_ids(db: Database) -> dict[str, UUID]:
    return {row["code"]: row["id"] for row in db.query("SELECT id, code FROM escos")}


def esco_id(db: Database, code: str) -> UUID:
    """The id of the esco with ``code``; `NotFoundError` when there is none."""
    rows = db.query("SELECT id FROM escos WHERE code = :code", {"code": code})
    if not rows:
        raise NotFoundError(f"no esco {code!r}")
    found: UUID = rows[0]["id"]
    return found


def set_meter_esco(db: Database, serial: str, esco: UUID | None) -> None:
    """Move the meter to another esco (None: to none); the views follow (change log)."""
    if not db.execute("UPDATE meter_registry SET esco = :esco WHERE serial = :serial",
                      {"esco": esco, "serial": serial}):
        raise NotFoundError(f"no meter with serial {serial!r}")


# Meters and registers -------------------------------------------------------------------------


def add_meter(db: Database, serial: str, ip_address: str | None, hardware: str, esco: UUID | None,
              port: int = 8080, mode: str = "active", import_mpan: str | None = None,
              export_mpan: str | None = None) -> UUID:
    """A meter, its shadow (by trigger) and its registers: A and B on twin-element meters."""
    check_serial(serial)
    kind = check_hardware(hardware)
    mpans = checked_mpans(import_mpan, export_mpan)
    meter_id = uuid4()
    values = {"id": meter_id, "serial": serial, "ip_address": ip_address, "port": port,
              "hardware": kind.value, "esco": esco, "mode": mode}
    # The MPAN columns only when given: tests of older migrations add meters to older schemas.
    values |= {column: mpan for column, mpan in zip(("import_mpan", "export_mpan"), mpans,
                                                    strict=True) if mpan is not None}
    try:
        db.execute(f"INSERT INTO meter_registry ({', '.join(values)}) "
                   f"VALUES ({', '.join(':' + column for column in values)})", values)
    except ConflictError as error:
        if "serial" in str(error):
            raise ConflictError(f"a meter with serial {serial!r} exists already") from None
        raise ConflictError(f"another meter has the address {ip_address}:{port} already") from None
    for element in kind.elements:
        db.execute("INSERT INTO meter_registers (register_id, meter_id, element) "
                   "VALUES (:register, :meter, :element)",
                   {"register": uuid4(), "meter": meter_id, "element": element})
    return meter_id


def meters(db: Database, esco: str | None = None, active_only: bool = False) -> list[Meter]:
    """Meters (of one esco), by serial; ``active_only``: mode active with an address."""
    rows = db.query(
        f"SELECT r.id, r.serial, {_ip(db, 'r.ip_address')} AS ip, r.port, r.hardware, "
        "e.code AS esco_code, r.mode, r.import_mpan, r.export_mpan FROM meter_registry r "
        "LEFT JOIN escos e ON e.id = r.esco "
        "WHERE (CAST(:esco AS TEXT) IS NULL OR e.code = :esco) AND (:all_modes OR (r.mode = 'active' AND "
        "r.ip_address IS NOT NULL)) ORDER BY r.serial",
        {"esco": esco, "all_modes": not active_only})
    return [Meter(r["id"], r["serial"], r["ip"], int(r["port"]), r["hardware"],
                  r["esco_code"], r["mode"], r["import_mpan"], r["export_mpan"]) for r in rows]


def meter_id(db: Database, serial: str) -> UUID:
    """The id of the meter with ``serial``; `NotFoundError` when there is none."""
    rows = db.query("SELECT id FROM meter_registry WHERE serial = :s", {"s": serial})
    if not rows:
        raise NotFoundError(f"no meter with serial {serial!r}")
    found: UUID = rows[0]["id"]
    return found


def set_mpans(db: Database, serial: str, given: Mapping[str, str | None]) -> None:
    """Give the meter with ``serial`` the MPANs in ``given`` (direction, import or export →
    MPAN; None: none), together (a swap is one change)."""
    unknown = set(given) - {"import", "export"}
    if unknown:
        raise InvalidValueError(f"MPANs are for import or export, not {', '.join(sorted(unknown))}")
    with db.transaction():
        row = registry_row(db, serial)
        if row is None:
            raise NotFoundError(f"no meter with serial {serial!r}")
        mpans = {"import": row["import_mpan"], "export": row["export_mpan"], **given}
        checked = checked_mpans(mpans["import"], mpans["export"])
        db.execute("UPDATE meter_registry SET import_mpan = :import_mpan, "
                   "export_mpan = :export_mpan WHERE id = :id",
                   {"import_mpan": checked[0], "export_mpan": checked[1], "id": row["id"]})


def meter_on_mpan(db: Database, mpan: str, serial: str) -> tuple[UUID, str]:
    """The meter with ``serial`` on the meter point ``mpan`` and which direction that MPAN
    is for it (import or export); `NotFoundError` naming which is unknown."""
    rows = db.query("SELECT id, import_mpan, export_mpan FROM meter_registry WHERE serial = :s",
                    {"s": serial})
    if not rows:
        raise NotFoundError(f"no meter with serial {serial!r}")
    for direction in ("import", "export"):
        if rows[0][f"{direction}_mpan"] == mpan:
            return rows[0]["id"], direction
    raise NotFoundError(f"meter {serial} is not on MPAN {mpan}")


def meters_on_mpan(db: Database, mpan: str) -> list[dict[str, Any]]:
    """The meters (serial, direction) whose import or export MPAN is ``mpan``, by serial."""
    return db.query(
        "SELECT serial, 'import' AS direction FROM meter_registry WHERE import_mpan = :m "
        "UNION ALL SELECT serial, 'export' FROM meter_registry WHERE export_mpan = :m "
        "ORDER BY serial", {"m": mpan})


def register_id(db: Database, serial: str, element: str = "A") -> UUID:
    """The register of one element of the meter with ``serial``."""
    rows = db.query("SELECT register_id FROM meter_registers WHERE meter_id = :m AND element = :e "
                    "ORDER BY status = 'enabled' DESC, start_time DESC",
                    {"m": meter_id(db, serial), "e": element})
    if not rows:
        raise NotFoundError(f"meter {serial} has no element {element} register")
    found: UUID = rows[0]["register_id"]
    return found


def enabled_registers(db: Database, meter: UUID) -> dict[str, UUID]:
    """element → register id of the meter's enabled registers."""
    return {row["element"]: row["register_id"] for row in db.query(
        "SELECT element, register_id FROM meter_registers WHERE meter_id = :m AND status = 'enabled'",
        {"m": meter})}


def replace_register(db: Database, serial: str, element: str = "A") -> UUID:
    """The meter's register of ``element`` replaced (a new physical register): the old one is
    kept with status ``replaced`` (its history stays the meter's), a new one enabled. The new
    register's id."""
    meter, new = meter_id(db, serial), uuid4()
    with db.transaction():
        replaced = db.execute("UPDATE meter_registers SET status = 'replaced', end_time = :now "
                              "WHERE meter_id = :m AND element = :e AND status = 'enabled'",
                              {"m": meter, "e": element, "now": datetime.now(UTC)})
        if not replaced:
            raise NotFoundError(f"meter {serial} has no enabled element {element} register")
        db.execute("INSERT INTO meter_registers (register_id, meter_id, element) "
                   "VALUES (:r, :m, :e)", {"r": new, "m": meter, "e": element})
    return new


def registers(db: Database, meter: UUID) -> list[dict[str, Any]]:
    """The meter's registers (register_id, element, status), by element."""
    return db.query("SELECT register_id, element, status FROM meter_registers "
                    "WHERE meter_id = :m ORDER BY element", {"m": meter})


def registry_row(db: Database, serial: str) -> dict[str, Any] | None:
    """Every registry column of the meter with ``serial``, None when there is none."""
    rows = db.query("SELECT * FROM meter_registry WHERE serial = :s", {"s": serial})
    return rows[0] if rows else None


def active_meters(db: Database, esco: str | None = None) -> list[dict[str, Any]]:
    """Active meters (of one esco, its code matched whatever its case, as the deployed
    mediator matches it; None: of every esco) with their signal quality and health, by serial
    (the mediator's GetMeters)."""
    return db.query(
        "SELECT r.id, r.ip_address, r.serial, r.name, e.code AS esco, s.csq, s.health, "
        "r.hardware FROM meter_registry r JOIN escos e ON e.id = r.esco "
        "JOIN meter_shadows s ON s.id = r.id "
        "WHERE (CAST(:esco AS TEXT) IS NULL OR lower(e.code) = lower(:esco)) "
        "AND r.mode = 'active' ORDER BY r.serial",
        {"esco": esco},
    )


def update_registry_if_changed(db: Database, meter: UUID, **fields: Any) -> bool:
    """Write registry facts only when they differ from what is stored; whether anything did."""
    unknown = set(fields) - REGISTRY_COLUMNS
    if unknown:
        raise InvalidValueError(f"not registry columns: {', '.join(sorted(unknown))}")
    changes = " OR ".join(f"{c} IS DISTINCT FROM :{c}" if db.engine == "postgres"
                          else f"{c} IS NOT :{c}" for c in fields)
    assignments = ", ".join(f"{c} = :{c}" for c in fields)
    return db.execute(f"UPDATE meter_registry SET {assignments} WHERE id = :id AND ({changes})",
                      {**fields, "id": meter}) > 0


# Metrics --------------------------------------------------------------------------------------


def enabled_metrics(db: Database, frequency: str) -> list[str]:
    return [r["name"] for r in db.query(
        "SELECT name FROM meter_metrics WHERE enabled AND run_frequency = :f ORDER BY name",
        {"f": check_frequency(frequency)})]


def metrics(db: Database) -> list[dict[str, Any]]:
    """Every metric with whether it is enabled and how often it runs, by frequency and name."""
    return db.query("SELECT name, enabled, run_frequency FROM meter_metrics ORDER BY run_frequency, name")


def set_metric(db: Database, name: str, enabled: bool | None = None,
               frequency: str | None = None) -> None:
    if frequency is not None:
        check_frequency(frequency)
    changed = db.execute("UPDATE meter_metrics SET enabled = COALESCE(:enabled, enabled), "
                         "run_frequency = COALESCE(:frequency, run_frequency) WHERE name = :name",
                         {"enabled": enabled, "frequency": frequency, "name": name})
    if not changed:
        raise NotFoundError(f"no metric named {name!r}")


def register_meters(db: Database, meters: Iterable[UUID]) -> list[tuple[UUID, UUID]]:
    """(register id, meter id) of every register of these meters."""
    return [(row["register_id"], row["meter_id"]) for row in query_in(
        db, "SELECT register_id, meter_id FROM meter_registers WHERE meter_id IN ({values})",
        meters)]


def meters_of_registers(db: Database, registers: Iterable[UUID]) -> dict[UUID, UUID]:
    """register id → its meter's id (registers no meter has are left out)."""
    return {row["register_id"]: row["meter_id"] for row in query_in(
        db, "SELECT register_id, meter_id FROM meter_registers WHERE register_id IN ({values})",
        registers)}


def meters_with_registers(db: Database, after: UUID | None, limit: int) -> list[UUID]:
    """Up to ``limit`` ids of meters that have registers, after ``after`` (None: from the
    first), in id order: a page at a time."""
    rows = db.query("SELECT DISTINCT meter_id FROM meter_registers "
                    + ("WHERE meter_id > :after " if after is not None else "")
                    + "ORDER BY meter_id LIMIT :n", {"after": after, "n": limit})
    return [row["meter_id"] for row in rows]


def count_meters_with_registers(db: Database) -> int:
    return int(db.query("SELECT count(DISTINCT meter_id) AS n FROM meter_registers")[0]["n"])
