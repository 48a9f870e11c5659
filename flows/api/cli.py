"""`flows serve`: the HTTP API and dashboard (uvicorn)."""

from __future__ import annotations

import socket

import click
import uvicorn

from flows.api.app import create_app
from flows.api.auth import ApiKeys, Role
from flows.db import DEFAULT_URL, DatabaseError, connect, migrate


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="0: any free port (printed).")
@click.option("--database", "url", envvar="FLOWS_DATABASE_URL", default=DEFAULT_URL,
              show_default=True, help="Database URL (env FLOWS_DATABASE_URL).")
@click.option("--mediator", envvar="FLOWS_MEDIATOR", default=None,
              help="host:port of the mediator, for POST /meters/{serial}/sync (env FLOWS_MEDIATOR).")
@click.option("--api-keys", "api_keys", envvar="FLOWS_API_KEYS", default="",
              help="KEY=read,KEY=admin,… (env FLOWS_API_KEYS) [default: one of each, generated "
                   "and printed].")
def serve(host: str, port: int, url: str, mediator: str | None, api_keys: str) -> None:
    """Serve the HTTP API (docs at /docs) and the dashboard (at /)."""
    try:
        keys = ApiKeys.parse(api_keys) if api_keys else ApiKeys.generate()
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--api-keys") from None
    try:
        with connect(url) as db:
            migrate(db)
    except DatabaseError as error:
        raise click.ClickException(str(error)) from None
    # Bind first so port 0 works and the printed address is the real one.
    listener = socket.create_server((host, port))
    bound = listener.getsockname()[1]
    click.echo(f"flows serve: http://{host}:{bound} (API docs at /docs)", nl=True)
    if not api_keys:
        for key, role in keys.roles.items():
            click.echo(f"  {'admin' if role == Role.ADMIN else 'read'} key: {key}"
                       f"  (dashboard: http://{host}:{bound}/?key={key})")
    config = uvicorn.Config(create_app(url, keys, mediator), log_level="warning")
    uvicorn.Server(config).run(sockets=[listener])
