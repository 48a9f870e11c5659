"""`flows serve`: the HTTP API and dashboard (uvicorn).

It lives with the command line, not in flows.api, because it wires two parts together: the
API's admin sync route runs the collector's cycle (flows.collect) through the mediator.
"""

from __future__ import annotations

import socket
from typing import Any

import click
import uvicorn

from flows.api import AdminSync, ApiKeys, Role, create_app
from flows.collect import sync_cycle
from flows.db import DEFAULT_URL, Database, DatabaseError, connect, migrate
from flows.mediator import MediatorClient


def admin_sync(mediator: str) -> AdminSync:
    """Sync one meter now through the mediator at ``mediator`` (host:port)."""
    async def sync_now(db: Database, serial: str, frequency: str) -> dict[str, Any]:
        async with MediatorClient(mediator) as client:
            summary = await sync_cycle(db, client, frequency, serial=serial, collector="flows-serve")
        return {"summary": summary.line(), "problems": summary.problems}
    return sync_now


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
    app = create_app(url, keys, admin_sync(mediator) if mediator else None)
    config = uvicorn.Config(app, log_level="warning")
    uvicorn.Server(config).run(sockets=[listener])
