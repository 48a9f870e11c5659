"""`flows sync`: one sync cycle for a frequency."""

from __future__ import annotations

import asyncio
import logging
import sys

import click
from rich.progress import Progress

from flows.collect.sync import DEFAULT_PARALLEL, CycleSummary, sync_cycle
from flows.db import DEFAULT_URL, Database, DatabaseError, connect, migrate
from flows.db.repository import FREQUENCIES
from flows.mediator.client import MediatorClient


@click.command()
@click.option("--frequency", required=True, type=click.Choice(FREQUENCIES))
@click.option("--esco", help="Only this esco's meters.")
@click.option("--meter", "serial", help="Only this meter.")
@click.option("--database", "url", envvar="FLOWS_DATABASE_URL", default=DEFAULT_URL, show_default=True)
@click.option(
    "--mediator",
    "target",
    envvar="FLOWS_MEDIATOR",
    default="127.0.0.1:50051",
    show_default=True,
    help="host:port of the mediator (env FLOWS_MEDIATOR).",
)
@click.option(
    "--parallel",
    envvar="MAX_PARALLEL_JOBS",
    type=click.IntRange(1),
    default=DEFAULT_PARALLEL,
    show_default=True,
    help="Meters synced at once (env MAX_PARALLEL_JOBS).",
)
def sync(frequency: str, esco: str | None, serial: str | None, url: str, target: str, parallel: int) -> None:
    """Sync every active meter once with the metrics enabled for FREQUENCY."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        db = connect(url)
        migrate(db)
    except DatabaseError as error:
        raise click.ClickException(str(error)) from None
    summary = asyncio.run(_run(db, target, frequency, esco, serial, parallel))
    click.echo(summary.line())
    for failed, reason in sorted(summary.problems.items()):
        click.echo(f"  {failed}: {reason}")


async def _run(
    db: Database, target: str, frequency: str, esco: str | None, serial: str | None, parallel: int
) -> CycleSummary:
    # A progress bar on a terminal; elsewhere (services, CI) the log lines only.
    with Progress(transient=True, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task(f"{frequency} sync", total=None)
        async with MediatorClient(target) as client:
            return await sync_cycle(
                db,
                client,
                frequency,
                esco=esco,
                serial=serial,
                parallel=parallel,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
