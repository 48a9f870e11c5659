"""`flows views update|rebuild|follow`, `flows reads correct|delete`,
`flows customers add|link|unlink`."""

from __future__ import annotations

import getpass
import os
import signal
import sys
import threading
from datetime import UTC, datetime
from typing import Any

import click
from rich.progress import Progress

from flows.db import (
    DEFAULT_URL,
    Database,
    DatabaseError,
    corrections,
    customers,
    open_database,
    registry,
)
from flows.health import HealthError, serve_health
from flows.logs import configure_logging
from flows.meterdata import REGISTER_MAX_WH
from flows.views.feeder import DEFAULT_BATCH, ViewsError, follow, update
from flows.views.usage import DIRECTIONS, GROUPS, usage

database_option = click.option(
    "--database", "url", envvar="FLOWS_DATABASE_URL", default=DEFAULT_URL, show_default=True,
    help="sqlite:///path or postgresql://… (env FLOWS_DATABASE_URL).")


def _open(url: str) -> Database:
    try:
        return open_database(url)
    except DatabaseError as error:
        raise click.ClickException(str(error)) from None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


TIME = click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"])


@click.group("views")
def views_group() -> None:
    """Half-hourly intervals and daily usage, kept up to date incrementally."""


@views_group.command("update")
@click.option("--batch", type=click.IntRange(1), default=DEFAULT_BATCH, show_default=True,
              help="Register value changes per transaction.")
@database_option
def views_update(batch: int, url: str) -> None:
    """Apply every profile-log and register-read change not applied yet, then exit."""
    try:
        click.echo(update(_open(url), batch).line())
    except ViewsError as error:
        raise click.ClickException(str(error)) from None


@views_group.command("rebuild")
@click.option("--batch", type=click.IntRange(1), default=DEFAULT_BATCH, show_default=True,
              help="Register value changes per transaction.")
@database_option
def views_rebuild(batch: int, url: str) -> None:
    """Build the views again from the tables (also for views an older Flows built), set-based
    where possible. Stopped midway, the next `flows views update` builds them again."""
    db = _open(url)
    try:
        with Progress(transient=True, disable=not sys.stderr.isatty()) as bar:
            task = bar.add_task("views rebuild", total=None)
            summary = update(db, batch, rebuild=True, progress=lambda done, last: bar.update(
                task, completed=done, total=last))
    except ViewsError as error:
        raise click.ClickException(str(error)) from None
    click.echo(summary.line())


@views_group.command("follow")
@click.option("--poll", "poll_s", type=click.FloatRange(0.1), default=2.0, show_default=True,
              help="Seconds between looks for new changes.")
@click.option("--health", "health_listen", envvar="FLOWS_HEALTH", metavar="HOST:PORT",
              help="Serve /healthz, /readyz and /metrics there (env FLOWS_HEALTH).")
@database_option
def views_follow(poll_s: float, health_listen: str | None, url: str) -> None:
    """Keep the views up to date until SIGTERM or Ctrl-C (the batch being applied is finished
    or not at all; either way the next start goes on from the last one committed)."""
    configure_logging()
    stopping = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stopping.set())
    try:
        health = serve_health(health_listen)
    except HealthError as error:
        raise click.ClickException(str(error)) from None
    try:
        follow(_open(url), poll_s, stop=stopping.is_set,
               on_beat=health.beat if health else lambda: None)
    except ViewsError as error:
        raise click.ClickException(str(error)) from None
    except KeyboardInterrupt:
        pass


@click.group("reads")
def reads_group() -> None:
    """Correct or delete profile-log values or register reads (the views re-derive only what
    depends on them at the next `flows views update`)."""


register_read_option = click.option(
    "--register-read", is_flag=True,
    help="A periodic register read (register_import), not a profile-log value.")


def _actor() -> str:
    """Who corrects from the command line: the operating-system user."""
    try:
        return f"cli:{getpass.getuser()}"
    except OSError:  # no user name known (a container without one)
        return f"cli:uid-{os.getuid()}"


def _apply(correction: corrections.Correction, url: str) -> corrections.Applied:
    db = _open(url)
    try:
        return corrections.apply_correction(db, correction)
    except DatabaseError as error:
        raise click.ClickException(str(error)) from None
    finally:
        db.close()


reason_option = click.option("--reason", default="", help="Why (kept in the audit trail).")


@reads_group.command("correct")
@register_read_option
@click.option("--meter", "serial", required=True)
@click.option("--element", type=click.Choice(["A", "B"]), default="A", show_default=True)
@click.option("--timestamp", required=True, type=TIME, help="UTC unless an offset is given.")
@click.option("--wh", required=True, type=click.IntRange(0, REGISTER_MAX_WH),
              help="Cumulative Wh at that time.")
@reason_option
@click.option("--allow-span", is_flag=True,
              help="Confirm a value that stretches the register's history by more than 31 days.")
@database_option
def reads_correct(register_read: bool, serial: str, element: str, timestamp: datetime, wh: int,
                  reason: str, allow_span: bool, url: str) -> None:
    """Set a value (adding it if missing); audited, same rules as the API."""
    applied = _apply(corrections.Correction(serial, element, _utc(timestamp), wh, _actor(),
                                            register_read, reason, allow_span), url)
    click.echo(f"{serial} {element} at {_utc(timestamp).isoformat()}: {applied.old_wh} → {wh} Wh "
               f"(change {applied.change}; `flows views update` applies it)")


@reads_group.command("delete")
@register_read_option
@click.option("--meter", "serial", required=True)
@click.option("--element", type=click.Choice(["A", "B"]), default="A", show_default=True)
@click.option("--timestamp", required=True, type=TIME, help="UTC unless an offset is given.")
@reason_option
@database_option
def reads_delete(register_read: bool, serial: str, element: str, timestamp: datetime,
                 reason: str, url: str) -> None:
    """Delete a value; audited."""
    applied = _apply(corrections.Correction(serial, element, _utc(timestamp), None, _actor(),
                                            register_read, reason), url)
    click.echo(f"{serial} {element} at {_utc(timestamp).isoformat()}: {applied.old_wh} Wh "
               f"deleted (change {applied.change})")


@reads_group.command("history")
@click.option("--meter", "serial", required=True)
@database_option
def reads_history(serial: str, url: str) -> None:
    """The meter's corrections and deletions, newest first."""
    db = _open(url)
    try:
        rows = corrections.history_of(db, serial)
    except DatabaseError as error:
        raise click.ClickException(str(error)) from None
    for row in rows:
        new = "deleted" if row["new_wh"] is None else f"{row['new_wh']} Wh"
        click.echo(f"{row['made_at'].isoformat()} {row['actor']}: {row['element']} "
                   f"{row['source']} at {row['timestamp'].isoformat()}: {row['old_wh']} → {new}"
                   f"{'  (' + row['reason'] + ')' if row['reason'] else ''}")


@click.group("customers")
def customers_group() -> None:
    """Customers and the meters they have (with validity periods)."""


@customers_group.command("add")
@click.argument("customer_id")
@click.option("--name", default="")
@database_option
def customers_add(customer_id: str, name: str, url: str) -> None:
    try:
        customers.add_customer(_open(url), customer_id, name)
    except DatabaseError as error:
        raise click.ClickException(str(error)) from None


@customers_group.command("link")
@click.argument("customer_id")
@click.option("--meter", "serial", required=True)
@click.option("--from", "valid_from", required=True, type=TIME)
@click.option("--to", "valid_to", type=TIME, help="Exclusive; open-ended when left out.")
@database_option
def customers_link(customer_id: str, serial: str, valid_from: datetime,
                   valid_to: datetime | None, url: str) -> None:
    try:
        customers.link_meter(_open(url), customer_id, serial, _utc(valid_from),
                         _utc(valid_to) if valid_to else None)
    except DatabaseError as error:
        raise click.ClickException(str(error)) from None


@customers_group.command("unlink")
@click.option("--meter", "serial", required=True)
@click.option("--at", "at", required=True, type=TIME, help="When the link ends (exclusive).")
@database_option
def customers_unlink(serial: str, at: datetime, url: str) -> None:
    """End the meter's link that is valid at --at (the customer moved out)."""
    try:
        link = customers.unlink_meter(_open(url), serial, _utc(at))
    except DatabaseError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{serial}: link to customer {link['customer_id']} from "
               f"{link['valid_from'].isoformat()} now ends at {_utc(at).isoformat()}")


@click.command("usage")
@click.option("--meter", "serial", help="A meter's usage (its serial).")
@click.option("--customer", "customer_id", help="A customer's usage (their meters while linked).")
@click.option("--esco", "esco_code", help="An esco's usage (its meters; by day and longer).")
@click.option("--from", "period_from", required=True, type=TIME,
              help="Start (inclusive), UTC unless an offset is given.")
@click.option("--to", "period_to", required=True, type=TIME, help="End (exclusive).")
@click.option("--group-by", type=click.Choice(GROUPS), default="day", show_default=True)
@click.option("--direction", type=click.Choice(DIRECTIONS), default="import", show_default=True)
@database_option
def usage_command(serial: str | None, customer_id: str | None, esco_code: str | None,
                  period_from: datetime, period_to: datetime, group_by: str, direction: str,
                  url: str) -> None:
    """kWh per period with its half hours' quality (actual, estimated, invalid, missing)."""
    if sum(value is not None for value in (serial, customer_id, esco_code)) != 1:
        raise click.UsageError("give one of --meter, --customer or --esco")
    db = _open(url)
    try:
        key: dict[str, Any] = {"customer_id": customer_id}
        if customer_id is not None and not customers.exists(db, customer_id):
            raise click.ClickException(f"no customer {customer_id!r}")
        if serial is not None:
            key = {"meter_id": registry.meter_id(db, serial)}
        elif esco_code is not None:
            key = {"esco": registry.esco_id(db, esco_code)}
        rows = usage(db, period_from=_utc(period_from), period_to=_utc(period_to),
                     group_by=group_by, direction=direction, **key)
    except (DatabaseError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    for row in rows:
        counts = "" if row.total is None else (
            f"  actual {row.total.actual} estimated {row.total.estimated} invalid "
            f"{row.total.invalid} missing {row.missing} of {row.expected}")
        click.echo(f"{row.start.isoformat()}  {row.kwh:>12} kWh  {row.quality:<10}"
                   f"{' partial' if row.partial else ''}{counts}")


COMMANDS = (views_group, reads_group, customers_group, usage_command)
