"""Every read method of the deployed Emlite client (simt-emlite 1.2.12), as a test peer.

Runs in the Python 3.13 environment that holds the deployed packages (see conftest.py), never
in Flows' own. Usage: ``python deployed_client.py MEDIATOR SERIAL PROFILE_SINCE_ISO twin|single HARDWARE``;
prints one JSON object: method name → {"value": ...} or {"error": "..."}, the values made
JSON-able as they come (Decimals and bytes as text, datetimes in ISO 8601, enums by value,
the package's record objects by their public attributes).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import decimal
import enum
import io
import json
import sys
from typing import Any

from simt_emlite.mediator.client import EmlitePrepayAPI


def plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value):
        return {field.name: plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return {k: plain(v) for k, v in vars(value).items() if not k.startswith("_")}


def main() -> None:
    mediator, serial, since_text, twin, hardware = sys.argv[1:6]
    since = datetime.datetime.fromisoformat(since_text)
    api = EmlitePrepayAPI(mediator_address=mediator, logging_level=50)
    calls: dict[str, tuple[Any, ...]] = {
        "serial_read": (), "hardware": (), "firmware_version": (), "clock_time_read": (),
        "csq": (), "read_element_a": (), "read_element_b": (), "read": (),
        "instantaneous_voltage": (), "instantaneous_active_power": (),
        "instantaneous_active_power_element_a": (), "instantaneous_active_power_element_b": (),
        "backlight": (), "load_switch": (), "daylight_savings_correction_enabled": (),
        "three_phase_hardware_configuration": (), "three_phase_instantaneous_voltage": (),
        "three_phase_read": (hardware,), "three_phase_serial": (), "prepay_balance": (),
        "prepay_enabled": (), "prepay_no_debt_recovery_when_emergency_credit_enabled": (),
        "prepay_no_standing_charge_when_power_fail_enabled": (), "prepay_transaction_count": (),
        "tariffs_active_read": (), "tariffs_future_read": (),
        "tariffs_time_switches_element_a_or_single_read": (),
        "tariffs_time_switches_element_b_read": (), "event_log": (0,),
        "profile_log_1": (since,), "profile_log_2": (since, twin == "twin"),
        "obis_read": ("96.1.0",),  # OBIS 96.1.0 is object 600100, the serial
        "three_phase_intervals": (None, since, since + datetime.timedelta(hours=2)),
    }
    results: dict[str, Any] = {}
    for name, args in calls.items():
        try:
            # three_phase_intervals also prints its CSV: keep stdout for the JSON answer.
            with contextlib.redirect_stdout(io.StringIO()):
                answer = getattr(api, name)(serial, *args)
            results[name] = {"value": plain(answer)}
        except Exception as error:  # noqa: BLE001 - each method's outcome is reported
            results[name] = {"error": f"{type(error).__name__}: {error}"}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
