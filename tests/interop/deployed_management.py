"""The deployed client's management API (simt-emlite 1.2.12: meter_list, meter_info,
meter_clock_drift over InfoService), as a test peer.

Runs in the Python 3.13 environment that holds the deployed packages (see conftest.py). Usage:
``python deployed_management.py MEDIATOR SERIAL ESCO``; prints one JSON object.
"""

from __future__ import annotations

import json
import sys

from simt_emlite.mediator.api_management import EmliteMeterManagementAPI


def main() -> None:
    mediator, serial, esco = sys.argv[1:4]
    api = EmliteMeterManagementAPI(mediator_address=mediator, logging_level=50)
    print(json.dumps({
        "meter_list_esco": json.loads(api.meter_list(esco)),
        "meter_list_all": json.loads(api.meter_list(None)),
        "meter_info": json.loads(api.meter_info(serial)),
        "meter_clock_drift": dict(api.meter_clock_drift(serial)),
    }, default=str))


if __name__ == "__main__":
    main()
