"""A simulated fleet (real TCP) behind a mediator (real gRPC), registered in a Flows database."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from flows.collect import CycleSummary, sync_cycle
from flows.db import Database, registry
from flows.mediator import MediatorClient
from flows.mediator.links import LinkSettings, MeterLinks
from flows.mediator.server import Metrics, start_server
from flows.meters import FleetServer, SimClock, VirtualMeter

# The simulated fleet's (frozen) time is the real time: syncers ask for the last 30 days.
START = datetime.now(UTC).replace(microsecond=0)
SETTINGS = LinkSettings(min_gap_s=0.0, connect_attempts=2, connect_backoff_s=0.01, read_timeout_s=0.5)
# For fault-free fleets whose requests are counted: the mediator re-asks a read that timed out,
# so on a busy machine a short timeout would look like a meter synced twice.
PATIENT = replace(SETTINGS, read_timeout_s=10.0)


@dataclass
class Running:
    fleet: FleetServer
    mediator: str  # host:port

    def requests_by_serial(self) -> dict[str, list[bytes]]:
        """Each meter's request frames so far."""
        return {e.meter.serial: [raw for *_, raw in self.fleet.requests.get(e.meter.number, [])]
                for e in self.fleet.endpoints}


@contextlib.asynccontextmanager
async def fleet_behind_mediator(db: Database, meters: list[VirtualMeter],
                                settings: LinkSettings = SETTINGS) -> AsyncIterator[Running]:
    async with FleetServer(meters, SimClock(START, speed=0), port=0, own_addresses=False) as fleet:
        addresses = {e.meter.serial: (e.host, e.port) for e in fleet.endpoints}
        for code in {m.esco for m in meters}:
            registry.add_esco(db, code)
        escos = registry.esco_ids(db)
        with db.transaction():
            for endpoint in fleet.endpoints:
                registry.add_meter(db, endpoint.meter.serial, endpoint.host, endpoint.meter.hardware,
                               escos[endpoint.meter.esco], port=endpoint.port)

        async def resolve(serial: str) -> tuple[str, int] | None:
            return addresses.get(serial)

        server, port = await start_server("127.0.0.1:0", MeterLinks(resolve, settings), Metrics.create())
        try:
            yield Running(fleet, f"127.0.0.1:{port}")
        finally:
            await server.stop(None)


def only_metric(db: Database, frequency: str, name: str) -> None:
    """Collect only ``name``, at ``frequency``."""
    for row in db.query("SELECT name FROM meter_metrics"):
        registry.set_metric(db, row["name"], enabled=False)
    registry.set_metric(db, name, enabled=True, frequency=frequency)


def run_cycles(
    db: Database, meters: list[VirtualMeter], frequencies: tuple[str, ...],
    settings: LinkSettings = SETTINGS,
) -> dict[str, CycleSummary]:
    """One sync cycle of each frequency of these meters, behind a mediator."""
    async def main() -> dict[str, CycleSummary]:
        async with fleet_behind_mediator(db, meters, settings) as running, MediatorClient(
                running.mediator, deadline_s=30) as client:
            return {frequency: await sync_cycle(db, client, frequency, parallel=50)
                    for frequency in frequencies}

    return asyncio.run(main())
