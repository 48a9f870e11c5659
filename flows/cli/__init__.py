"""The `flows` command: one entry point, with the sub-commands of each part."""

from __future__ import annotations

import click

from flows.cli.serve import serve
from flows.collect.cli import scheduler, sync
from flows.collect.tariffs_cli import tariffs_group
from flows.db.cli import COMMANDS as DB_COMMANDS
from flows.devtools.demo import demo
from flows.mediator.cli import mediator
from flows.meters.cli import simulate
from flows.views.cli import COMMANDS as VIEWS_COMMANDS


@click.group()
@click.version_option(package_name="flows")
def main() -> None:
    """Flows: collect smart prepayment meter reads and keep usage up to date."""


main.add_command(simulate)
main.add_command(mediator)
main.add_command(sync)
main.add_command(scheduler)
main.add_command(tariffs_group)
main.add_command(serve)
main.add_command(demo)
for _command in (*DB_COMMANDS, *VIEWS_COMMANDS):
    main.add_command(_command)
