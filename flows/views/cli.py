"""`flows views update|rebuild|follow`, `flows reads correct|delete`,
`flows customers add|link|unlink`."""

from __future__ import annotations

import signal
import sys
import threading
from datetime import UTC, datetime

import click
from rich.progress import Progress

from flows.db import DEFAULT_URL, Database, DatabaseError, connect, corrections, customers, migrate, registry
from flows.health import HealthServer, listen_address
from flows.logs import configure_logging
from flows.views.feeder import DEFAULT_BATCH, ViewsError, follow, update

database_option = click.option(
    "--database", "url", envvar="FLOWS_DATABASE_URL", default=DEFAULT_URL, show_default=True,
    help="sqlite:///path or postgresql://… (env FLOWS_DATABASE_URL).")


def _open(url: str) -> Database:
    try:
        db = connect(url)
        migrate(db)
    except DatabaseError as error:
        raise click.ClickException(str(error)) from None
    return db


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
    """Build the views again from the tables (also for views an older Flows built). Stopped
    midway, `flows views update` goes on from where it stopped."""
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
    health = None
    if health_listen is not None:
        try:
            health = HealthServer(*listen_address(health_listen)).start()
        except (ValueError, OSError) as error:
            raise click.ClickException(f"--health {health_listen}: {error}") from None
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


@reads_group.command("correct")
@register_read_option
@click.option("--meter", "serial", required=True)
@click.option("--element", type=click.Choice(["A", "B"]), default="A", show_default=True)
@click.option("--timestamp", required=True, type=TIME, help="UTC unless an offset is given.")
@click.option("--wh", required=True, type=click.IntRange(0), help="Cumulative Wh at that time.")
@database_option
def reads_correct(register_read: bool, serial: str, element: str, timestamp: datetime, wh: int,
                  url: str) -> None:
    db = _open(url)
    correct = corrections.correct_register_read if register_read else corrections.correct_profile_value
    try:
        correct(db, registry.register_id(db, serial, element), _utc(timestamp), wh)
    except DatabaseError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{serial} {element} at {_utc(timestamp).isoformat()}: {wh} Wh")


@reads_group.command("delete")
@register_read_option
@click.option("--meter", "serial", required=True)
@click.option("--element", type=click.Choice(["A", "B"]), default="A", show_default=True)
@click.option("--timestamp", required=True, type=TIME, help="UTC unless an offset is given.")
@database_option
def reads_delete(register_read: bool, serial: str, element: str, timestamp: datetime,
                 url: str) -> None:
    db = _open(url)
    delete = corrections.delete_register_read if register_read else corrections.delete_profile_value
    try:
        delete(db, registry.register_id(db, serial, element), _utc(timestamp))
    except DatabaseError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{serial} {element} at {_utc(timestamp).isoformat()}: deleted")


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


COMMANDS = (views_group, reads_group, customers_group)
