"""`flows db migrate`, `flows escos …`, `flows meters import|list|add`, `flows metrics …`,
`flows keys create|list|revoke`."""

from __future__ import annotations

from pathlib import Path

import click

from flows.db import api_keys, registry
from flows.db.connection import DEFAULT_URL, Database, DatabaseError, connect
from flows.db.migrate import migrate, open_database
from flows.db.registry_csv import import_registry
from flows.meterdata import FREQUENCIES

database_option = click.option(
    "--database", "url", envvar="FLOWS_DATABASE_URL", default=DEFAULT_URL, show_default=True,
    help="sqlite:///path or postgresql://… (env FLOWS_DATABASE_URL).")


def _open(url: str) -> Database:
    try:
        return open_database(url)
    except DatabaseError as error:
        raise click.ClickException(str(error)) from None


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


@click.group("escos")
def escos_group() -> None:
    """Energy service companies."""


@escos_group.command("add")
@click.argument("code")
@click.argument("name", required=False)
@database_option
def escos_add(code: str, name: str | None, url: str) -> None:
    """Add an esco with CODE (e.g. MOR) and an optional NAME."""
    with _open(url) as db:
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
    with _open(url) as db:
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
    with _open(url) as db:
        for meter in registry.meters(db, esco=esco):
            click.echo(f"{meter.serial}\t{meter.ip_address or '-'}:{meter.port}\t"
                       f"{meter.hardware or '-'}\t{meter.esco_code or '-'}\t{meter.mode}")


@meters_group.command("add")
@click.option("--serial", required=True)
@click.option("--ip", "ip_address", required=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--hardware", required=True, type=click.Choice(sorted(registry.HARDWARE_NAMES)))
@click.option("--esco", required=True, help="Esco code (must exist).")
@database_option
def meters_add(serial: str, ip_address: str, port: int, hardware: str, esco: str, url: str) -> None:
    """Register one meter (its shadow and registers are created with it)."""
    with _open(url) as db:
        escos = registry.esco_ids(db)
        if esco not in escos:
            raise click.ClickException(f"unknown esco {esco!r} (add it: flows escos add {esco})")
        try:
            with db.transaction():
                registry.add_meter(db, serial, ip_address, hardware, escos[esco], port=port)
        except DatabaseError as error:
            raise click.ClickException(f"meter {serial} not added: {error}") from None
    click.echo(f"added meter {serial}")


@click.group("metrics", invoke_without_command=True)
@click.pass_context
@database_option
def metrics_group(context: click.Context, url: str) -> None:
    """Show the metrics and their frequencies; sub-commands change them."""
    context.obj = url
    if context.invoked_subcommand is None:
        with _open(url) as db:
            for row in registry.metrics(db):
                state = "enabled" if row["enabled"] else "disabled"
                click.echo(f"{row['name']:<32}{row['run_frequency']:<10}{state}")


def _set_metric(url: str, name: str, enabled: bool | None = None,
                frequency: str | None = None) -> None:
    with _open(url) as db:
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
    with _open(url) as db:
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
    with _open(url) as db:
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
    with _open(url) as db:
        try:
            api_keys.revoke(db, name)
        except DatabaseError as error:
            raise click.ClickException(str(error)) from None
    click.echo(f"revoked {name}")


COMMANDS = (db_group, escos_group, meters_group, metrics_group, keys_group)
