"""`flows mediator`: serve the gRPC mediator in front of the meters."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import click
from prometheus_client import start_http_server

from flows import eventloop
from flows.db import DatabaseError, open_database
from flows.db.cli import database_url_option
from flows.mediator.directory import CsvDirectory, DatabaseDirectory
from flows.mediator.links import LinkSettings, MeterLinks, Resolver
from flows.mediator.server import InfoService, Metrics, TlsFiles, start_server
from flows.retry import OUTAGE_METRICS


@click.command()
@click.option("--listen", default="127.0.0.1:50051", show_default=True, help="host:port to serve on.")
@database_url_option(default=None, text="Flows database with the registry (env FLOWS_DATABASE_URL).")
@click.option(
    "--meters",
    "csv_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Or a registry CSV (serial, ip_address, port), as `flows simulate` writes.",
)
@click.option(
    "--min-gap", type=float, default=2.0, show_default=True, help="Seconds between two requests to one meter."
)
@click.option(
    "--lock-wait",
    type=float,
    default=60.0,
    show_default=True,
    help="Longest wait for a busy meter before RESOURCE_EXHAUSTED.",
)
@click.option("--metrics-port", type=int, help="Serve Prometheus metrics on this port.")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--tls-ca",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --tls-cert/--tls-key: mutual TLS, clients need a certificate from this CA.",
)
def mediator(
    listen: str,
    url: str | None,
    csv_path: Path | None,
    min_gap: float,
    lock_wait: float,
    metrics_port: int | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_ca: Path | None,
) -> None:
    """Serve EmliteMediatorService and InfoService, talking EMOP to the meters."""
    if (url is None) == (csv_path is None):
        raise click.UsageError("give exactly one of --database (or FLOWS_DATABASE_URL) and --meters")
    tls_parts = (tls_cert, tls_key, tls_ca)
    if any(tls_parts) and not all(tls_parts):
        raise click.UsageError("mutual TLS needs all of --tls-cert, --tls-key and --tls-ca")
    tls = (
        TlsFiles(tls_cert.read_bytes(), tls_key.read_bytes(), tls_ca.read_bytes())  # type: ignore[union-attr]
        if all(tls_parts)
        else None
    )
    settings = LinkSettings(min_gap_s=min_gap, lock_wait_s=lock_wait)
    try:
        eventloop.run(_serve(listen, url, csv_path, settings, metrics_port, tls))
    except (eventloop.EventLoopChoiceError, DatabaseError) as error:
        raise click.ClickException(str(error)) from None
    except (OSError, RuntimeError) as error:  # a port in use: gRPC raises RuntimeError
        raise click.ClickException(f"cannot listen on {listen}: {error}") from None


async def _serve(
    listen: str,
    url: str | None,
    csv_path: Path | None,
    settings: LinkSettings,
    metrics_port: int | None,
    tls: TlsFiles | None,
) -> None:
    metrics = Metrics.create()
    info: InfoService | None = None
    resolve: Resolver
    if url is not None:
        directory = DatabaseDirectory(open_database(url))
        resolve, info = directory, InfoService(directory.info, directory.meters)
    else:
        assert csv_path is not None
        listed = CsvDirectory(csv_path)
        resolve, info = listed, InfoService(listed.info, listed.meters)
    if metrics_port is not None:
        for metric in OUTAGE_METRICS:  # the registry database's outages too
            metrics.registry.register(metric)
        start_http_server(metrics_port, registry=metrics.registry)
    server, port = await start_server(listen, MeterLinks(resolve, settings), metrics, info, tls)
    click.echo(f"mediator listening on {listen.rsplit(':', 1)[0]}:{port}{' (mutual TLS)' if tls else ''}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop(grace=5)
