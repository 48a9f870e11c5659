"""flows.meters: a simulated fleet of Emlite meters speaking EMOP over TCP, with faults.

    meters = build_fleet(200, seed=1, start=datetime.now(UTC))
    async with FleetServer(meters, SimClock(start, speed=60)) as fleet:
        ...  # fleet.endpoints[i].host / .port
"""

from flows.meters.fleet import FaultRates, SimClock, build_fleet
from flows.meters.model import Faults, VirtualMeter
from flows.meters.responder import respond
from flows.meters.server import FleetServer, MeterEndpoint, loopback_host

__all__ = ["FaultRates", "Faults", "FleetServer", "MeterEndpoint", "SimClock", "VirtualMeter",
           "build_fleet", "loopback_host", "respond"]
