"""The deployed collector's syncers (simt-emlite 1.2.12, `simt_emlite.sync`), as a test peer:
what each would store for one meter, with a recording fake for their database.

Runs in the Python 3.13 environment that holds the deployed packages (see conftest.py). Usage:
``python deployed_syncers.py MEDIATOR SERIAL HARDWARE``; prints one JSON object: syncer class
name → {"shadow": {...}, "registry": {...}} (the columns it would write to `meter_shadows` and
`meter_registry`) or {"error": "..."}. Each syncer is the published class, run by its own
`fetch_metrics`; only its database is a fake (it reads the meter's registry row from it).
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import enum
import importlib
import inspect
import io
import json
import pkgutil
import sys
from typing import Any

import simt_emlite.sync as sync_package
from simt_emlite.mediator.client import EmlitePrepayAPI
from simt_emlite.sync.syncer_base import SyncerBase

METER_ID = "00000000-0000-0000-0000-000000000001"


class _Result:
    def __init__(self, data: list[dict[str, Any]]) -> None:
        self.data, self.count = data, len(data)


class RecordingTable:
    """A Supabase table query that answers from ``rows`` and records any write."""

    def __init__(self, name: str, rows: list[dict[str, Any]], writes: list[Any]) -> None:
        self.name, self.rows, self.writes = name, rows, writes

    def _record(self, operation: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> RecordingTable:
            if operation in {"insert", "upsert", "update", "delete"}:
                self.writes.append((self.name, operation, args, kwargs))
            return self
        return record

    def __getattr__(self, operation: str) -> Any:
        return self._record(operation)

    def execute(self) -> _Result:
        return _Result(self.rows)


class RecordingDatabase:
    def __init__(self, registry_row: dict[str, Any]) -> None:
        self.registry_row, self.writes = registry_row, []

    def table(self, name: str) -> RecordingTable:
        rows = [self.registry_row] if name == "meter_registry" else []
        return RecordingTable(name, rows, self.writes)

    def rpc(self, name: str, *args: Any, **kwargs: Any) -> RecordingTable:
        return RecordingTable(f"rpc:{name}", [], self.writes)


def plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, decimal.Decimal):
        return {"decimal": str(value)}
    if isinstance(value, float):
        return {"float": repr(value)}
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def syncer_classes() -> list[type[SyncerBase]]:
    found = []
    for module in pkgutil.iter_modules(sync_package.__path__):
        loaded = importlib.import_module(f"{sync_package.__name__}.{module.name}")
        found += [cls for _, cls in inspect.getmembers(loaded, inspect.isclass)
                  if issubclass(cls, SyncerBase) and cls is not SyncerBase
                  and cls.__module__ == loaded.__name__]
    return sorted(found, key=lambda cls: cls.__name__)


def main() -> None:
    mediator, serial, hardware = sys.argv[1:4]
    api = EmlitePrepayAPI(mediator_address=mediator, logging_level=50)
    answers: dict[str, Any] = {}
    for cls in syncer_classes():
        database = RecordingDatabase({"id": METER_ID, "serial": serial, "hardware": hardware})
        syncer = cls(database, api, METER_ID, serial)  # type: ignore[arg-type]
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                updates = syncer.fetch_metrics()
            answers[cls.__name__] = {"shadow": plain(updates.shadow or {}),
                                     "registry": plain(updates.registry or {})}
        except Exception as error:  # noqa: BLE001 - each syncer's outcome is reported
            answers[cls.__name__] = {"error": f"{type(error).__name__}: {error}"}
    print(json.dumps(answers))


if __name__ == "__main__":
    main()
