"""`flows sync` (one cycle) and `flows scheduler` (cycles on their schedule, until SIGTERM)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
from rich.progress import Progress

from flows import eventloop
from flows.collect.scheduler import run_scheduler
from flows.collect.sync import DEFAULT_PARALLEL, CycleSummary, default_collector_name, sync_cycle
from flows.collect.syncers import PROFILE_DAYS
from flows.db.cli import database_option, open_or_fail
from flows.health import HealthError, HealthServer, serve_health
from flows.logs import configure_logging
from flows.mediator import MediatorClient
from flows.meterdata import FREQUENCIES

T = TypeVar("T")
log = logging.getLogger("flows.collect")


def _common(command: Callable[..., Any]) -> Callable[..., Any]:
    """Options every collector command takes (flags or environment)."""
    options = [
        database_option,
        click.option("--mediator", "target", envvar="FLOWS_MEDIATOR", default="127.0.0.1:50051",
                     show_default=True, help="host:port of the mediator (env FLOWS_MEDIATOR)."),
        click.option("--parallel", envvar="MAX_PARALLEL_JOBS", type=click.IntRange(1),
                     default=DEFAULT_PARALLEL, show_default=True,
                     help="Meters synced at once (env MAX_PARALLEL_JOBS)."),
        click.option("--collector", default=default_collector_name, show_default="host:pid",
                     help="This collector's name in the sync records."),
        click.option("--json-logs/--text-logs", default=None,
                     help="Log format [default: text on a terminal, JSON lines otherwise]."),
        click.option("--profile-days", envvar="FLOWS_PROFILE_DAYS", type=click.IntRange(1, 30),
                     default=PROFILE_DAYS, show_default=True,
                     help="How far back SyncerProfileLog starts for a meter with no profile "
                          "values yet (env FLOWS_PROFILE_DAYS)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


STOP_GRACE_S = 10.0  # after SIGTERM, how long meters in flight may take to finish


def _until_signal(work: Callable[[asyncio.Event], Awaitable[T]]) -> T:
    """Run ``work(stop)``. SIGTERM or Ctrl-C sets ``stop``: no meter is started any more and
    those in flight get `STOP_GRACE_S` to finish; then (or at a second signal) the work is
    cancelled, whatever it waits for (a meter cancelled before its commit writes nothing), so
    the process always ends within that bound."""

    async def main() -> T:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def on_signal() -> None:
            if stop.is_set():
                task.cancel()
                return
            stop.set()
            loop.call_later(STOP_GRACE_S, task.cancel)

        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, on_signal)
        return await work(stop)

    try:
        return eventloop.run(main())
    except eventloop.EventLoopChoiceError as error:
        raise click.ClickException(str(error)) from None
    except asyncio.CancelledError:
        log.warning("stopped after %.0f s of grace: meters still in flight were not recorded",
                    STOP_GRACE_S, extra={"event": "stopped_hard"})
        raise SystemExit(1) from None


@click.command()
@click.option("--frequency", required=True, type=click.Choice(FREQUENCIES))
@click.option("--esco", help="Only this esco's meters.")
@click.option("--meter", "serial", help="Only this meter.")
@_common
def sync(frequency: str, esco: str | None, serial: str | None, url: str, target: str,
         parallel: int, collector: str, json_logs: bool | None, profile_days: int) -> None:
    """Sync every active meter once with the metrics enabled for FREQUENCY.

    Collectors running at the same time on one PostgreSQL database share the cycle: each meter
    is synced by one of them."""
    configure_logging(json_lines=json_logs)
    db = open_or_fail(url)

    async def work(stop: asyncio.Event) -> CycleSummary:
        # A progress bar on a terminal; elsewhere (services, CI) the log lines only.
        with Progress(transient=True, disable=not sys.stderr.isatty()) as bar:
            task = bar.add_task(f"{frequency} sync", total=None)
            async with MediatorClient(target) as client:
                return await sync_cycle(
                    db, client, frequency, esco=esco, serial=serial, parallel=parallel,
                    collector=collector, stop=stop, profile_days=profile_days,
                    progress=lambda done, total: bar.update(task, completed=done, total=total))

    summary = _until_signal(work)
    click.echo(summary.line())
    for failed, reason in sorted(summary.problems.items()):
        click.echo(f"  {failed}: {reason}")
    if serial is not None and summary.ok + summary.unhealthy == 0 and serial in summary.problems:
        raise click.ClickException(f"meter {serial!r} was not synced: {summary.problems[serial]}")


async def beat_while_running(health: HealthServer | None) -> None:
    """The event loop's heartbeat for /healthz (a stuck loop stops beating)."""
    while health is not None:
        health.beat()
        await asyncio.sleep(1)


@click.command()
@click.option("--frequency", "frequencies", multiple=True, type=click.Choice(FREQUENCIES),
              help="Only these frequencies (repeat the option) [default: all].")
@click.option("--jitter", "jitter_s", type=click.FloatRange(0), default=60.0, show_default=True,
              help="Start each cycle up to this many seconds after its slot, at random.")
@click.option("--health", "health_listen", envvar="FLOWS_HEALTH", metavar="HOST:PORT",
              help="Serve /healthz, /readyz and /metrics there (env FLOWS_HEALTH).")
@click.option("--keep-months", type=click.IntRange(1, None), envvar="FLOWS_KEEP_MONTHS",
              help="Daily, drop months of history older than this many before the current one "
                   "(PostgreSQL; see flows db retention) [default: keep everything].")
@_common
def scheduler(frequencies: tuple[str, ...], jitter_s: float, health_listen: str | None,
              keep_months: int | None, url: str, target: str, parallel: int, collector: str,
              json_logs: bool | None, profile_days: int) -> None:
    """Sync each frequency on its schedule until SIGTERM: hourly at :00, 12hourly at 00:00 and
    12:00 UTC, daily at 00:00 UTC; the current slot right away if it is not done yet.

    SIGTERM starts no new meter, lets the ones in flight finish (at most 10 s), and exits."""
    configure_logging(json_lines=json_logs)
    db = open_or_fail(url)
    try:
        health = serve_health(health_listen)
    except HealthError as error:
        raise click.ClickException(str(error)) from None
    chosen = frequencies or FREQUENCIES
    log.info("scheduler %s started: %s", collector, ", ".join(chosen),
             extra={"event": "scheduler_started", "collector": collector,
                    "health_port": health.port if health else None})

    async def work(stop: asyncio.Event) -> None:
        beating = asyncio.create_task(beat_while_running(health))
        try:
            async with MediatorClient(target) as client:
                await run_scheduler(db, client, chosen, parallel=parallel, jitter_s=jitter_s,
                                    stop=stop, collector=collector, profile_days=profile_days,
                                    keep_months=keep_months)
        finally:
            beating.cancel()

    _until_signal(work)
    log.info("scheduler %s stopped", collector, extra={"event": "scheduler_stopped",
                                                       "collector": collector})
