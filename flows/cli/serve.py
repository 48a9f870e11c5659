"""`flows serve`: the HTTP API and dashboard (uvicorn).

It lives with the command line, not in flows.api, because it wires two parts together: the
API's admin sync route runs the collector's cycle (flows.collect) through the mediator.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

import click
import uvicorn

from flows.api import DEFAULT_BODY_TIMEOUT_S, DEFAULT_STALE_AFTER_S, AdminSync, ApiKeys, create_app
from flows.api.routes.tariffs import AdminTariffs
from flows.collect import sync_cycle
from flows.collect.tariffs import schedule_tariff
from flows.db import Database, DatabaseError, open_database, registry
from flows.db import api_keys as api_keys_in_db
from flows.db.cli import database_option
from flows.db.tariffs import FutureTariff
from flows.logs import configure_logging
from flows.mediator import MediatorClient
from flows.views import follow

log = logging.getLogger("flows.serve")


def admin_sync(mediator: str) -> AdminSync:
    """Sync one meter now through the mediator at ``mediator`` (host:port)."""
    async def sync_now(db: Database, serial: str, frequency: str) -> dict[str, Any]:
        async with MediatorClient(mediator) as client:
            summary = await sync_cycle(db, client, frequency, serial=serial, collector="flows-serve")
        return {"summary": summary.line(), "problems": summary.problems}
    return sync_now


def admin_tariffs(mediator: str, url: str) -> AdminTariffs:
    """Write a future tariff to meters through the mediator at ``mediator``, in the server's
    background, on a database connection of its own."""
    async def write(tariff: FutureTariff, serials: list[str], actor: str) -> None:
        db = open_database(url)
        try:
            async with MediatorClient(mediator) as client:
                summary = await schedule_tariff(db, client, tariff, serials, actor)
            log.info(summary.line(), extra={"event": "tariff_schedule"})
        except Exception:
            log.exception("tariff schedule failed")
            raise
        finally:
            db.close()
    return write


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="0: any free port (printed).")
@database_option
@click.option("--mediator", envvar="FLOWS_MEDIATOR", default=None,
              help="host:port of the mediator, for POST /meters/{serial}/sync and "
                   "/admin/tariffs/schedules (env FLOWS_MEDIATOR).")
@click.option("--api-keys", "api_keys", envvar="FLOWS_API_KEYS", default="",
              help="KEY=read,KEY=admin,… (env FLOWS_API_KEYS), for tests and demos; otherwise "
                   "the named keys of `flows keys create`.")
@click.option("--allow-empty", is_flag=True,
              help="Serve a database with no meters (refused otherwise: likely a wrong URL).")
@click.option("--views/--no-views", "keep_views", default=False, show_default=True,
              help="Keep the views up to date in this process (a `flows views follow`), so a "
                   "correction shows in consumption within seconds.")
@click.option("--public-url", envvar="FLOWS_PUBLIC_URL", default=None,
              help="The URL clients reach this server at (https://flows.example.com, env "
                   "FLOWS_PUBLIC_URL): the start of pages' next/previous links, which are "
                   "relative without it (never taken from the Host header).")
@click.option("--views-stale-after", "stale_after_s", envvar="FLOWS_VIEWS_STALE_AFTER",
              type=click.FloatRange(1), default=DEFAULT_STALE_AFTER_S, show_default=True,
              help="Seconds the views may lag behind the change log before /readyz reports "
                   "degraded (env FLOWS_VIEWS_STALE_AFTER).")
@click.option("--body-timeout", "body_timeout_s", envvar="FLOWS_BODY_TIMEOUT",
              type=click.FloatRange(0.1), default=DEFAULT_BODY_TIMEOUT_S, show_default=True,
              help="Seconds a request body may take to arrive (408 after; env FLOWS_BODY_TIMEOUT).")
@click.option("--trusted-proxies", envvar="FLOWS_TRUSTED_PROXIES", default="",
              help="Addresses of reverse proxies whose X-Forwarded-For/-Proto are believed "
                   "(comma-separated, env FLOWS_TRUSTED_PROXIES); none by default, so a client "
                   "cannot claim another address or HTTPS.")
def serve(host: str, port: int, url: str, mediator: str | None, api_keys: str,
          allow_empty: bool, keep_views: bool, public_url: str | None,
          stale_after_s: float, body_timeout_s: float, trusted_proxies: str) -> None:
    """Serve the HTTP API (docs at /docs) and the dashboard (at /)."""
    configure_logging()
    if public_url and not public_url.startswith(("http://", "https://")):
        raise click.BadParameter("give http://… or https://…", param_hint="--public-url")
    try:
        keys = ApiKeys.parse(api_keys)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--api-keys") from None
    try:
        with open_database(url) as db:
            empty = not registry.meters(db)
            named_keys = api_keys_in_db.any_live(db)
    except DatabaseError as error:
        raise click.ClickException(str(error)) from None
    if not keys.roles and not named_keys:
        raise click.ClickException("no API keys: create one with `flows keys create NAME --role "
                                   "admin` (or give FLOWS_API_KEYS for a test or demo)")
    if empty and not allow_empty:
        raise click.ClickException(f"the database {url} has no meters (a wrong --database?); "
                                   "give --allow-empty to serve it anyway")
    # Bind first so port 0 works and the printed address is the real one.
    try:
        listener = socket.create_server((host, port))
    except OSError as error:
        raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror}") from None
    bound = listener.getsockname()[1]
    click.echo(f"flows serve: http://{host}:{bound} (API docs at /docs, dashboard at /)", nl=True)
    app = create_app(url, keys, admin_sync(mediator) if mediator else None, stale_after_s,
                     public_url, body_timeout_s,
                     admin_tariffs(mediator, url) if mediator else None)
    stopping = threading.Event()
    follower = None
    if keep_views:
        follower = threading.Thread(target=follow, args=(open_database(url), 1.0, stopping.is_set),
                                    name="views follow", daemon=True)
        follower.start()
    config = uvicorn.Config(app, log_level="warning", proxy_headers=bool(trusted_proxies),
                            forwarded_allow_ips=trusted_proxies or None)
    try:
        uvicorn.Server(config).run(sockets=[listener])
    finally:
        stopping.set()
        if follower is not None:
            follower.join(10)
