"""`flows views update|rebuild|follow|shards|quarantine|retry`, `flows reads correct|delete|history`,
`flows usage`."""

from __future__ import annotations

import signal
import sys
import threading
from datetime import UTC, datetime
from typing import Any

import click
from rich.progress import Progress

from flows.db import (
    DatabaseError,
    corrections,
    customers,
    registry,
)
from flows.db.cli import TIME, actor, database_option, open_or_fail
from flows.health import HealthError, serve_health
from flows.logs import configure_logging
from flows.meterdata import REGISTER_MAX_WH
from flows.views.corrections import correct
from flows.views.errors import FeederBusy, ViewsError
from flows.views.feeder import DEFAULT_BATCH, feeder_connection, follow, update
from flows.views.shards import MAX_SHARDS, ShardClaims, set_shard_count
from flows.views.shards import status as shard_status
from flows.views.store import quarantine
from flows.views.usage import DIRECTIONS, GROUPS, usage


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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
        click.echo(update(open_or_fail(url), batch).line())
    except ViewsError as error:
        raise click.ClickException(str(error)) from None


@views_group.command("rebuild")
@click.option("--batch", type=click.IntRange(1), default=DEFAULT_BATCH, show_default=True,
              help="Register value changes per transaction.")
@click.option("--jobs", type=click.IntRange(1), default=None,
              help="Groups of meters built at once, each on a connection of its own "
                   "(PostgreSQL; default: the server's max_parallel_workers_per_gather).")
@database_option
def views_rebuild(batch: int, jobs: int | None, url: str) -> None:
    """Build the views again from the tables (also for views an older Flows built), set-based
    where possible. Stopped midway, the next `flows views update` builds them again."""
    db = open_or_fail(url)
    try:
        with Progress(transient=True, disable=not sys.stderr.isatty()) as bar:
            task = bar.add_task("views rebuild", total=None)
            summary = update(db, batch, rebuild=True, jobs=jobs, progress=lambda done, last: bar.update(
                task, completed=done, total=last))
    except ViewsError as error:
        raise click.ClickException(str(error)) from None
    click.echo(summary.line())


@views_group.command("quarantine")
@database_option
def views_quarantine(url: str) -> None:
    """List the meters whose changes the views could not apply (a row no rule can read), with
    the error. Fix the row, then `flows views retry`."""
    rows = quarantine.quarantined(open_or_fail(url))
    if not rows:
        click.echo("no meter is quarantined")
        return
    for row in rows:
        click.echo(f"{row.serial or row.meter_id}  since {row.quarantined_at:%Y-%m-%d %H:%M:%S} "
                   f"UTC (change {row.change}): {row.error}")


@views_group.command("retry")
@click.option("--meter", "serial", help="Only this meter (serial); default: every quarantined one.")
@database_option
def views_retry(serial: str | None, url: str) -> None:
    """Apply the quarantined meters' whole history again (after the bad row was fixed): each
    released when it applies, exactly once. Applied here, or by the running feeder (`flows
    views follow`, `flows serve --views`) if there is one."""
    db = open_or_fail(url)
    waiting = {row.meter_id: row.serial for row in quarantine.quarantined(db)}
    if serial is not None:
        try:
            meter = registry.meter_id(db, serial)
        except DatabaseError as error:
            raise click.ClickException(str(error)) from None
        if meter not in waiting:
            raise click.ClickException(f"meter {serial} is not quarantined")
        waiting = {meter: serial}
    if not waiting:
        click.echo("no meter is quarantined")
        return
    quarantine.request_retry(db, sorted(waiting))
    try:
        update(db)
    except FeederBusy:
        click.echo(f"retry of {len(waiting)} meter(s) logged: the running feeder applies it")
        return
    except ViewsError as error:
        raise click.ClickException(str(error)) from None
    still = quarantine.quarantined_meters(db)
    for meter, name in waiting.items():
        click.echo(f"{name or meter}: {'still quarantined' if meter in still else 'applied'}")
    if still & set(waiting):
        raise click.ClickException("some meters are still quarantined: flows views quarantine")


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
        follow(open_or_fail(url), poll_s, stop=stopping.is_set,
               on_beat=health.beat if health else lambda: None)
    except ViewsError as error:
        raise click.ClickException(str(error)) from None
    except KeyboardInterrupt:
        pass


@views_group.command("shards")
@click.option("--set", "new_count", type=click.IntRange(1, MAX_SHARDS), default=None,
              help="Split the change log into this many shards from now on (PostgreSQL; "
                   "stop every feeder first).")
@database_option
def views_shards(new_count: int | None, url: str) -> None:
    """The views' shards: how many, which feeder owns how many, how many are behind. Each
    `flows views follow` takes its fair share of them (PostgreSQL; SQLite has one)."""
    db = open_or_fail(url)
    try:
        if new_count is not None:
            with feeder_connection(db) as writer:
                claims = ShardClaims(writer)
                claims.claim_free()
                set_shard_count(writer, claims, new_count)
        click.echo(shard_status(db).line())
    except ViewsError as error:
        raise click.ClickException(str(error)) from None
    except DatabaseError as error:
        raise click.ClickException(str(error)) from None


@click.group("reads")
def reads_group() -> None:
    """Correct or delete profile-log values or register reads (the views re-derive only what
    depends on them at the next `flows views update`)."""


register_read_option = click.option(
    "--register-read", is_flag=True,
    help="A periodic register read (register_import), not a profile-log value.")


def _apply(correction: corrections.Correction, url: str) -> corrections.Applied:
    db = open_or_fail(url)
    try:
        return correct(db, correction)
    except DatabaseError as error:
        raise click.ClickException(str(error)) from None
    finally:
        db.close()


reason_option = click.option("--reason", required=True, help="Why (kept in the audit trail).")


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
@click.option("--allow-reversal", is_flag=True,
              help="Confirm a value that makes a reversal or a spike with the values around it.")
@database_option
def reads_correct(register_read: bool, serial: str, element: str, timestamp: datetime, wh: int,
                  reason: str, allow_span: bool, allow_reversal: bool, url: str) -> None:
    """Set a value (adding it if missing); audited, same rules as the API."""
    applied = _apply(corrections.Correction(serial, element, _utc(timestamp), wh, actor(),
                                            register_read, reason, allow_span, allow_reversal),
                     url)
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
    applied = _apply(corrections.Correction(serial, element, _utc(timestamp), None, actor(),
                                            register_read, reason), url)
    click.echo(f"{serial} {element} at {_utc(timestamp).isoformat()}: {applied.old_wh} Wh "
               f"deleted (change {applied.change})")


@reads_group.command("history")
@click.option("--meter", "serial", required=True)
@database_option
def reads_history(serial: str, url: str) -> None:
    """The meter's corrections and deletions, newest first."""
    db = open_or_fail(url)
    try:
        rows = corrections.history_of(db, serial)
    except DatabaseError as error:
        raise click.ClickException(str(error)) from None
    for row in rows:
        new = "deleted" if row["new_wh"] is None else f"{row['new_wh']} Wh"
        click.echo(f"{row['made_at'].isoformat()} {row['actor']}: {row['element']} "
                   f"{row['source']} at {row['timestamp'].isoformat()}: {row['old_wh']} → {new}"
                   f"{'  (' + row['reason'] + ')' if row['reason'] else ''}")


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
    db = open_or_fail(url)
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


COMMANDS = (views_group, reads_group, usage_command)
