"""The deployed client's three-phase interval reader (simt-emlite 1.2.12,
`three_phase_intervals`), as a test peer: the kWh it reports for each half hour.

Runs in the Python 3.13 environment that holds the deployed packages (see conftest.py). Usage:
``python deployed_three_phase.py MEDIATOR SERIAL START_ISO END_ISO``; prints one JSON object:
interval start (ISO 8601) → total active import in kWh as text, from the CSV the deployed
reader writes (it scales a CT-operated meter's channels itself, after reading 000503).
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import io
import json
import sys

from simt_emlite.mediator.client import EmlitePrepayAPI


def main() -> None:
    mediator, serial, start, end = sys.argv[1:5]
    api = EmlitePrepayAPI(mediator_address=mediator, logging_level=50)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        api.three_phase_intervals(serial, None, datetime.datetime.fromisoformat(start),
                                  datetime.datetime.fromisoformat(end))
    rows = [line for line in printed.getvalue().splitlines() if line.count(",") == 2]
    print(json.dumps({row["created_at"]: row["total_active_energy_import"]
                      for row in csv.DictReader(rows)}))


if __name__ == "__main__":
    main()
