"""Importing the fleet registry from CSV (the simulator writes it): every row is checked first;
one bad row rejects the whole file, with every problem named by row, and nothing is stored.

Columns: serial, ip_address, hardware, esco (required), port (8080 when empty), import_mpan and
export_mpan (optional: 13 digits with a valid check digit, empty when the meter has none)."""

from __future__ import annotations

import csv
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from flows.db import registry
from flows.db.connection import Database, DatabaseError, InvalidValueError

REQUIRED = ("serial", "ip_address", "hardware", "esco")


@dataclass(frozen=True)
class RegistryRow:
    line: int
    serial: str
    ip_address: str
    port: int
    hardware: str
    esco: str
    import_mpan: str | None = None
    export_mpan: str | None = None


class RegistryImportError(DatabaseError):
    def __init__(self, path: Path, problems: list[str]) -> None:
        shown = "\n".join(f"  {p}" for p in problems[:50])
        more = f"\n  … and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{path}: {len(problems)} problem(s), nothing imported:\n{shown}{more}")
        self.problems = problems


def _parse_row(line: int, row: dict[str, str | None], known_escos: set[str],
               problems: list[str]) -> RegistryRow | None:
    missing = [c for c in REQUIRED if not (row.get(c) or "").strip()]
    if missing:
        problems.append(f"row {line}: missing {', '.join(missing)}")
        return None
    serial = (row["serial"] or "").strip()
    ip_text = (row["ip_address"] or "").strip()
    hardware = (row["hardware"] or "").strip()
    esco = (row["esco"] or "").strip()
    port_text = (row.get("port") or "8080").strip()
    ok = True
    try:
        ipaddress.ip_address(ip_text)
    except ValueError:
        problems.append(f"row {line}: bad ip_address {ip_text!r}")
        ok = False
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        problems.append(f"row {line}: bad port {port_text!r}")
        ok = False
    if hardware not in registry.HARDWARE_NAMES:
        problems.append(f"row {line}: unknown hardware {hardware!r} (known: "
                        f"{', '.join(sorted(registry.HARDWARE_NAMES))})")
        ok = False
    if esco not in known_escos:
        problems.append(f"row {line}: unknown esco {esco!r} (add it first: flows escos add)")
        ok = False
    mpans: tuple[str | None, str | None] = (None, None)
    try:
        mpans = registry.checked_mpans(*((row.get(f"{direction}_mpan") or "").strip() or None
                                         for direction in ("import", "export")))
    except InvalidValueError as error:
        problems.append(f"row {line}: {error}")
        ok = False
    return RegistryRow(line, serial, ip_text, int(port_text), hardware, esco,
                       *mpans) if ok else None


def read_registry(path: Path, known_escos: set[str], registered: set[str]) -> list[RegistryRow]:
    """Parse and check the whole file; `RegistryImportError` lists every problem."""
    problems: list[str] = []
    rows: list[RegistryRow] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:  # Excel writes a BOM
            reader = csv.DictReader(handle)
            absent = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
            if absent:
                raise RegistryImportError(path, [f"header: missing column(s) {', '.join(absent)}"])
            for line, cells in enumerate(reader, start=2):
                if None in cells:  # more cells than headers
                    problems.append(f"row {line}: more cells than the header has columns")
                    continue
                parsed = _parse_row(line, cells, known_escos, problems)
                if parsed is not None:
                    rows.append(parsed)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise RegistryImportError(path, [f"cannot read the file: {error}"]) from None
    first_line: dict[str, int] = {}
    addresses: dict[tuple[str, int], int] = {}
    mpan_lines: dict[str, int] = {}
    for row in rows:
        if row.serial in first_line:
            problems.append(f"row {row.line}: duplicate serial {row.serial} (also row "
                            f"{first_line[row.serial]})")
        first_line.setdefault(row.serial, row.line)
        if row.serial in registered:
            problems.append(f"row {row.line}: serial {row.serial} is already registered")
        where = (row.ip_address, row.port)
        if where in addresses:
            problems.append(f"row {row.line}: address {row.ip_address}:{row.port} also on row "
                            f"{addresses[where]}")
        addresses.setdefault(where, row.line)
        for mpan in filter(None, (row.import_mpan, row.export_mpan)):
            if mpan in mpan_lines:  # two meters on one meter point at once: a typo
                problems.append(f"row {row.line}: MPAN {mpan} also on row {mpan_lines[mpan]}")
            mpan_lines.setdefault(mpan, row.line)
    if problems:
        raise RegistryImportError(path, problems)
    return rows


def import_registry(db: Database, path: Path) -> int:
    """Add every meter of the CSV (with shadows and registers), all or nothing; how many."""
    known = set(registry.esco_ids(db))
    registered = {m.serial for m in registry.meters(db)}
    rows = read_registry(path, known, registered)
    with db.transaction():
        escos = registry.esco_ids(db)
        for row in rows:
            registry.add_meter(db, row.serial, row.ip_address, row.hardware, escos[row.esco],
                               port=row.port, import_mpan=row.import_mpan,
                               export_mpan=row.export_mpan)
    return len(rows)
