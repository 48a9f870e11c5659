"""`flows db migrate`, `flows escos …`, `flows meters import|list|add`, `flows metrics …`,
`flows keys create|list|revoke`, `flows customers add|link|unlink|delete-link|links`; and what
every command shares: the `--database` option, opening the database, times, the actor."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from flows.db import api_keys, customers, partitions, registry
from flows.db.connection import DEFAULT_URL, Database, DatabaseError, connect
from flows.db.migrate import migrate, open_database
from flows.db.registry_csv import import_registry
from flows.meterdata import FREQUENCIES, LOCAL_ZONE

F = TypeVar("F", bound=Callable[..., Any])


def database_url_option(default: str | None = DEFAULT_URL,
                        text: str = "sqlite:///path or postgresql://… (env FLOWS_DATABASE_URL)."
                        ) -> Callable[[F], F]:
    """The ``--database URL`` option every command takes (into the parameter ``url``)."""
    return click.option("--database", "url", envvar="FLOWS_DATABASE_URL", default=default,
                        show_default=default is not None, help=text)


database_option = database_url_option()


def open_or_fail(url: str) -> Database:
    """The database at ``url``, migrated; a clear command-line error when it cannot be."""
    try:
        return open_database(url)
    except DatabaseError as error:
        raise click.ClickException(str(error)) from None


TIME = click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"])


def actor() -> str:
    """Who corrects from the command line: the operating-system user."""
    try:
        return f"cli:{getpass.getuser()}"
    except OSError:  # no user name known (a container without one)
        return f"cli:uid-{os.getuid()}"


@click.group("db")
def db_group() -> None:
    """The Flows database."""


@db_group.command("migrate")
@database_option
def migrate_command(url: str) -> None:
    """Apply the migrations the database lacks (running it again changes nothing)."""
    try:
        with connect(url, create=True) as db:
            applied = migrate(db)
    except DatabaseError as error:
        raise click.ClickException(str(error)) from None
    if applied:
        for migration in applied:
            click.echo(f"applied {migration.version:04d}_{migration.name}")
    else:
        click.echo("database is up to date")


@db_group.command("retention")
@click.option("--keep-months", type=click.IntRange(1, None), required=True,
              help="Months kept before the current one (e.g. 25: two years and the current).")
@click.option("--apply", is_flag=True, help="Drop them; without it, only list what would go.")
@database_option
def retention_command(keep_months: int, apply: bool, url: str) -> None:
    """Drop whole months (TimescaleDB: chunks) of history older than the months kept
    (PostgreSQL). The daily usage of those days stays; a rebuild of the views afterwards
    recomputes only what the history still holds."""
    with open_or_fail(url) as db:
        try:
            cutoff, expired = (partitions.drop_expired_history if apply
                               else partitions.expired_history)(db, keep_months)
        except DatabaseError as error:
            raise click.ClickException(str(error)) from None
    verb = "dropped" if apply else "would be dropped (run again with --apply)"
    click.echo(f"history before {cutoff}: {len(expired)} partitions or chunks {verb}")
    for name in expired:
        click.echo(f"  {name}")


@click.group("escos")
def escos_group() -> None:
    """Energy service companies."""


@escos_group.command("add")
@click.argument("code")
@click.argument("name", required=False)
@database_option
def escos_add(code: str, name: str | None, url: str) -> None:
    """Add an esco with CODE (e.g. MOR) and an optional NAME."""
    with open_or_fail(url) as db:
        try:
            registry.add_esco(db, code, name)
        except DatabaseError as error:
            raise click.ClickException(f"esco {code!r} not added: {error}") from None
    click.echo(f"added esco {code}")


@click.group("meters")
def meters_group() -> None:
    """The meter registry."""


@meters_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--create-escos", is_flag=True, help="Add escos the file names that are unknown.")
@database_option
def meters_import(path: Path, create_escos: bool, url: str) -> None:
    """Import meters from a registry CSV (as `flows simulate` writes): all rows or none."""
    with open_or_fail(url) as db:
        if create_escos:
            import csv

            with path.open(newline="") as handle:
                wanted = {(row.get("esco") or "").strip() for row in csv.DictReader(handle)}
            for code in sorted(wanted - set(registry.esco_ids(db)) - {""}):
                registry.add_esco(db, code)
        try:
            count = import_registry(db, path)
        except DatabaseError as error:
            raise click.ClickException(str(error)) from None
    click.echo(f"imported {count} meters from {path}")


@meters_group.command("list")
@click.option("--esco", help="Only this esco's meters.")
@database_option
def meters_list(esco: str | None, url: str) -> None:
    """List registered meters."""
    with open_or_fail(url) as db:
        for meter in registry.meters(db, esco=esco):
            click.echo(f"{meter.serial}\t{meter.ip_address or '-'}:{meter.port}\t"
                       f"{meter.hardware or '-'}\t{meter.esco_code or '-'}\t{meter.mode}\t"
                       f"{meter.import_mpan or '-'}\t{meter.export_mpan or '-'}")


@meters_group.command("add")
@click.option("--serial", required=True)
@click.option("--ip", "ip_address", required=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--hardware", required=True, type=click.Choice(sorted(registry.HARDWARE_NAMES)))
@click.option("--esco", required=True, help="Esco code (must exist).")
@click.option("--import-mpan", help="The import MPAN (13 digits).")
@click.option("--export-mpan", help="The export MPAN, when the meter exports.")
@database_option
def meters_add(serial: str, ip_address: str, port: int, hardware: str, esco: str,
               import_mpan: str | None, export_mpan: str | None, url: str) -> None:
    """Register one meter (its shadow and registers are created with it)."""
    with open_or_fail(url) as db:
        escos = registry.esco_ids(db)
        if esco not in escos:
            raise click.ClickException(f"unknown esco {esco!r} (add it: flows escos add {esco})")
        try:
            with db.transaction():
                registry.add_meter(db, serial, ip_address, hardware, escos[esco], port=port,
                                   import_mpan=import_mpan, export_mpan=export_mpan)
        except DatabaseError as error:
            raise click.ClickException(f"meter {serial} not added: {error}") from None
    click.echo(f"added meter {serial}")


@meters_group.command("set-mpan")
@click.argument("serial")
@click.option("--import", "import_mpan", help="The import MPAN (13 digits); 'none' removes it.")
@click.option("--export", "export_mpan", help="The export MPAN; 'none' removes it.")
@database_option
def meters_set_mpan(serial: str, import_mpan: str | None, export_mpan: str | None,
                    url: str) -> None:
    """Give a meter its import and/or export MPAN (checked by its check digit)."""
    given = {direction: None if mpan.lower() == "none" else mpan
             for direction, mpan in (("import", import_mpan), ("export", export_mpan))
             if mpan is not None}
    if not given:
        raise click.UsageError("give --import MPAN and/or --export MPAN")
    with open_or_fail(url) as db:
        try:
            registry.set_mpans(db, serial, given)
        except DatabaseError as error:
            raise click.ClickException(f"meter {serial} unchanged: {error}") from None
        meter = registry.registry_row(db, serial) or {}
    click.echo(f"meter {serial}: import MPAN {meter.get('import_mpan') or '-'}, "
               f"export MPAN {meter.get('export_mpan') or '-'}")


@click.group("metrics", invoke_without_command=True)
@click.pass_context
@database_option
def metrics_group(context: click.Context, url: str) -> None:
    """Show the metrics and their frequencies; sub-commands change them."""
    context.obj = url
    if context.invoked_subcommand is None:
        with open_or_fail(url) as db:
            for row in registry.metrics(db):
                state = "enabled" if row["enabled"] else "disabled"
                click.echo(f"{row['name']:<32}{row['run_frequency']:<10}{state}")


def _set_metric(url: str, name: str, enabled: bool | None = None,
                frequency: str | None = None) -> None:
    with open_or_fail(url) as db:
        try:
            registry.set_metric(db, name, enabled, frequency)
        except DatabaseError as error:
            raise click.ClickException(str(error)) from None


@metrics_group.command("enable")
@click.argument("name")
@click.pass_obj
def metrics_enable(url: str, name: str) -> None:
    _set_metric(url, name, enabled=True)


@metrics_group.command("disable")
@click.argument("name")
@click.pass_obj
def metrics_disable(url: str, name: str) -> None:
    _set_metric(url, name, enabled=False)


@metrics_group.command("frequency")
@click.argument("name")
@click.argument("frequency", type=click.Choice(FREQUENCIES))
@click.pass_obj
def metrics_frequency(url: str, name: str, frequency: str) -> None:
    _set_metric(url, name, frequency=frequency)


@click.group("keys")
def keys_group() -> None:
    """Named API keys: read keys read, admin keys may also correct data and sync meters."""


@keys_group.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(api_keys.ROLES), required=True)
@database_option
def keys_create(name: str, role: str, url: str) -> None:
    """Create a key called NAME; it is printed once (only a digest is stored)."""
    with open_or_fail(url) as db:
        try:
            key = api_keys.create(db, name, role)
        except DatabaseError as error:
            raise click.ClickException(str(error)) from None
    click.echo(key)
    click.echo(f"(the {role} key {name!r}: keep it now, it cannot be shown again)", err=True)


@keys_group.command("list")
@database_option
def keys_list(url: str) -> None:
    """Every key's name, role, creation and revocation (never the key)."""
    with open_or_fail(url) as db:
        for row in api_keys.listed(db):
            revoked = f"  revoked {row['revoked_at'].isoformat()}" if row["revoked_at"] else ""
            click.echo(f"{row['name']}\t{row['role']}\tcreated {row['created_at'].isoformat()}"
                       f"{revoked}")


@keys_group.command("revoke")
@click.argument("name")
@database_option
def keys_revoke(name: str, url: str) -> None:
    """Revoke the key NAME: it is refused from the next request on, and its dashboard
    sessions end."""
    with open_or_fail(url) as db:
        try:
            api_keys.revoke(db, name)
        except DatabaseError as error:
            raise click.ClickException(str(error)) from None
    click.echo(f"revoked {name}")


@click.group("customers")
def customers_group() -> None:
    """Customers and the meters they have (with validity periods)."""


@customers_group.command("add")
@click.argument("customer_id")
@click.option("--name", default="")
@database_option
def customers_add(customer_id: str, name: str, url: str) -> None:
    try:
        customers.add_customer(open_or_fail(url), customer_id, name)
    except DatabaseError as error:
        raise click.ClickException(str(error)) from None


def _local(value: datetime) -> datetime:
    """A link's time: a date or a time without an offset is Europe/London local time (a
    move-in on 2025-06-02 starts at local midnight, 23:00 UTC the day before in summer)."""
    try:
        return (value.replace(tzinfo=LOCAL_ZONE) if value.tzinfo is None else value).astimezone(UTC)
    except (OverflowError, ValueError) as error:
        raise click.BadParameter(f"{value}: {error}") from None


LOCAL_TIME_HELP = "a date (local midnight, Europe/London) or a time (local unless it has an offset)"
link_reason_option = click.option("--reason", default="", help="Why (kept in the link audit).")


def _link_line(serial: str, link: dict[str, Any], what: str) -> str:
    return (f"{serial}: link to customer {link['customer_id']} from "
            f"{link['valid_from'].isoformat()} {what}")


@customers_group.command("link")
@click.argument("customer_id")
@click.option("--meter", "serial", required=True)
@click.option("--from", "valid_from", required=True, type=TIME, help=f"From: {LOCAL_TIME_HELP}.")
@click.option("--to", "valid_to", type=TIME,
              help=f"Until (exclusive; open-ended when left out): {LOCAL_TIME_HELP}.")
@link_reason_option
@database_option
def customers_link(customer_id: str, serial: str, valid_from: datetime,
                   valid_to: datetime | None, reason: str, url: str) -> None:
    """The customer has the meter from --from (a move-in), audited."""
    try:
        customers.link_meter(open_or_fail(url), customer_id, serial, _local(valid_from),
                             _local(valid_to) if valid_to else None, actor(), reason)
    except DatabaseError as error:
        raise click.ClickException(str(error)) from None


@customers_group.command("unlink")
@click.option("--meter", "serial", required=True)
@click.option("--at", "at", required=True, type=TIME,
              help=f"When the link ends (exclusive): {LOCAL_TIME_HELP}.")
@link_reason_option
@database_option
def customers_unlink(serial: str, at: datetime, reason: str, url: str) -> None:
    """End the meter's link that is valid at --at (the customer moved out), audited."""
    try:
        link = customers.unlink_meter(open_or_fail(url), serial, _local(at), actor(), reason)
    except DatabaseError as error:
        raise click.ClickException(str(error)) from None
    click.echo(_link_line(serial, link, f"now ends at {_local(at).isoformat()}"))


@customers_group.command("delete-link")
@click.option("--meter", "serial", required=True)
@click.option("--from", "valid_from", required=True, type=TIME,
              help=f"The start of the link to delete: {LOCAL_TIME_HELP}.")
@click.option("--reason", required=True, help="Why (kept in the link audit).")
@database_option
def customers_delete_link(serial: str, valid_from: datetime, reason: str, url: str) -> None:
    """Delete a link made by mistake (its usage goes back to no customer), audited."""
    try:
        link = customers.delete_link(open_or_fail(url), serial, _local(valid_from), actor(),
                                     reason)
    except DatabaseError as error:
        raise click.ClickException(str(error)) from None
    click.echo(_link_line(serial, link, "deleted"))


@customers_group.command("links")
@click.option("--meter", "serial", required=True)
@database_option
def customers_links(serial: str, url: str) -> None:
    """The meter's links (times in UTC), then their audit, newest first."""
    db = open_or_fail(url)
    try:
        links, history = customers.links_of_meter(db, serial), customers.link_history(db, serial)
    except DatabaseError as error:
        raise click.ClickException(str(error)) from None
    for link in links:
        until = link["valid_to"].isoformat() if link["valid_to"] else "open-ended"
        click.echo(f"{link['customer_id']}: {link['valid_from'].isoformat()} until {until}")
    for row in history:
        click.echo(f"{row['at']:%Y-%m-%d %H:%M:%S} {row['actor']} {row['action']} "
                   f"{row['customer_id']} from {row['valid_from'].isoformat()}: "
                   f"{row['reason'] or '(no reason given)'}")


COMMANDS = (db_group, escos_group, meters_group, metrics_group, keys_group, customers_group)
