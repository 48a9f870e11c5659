"""The deployed client's tariff writes (simt-emlite 1.2.12: tariffs_future_write and both
time-switch writes), then its future-tariff read, as a test peer.

Runs in the Python 3.13 environment that holds the deployed packages (see conftest.py). Usage:
``python deployed_tariff_write.py MEDIATOR SERIAL FROM_ISO STANDING UNIT EMERGENCY ECREDIT
DEBT``; prints one JSON object: each write's outcome ("ok" or the error) and the future tariff
read back (money as text).
"""

from __future__ import annotations

import datetime
import json
import sys
from decimal import Decimal
from typing import Any

from simt_emlite.mediator.client import EmlitePrepayAPI


def main() -> None:
    mediator, serial, start, *amounts = sys.argv[1:]
    standing, unit, emergency, ecredit, debt = (Decimal(a) for a in amounts)
    api = EmlitePrepayAPI(mediator_address=mediator, logging_level=50)
    writes = {
        "tariffs_future_write": lambda: api.tariffs_future_write(
            serial, datetime.datetime.fromisoformat(start), standing, unit, emergency, ecredit,
            debt),
        "tariffs_time_switches_element_a_or_single_write":
            lambda: api.tariffs_time_switches_element_a_or_single_write(serial),
        "tariffs_time_switches_element_b_write":
            lambda: api.tariffs_time_switches_element_b_write(serial),
    }
    answer: dict[str, Any] = {}
    for name, write in writes.items():
        try:
            write()
            answer[name] = "ok"
        except Exception as error:  # noqa: BLE001 - each write's outcome is reported
            answer[name] = f"{type(error).__name__}: {error}"
    future = dict(api.tariffs_future_read(serial))  # a TypedDict
    answer["tariffs_future_read"] = {
        key: str(future[key]) for key in (
            "standing_charge", "unit_rate_element_a", "unit_rate_element_b",
            "prepayment_emergency_credit", "prepayment_ecredit_availability",
            "prepayment_debt_recovery_rate")}
    answer["tariffs_future_read"]["activation_datetime"] = str(future["activation_datetime"])
    print(json.dumps(answer))


if __name__ == "__main__":
    main()
