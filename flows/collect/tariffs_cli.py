"""`flows tariffs schedule|outcomes`: a future tariff written to a set of meters through the
mediator (`flows.collect.tariffs`), and what each meter's last attempt came to."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from uuid import UUID

import click
from rich.progress import Progress

from flows.collect.tariffs import DEFAULT_PARALLEL, schedule_tariff
from flows.db import InvalidValueError, NotFoundError, tariffs
from flows.db.cli import TIME, actor, database_option, open_or_fail
from flows.db.tariffs import FutureTariff
from flows.mediator import MediatorClient


def _money(ctx: click.Context, param: click.Parameter, value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        raise click.BadParameter(f"{value!r} is not an amount (e.g. 0.25338)") from None


def money_option(name: str, meaning: str, required: bool = False
                 ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(name, metavar="GBP", required=required, callback=_money, help=meaning)


@click.group("tariffs")
def tariffs_group() -> None:
    """Future tariffs: schedule a price change on meters, see how it went."""


@tariffs_group.command("schedule")
@click.option("--from", "activation", type=TIME, required=True,
              help="When the meters switch to the tariff (ISO 8601 with its UTC offset).")
@money_option("--standing-charge", "GBP per day.", required=True)
@money_option("--unit-rate", "GBP per kWh.", required=True)
@money_option("--emergency-credit", "GBP [default: each meter's own].")
@money_option("--ecredit-availability", "GBP [default: each meter's own].")
@money_option("--debt-recovery-rate", "GBP [default: each meter's own].")
@click.option("--esco", help="Every active meter of this esco.")
@click.option("--serial", "serials", multiple=True, help="This meter (repeat for more).")
@click.option("--file", "file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The meters in this file, one serial per line.")
@click.option("--mediator", "target", envvar="FLOWS_MEDIATOR", default="127.0.0.1:50051",
              show_default=True, help="host:port of the mediator (env FLOWS_MEDIATOR).")
@click.option("--parallel", type=click.IntRange(1), default=DEFAULT_PARALLEL, show_default=True,
              help="Meters written at once.")
@database_option
def tariffs_schedule(activation: datetime, standing_charge: Decimal, unit_rate: Decimal,
                     emergency_credit: Decimal | None, ecredit_availability: Decimal | None,
                     debt_recovery_rate: Decimal | None, esco: str | None,
                     serials: tuple[str, ...], file: Path | None, target: str, parallel: int,
                     url: str) -> None:
    """Write a future tariff to meters and read it back; each meter's outcome is recorded.
    Run it again to retry the meters that failed: those verified already are skipped."""
    db = open_or_fail(url)
    try:
        tariff = FutureTariff(activation, standing_charge, unit_rate, emergency_credit,
                              ecredit_availability, debt_recovery_rate)
        chosen = tariffs.target_meters(db, esco, serials, file)
    except InvalidValueError as error:
        raise click.ClickException(str(error)) from None

    async def work() -> Any:
        with Progress(transient=True, disable=not sys.stderr.isatty()) as bar:
            task = bar.add_task("tariff schedule", total=None)
            async with MediatorClient(target) as client:
                return await schedule_tariff(
                    db, client, tariff, chosen, actor(), parallel,
                    lambda done, total: bar.update(task, completed=done, total=total))

    summary = asyncio.run(work())
    click.echo(summary.line())
    for serial, reason in sorted(summary.failed.items()):
        click.echo(f"  {serial}: {reason}")
    if summary.failed:
        raise click.ClickException(f"{len(summary.failed)} meter(s) failed: run the same "
                                   "command again to retry them")


@tariffs_group.command("outcomes")
@click.argument("schedule_id", type=click.UUID)
@database_option
def tariffs_outcomes(schedule_id: UUID, url: str) -> None:
    """Each meter's last outcome of a tariff schedule."""
    try:
        outcomes = tariffs.latest_outcomes(open_or_fail(url), schedule_id)
    except NotFoundError as error:
        raise click.ClickException(str(error)) from None
    for serial, last in outcomes.items():
        click.echo(f"{serial}\t{last['outcome']}\t{last['at']}\t{last['actor']}\t{last['reason']}")
