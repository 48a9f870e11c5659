"""`flows demo`: the whole system on one machine, in a few minutes, from nothing.

A simulated fleet (some meters faulty) → the mediator → a fresh SQLite database: registry
imported, a customer per meter, each sync frequency run once (SyncerProfileLog backfills
``--days`` of half hours), the views updated; then a fleet-health and daily-usage report, and
how to open the dashboard. The fleet and mediator are stopped at the end.
"""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import click

from flows.db import Database, connect, customers, registry
from flows.db import fleet as fleet_health
from flows.devtools.processes import FLOWS_COMMAND, start_flows, start_flows_line, stop_flows
from flows.meterdata import FREQUENCIES
from flows.views import usage

FAULTS = "no_answer=0.02,refuse_connections=0.02,corrupt_crc=0.02,nak=0.02"


def _run(*args: str) -> str:
    result = subprocess.run([*FLOWS_COMMAND, *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise click.ClickException(f"flows {' '.join(args[:2])} failed:\n{result.stdout}{result.stderr}")
    return result.stdout.strip()


@click.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              default=Path("demo"), show_default=True, help="Where the database and files go.")
@click.option("--meters", type=click.IntRange(1, 5000), default=200, show_default=True)
@click.option("--days", type=click.IntRange(1, 30), default=7, show_default=True,
              help="Days of half-hourly profile log to backfill.")
def demo(directory: Path, meters: int, days: int) -> None:
    """Run the whole system once on a simulated fleet and print a report."""
    started = time.monotonic()
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("flows.db*"):
        old.unlink()
    url = f"sqlite:///{directory / 'flows.db'}"
    registry_csv = directory / "meters.csv"

    def step(text: str) -> None:
        click.echo(f"[{time.monotonic() - started:5.1f} s] {text}")

    step(f"starting {meters} simulated meters (faults: {FAULTS})")
    fleet = start_flows(["simulate", "--meters", str(meters), "--seed", "7", "--faults", FAULTS,
                         "--port", "0", "--shared-host", "--registry", str(registry_csv)], "meters ready")
    try:
        _run("db", "migrate", "--database", url)
        step(_run("meters", "import", str(registry_csv), "--create-escos", "--database", url))
        db = connect(url)
        linked_from = datetime.now(UTC) - timedelta(days=60)
        with db.transaction():
            for n, meter in enumerate(registry.meters(db)):
                customers.add_customer(db, f"C{n + 1:04d}", f"Customer {n + 1}")
                customers.link_meter(db, f"C{n + 1:04d}", meter.serial, linked_from)
        step(f"{meters} customers, one meter each")
        mediator, listening = start_flows_line(["mediator", "--listen", "127.0.0.1:0",
                                                "--database", url, "--min-gap", "0"],
                                               "mediator listening")
        try:
            address = listening.split("listening on ")[1].split()[0]
            for frequency in FREQUENCIES:
                summary = _run("sync", "--frequency", frequency, "--database", url, "--mediator",
                               address, "--parallel", "200", "--profile-days", str(days),
                               "--text-logs")
                step(f"sync {frequency}: {summary.splitlines()[0] if summary else ''}")
        finally:
            stop_flows(mediator)
        step(_run("views", "update", "--database", url))
        report(db, days)
        db.close()
    finally:
        stop_flows(fleet)
    step("done")
    click.echo(f"\nOpen the dashboard:  .venv/bin/flows keys create me --role admin --database {url}\n"
               f"  .venv/bin/flows serve --views --database {url}\n"
               "  then log in at http://127.0.0.1:8000/login with that key (API docs at /docs).")


def report(db: Database, days: int) -> None:
    health = fleet_health.health(db)
    counts = health["counts"]
    click.echo(f"\nFleet health: {counts['healthy']} healthy, {counts['unhealthy']} unhealthy, "
               f"{counts['low_balance']} low balance, of {counts['active']} active meters")
    for meter in health["unhealthy"]:
        click.echo(f"  unhealthy {meter['serial']}: {meter['details']}")
    click.echo("\nDaily usage (kWh), first five customers:")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for customer in [f"C{n:04d}" for n in range(1, 6)]:
        rows = usage(db, customer_id=customer, period_from=today - timedelta(days=days),
                     period_to=today, group_by="day")
        values = "  ".join(f"{row.start:%d %b} {row.kwh.quantize(Decimal('0.01'))}" for row in rows)
        click.echo(f"  {customer}: {values or '(none)'}")
