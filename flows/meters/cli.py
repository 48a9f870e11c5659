"""`flows simulate`: run a simulated fleet and write its registry as CSV."""

from __future__ import annotations

import asyncio
import csv
import signal
from datetime import UTC, datetime
from pathlib import Path

import click

from flows import eventloop
from flows.meterdata import mpan_check_digit
from flows.meters.fleet import FaultRates, SimClock, build_fleet
from flows.meters.model import VirtualMeter
from flows.meters.server import FleetServer

REGISTRY_COLUMNS = ("serial", "ip_address", "port", "hardware", "esco", "emop_address", "faults",
                    "import_mpan", "export_mpan")


def _parse_start(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def simulated_mpans(meter: VirtualMeter) -> tuple[str, str]:
    """The meter's import MPAN and, when it has solar panels, its export MPAN: valid (check
    digit and all), spread over the 14 distributor areas, one per meter of a fleet."""
    distributor = 10 + meter.number % 14
    serial_digits = int(meter.serial.removeprefix("EML")) % 10**9
    cores = [f"{distributor}{kind}{serial_digits:09d}" for kind in (0, 9)]
    mpans = [core + str(mpan_check_digit(core)) for core in cores]
    return mpans[0], mpans[1] if meter.solar_kw > 0 else ""


def write_registry(path: Path, fleet: FleetServer) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(REGISTRY_COLUMNS)
        for endpoint in fleet.endpoints:
            meter = endpoint.meter
            writer.writerow((meter.serial, endpoint.host, endpoint.port, meter.hardware, meter.esco,
                             f"{meter.address:06X}", " ".join(meter.faults.active()),
                             *simulated_mpans(meter)))


@click.command()
@click.option("--meters", "count", type=click.IntRange(1, 100_000), default=200, show_default=True,
              help="How many meters.")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same fleet.")
@click.option("--faults", default="", help="Fleet-wide fault rates, e.g. "
              "'no_answer=0.02,corrupt_crc=0.01,nak=0.01,slow=0.02,register_reset=0.01'.")
@click.option("--speed", type=float, default=1.0, show_default=True,
              help="Simulated seconds per real second.")
@click.option("--start", "start_text", help="Simulated start time (ISO, UTC); default now.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port of every meter (0: any free port each).")
@click.option("--shared-host", is_flag=True,
              help="All meters on 127.0.0.1 (needs --port 0) instead of one loopback address each.")
@click.option("--latency", type=float, default=0.0, show_default=True,
              help="A fixed delay (seconds) every meter adds before each reply.")
@click.option("--registry", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("meters.csv"), show_default=True, help="Where to write the fleet's CSV.")
def simulate(count: int, seed: int, faults: str, speed: float, start_text: str | None, port: int,
             shared_host: bool, latency: float, registry: Path) -> None:
    """Run a fleet of simulated Emlite meters speaking EMOP on loopback until stopped."""
    try:
        rates = FaultRates.parse(faults)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--faults") from None
    if shared_host and port != 0:
        raise click.BadParameter("meters sharing 127.0.0.1 need a port each: use --port 0",
                                 param_hint="--shared-host")
    start = _parse_start(start_text)
    meters = build_fleet(count, seed, start, rates)
    for meter in meters:
        meter.faults.fixed_latency_s = latency
    try:
        eventloop.run(_serve(meters, SimClock(start, speed), port, not shared_host, registry))
    except eventloop.EventLoopChoiceError as error:
        raise click.ClickException(str(error)) from None


async def _serve(meters: list[VirtualMeter], clock: SimClock, port: int, own_addresses: bool,
                 registry: Path) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        fleet = FleetServer(meters, clock, port=port, own_addresses=own_addresses)
        await fleet.start()
    except OSError as error:
        raise click.ClickException(f"cannot listen for the meters: {error}") from None
    try:
        write_registry(registry, fleet)
        faulty = sum(1 for m in meters if m.faults.active())
        click.echo(f"{len(meters)} meters ready ({faulty} with faults); registry written to "
                   f"{registry}; simulated time {clock.now().isoformat()} × {clock.speed:g}. "
                   "Ctrl-C stops.", )
        await stop.wait()
    finally:
        await fleet.stop()
