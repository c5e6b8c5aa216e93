"""The ``entropic`` command: the group and its commands (each in ``entropic_cli.commands``)."""

from __future__ import annotations

from typing import Final

import click

from entropic_cli.__about__ import __version__
from entropic_cli._context import state_of
from entropic_cli._group import EntropicGroup
from entropic_cli._options import store_options
from entropic_cli._output import show_warnings
from entropic_cli.commands import (
    check,
    evolve,
    executors,
    failures,
    ingest,
    inspect,
    provenance,
    rm,
    status,
    sweep,
)

__all__ = ["cli", "main"]

#: The environment variable click's shell completion listens to.
COMPLETE_VAR: Final = "_ENTROPIC_COMPLETE"


@click.group(
    name="entropic",
    cls=EntropicGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@store_options
@click.version_option(
    __version__, "-V", "--version", prog_name="entropic", message="%(prog)s %(version)s"
)
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Look after entropic stores: inspect, check, repair, clean up, export and sweep.

    Works on any entropic store without the model's code: the table is read from the database
    and recognised by entropic's reserved columns (id, result_file, created_at, custom_data).
    The options --db, --results-dir and --table may come before or after the command.
    """
    ctx.call_on_close(state_of(ctx).close)
    show_warnings(ctx)


cli.add_command(inspect.info)
cli.add_command(inspect.ls)
cli.add_command(inspect.show)
cli.add_command(rm.rm)
cli.add_command(check.verify)
cli.add_command(check.gc)
cli.add_command(ingest.ingest)
cli.add_command(inspect.export)
cli.add_command(sweep.sweep)
cli.add_command(evolve.migrate)
cli.add_command(evolve.merge)
cli.add_command(evolve.relocate)
cli.add_command(executors.executors)
provenance.register(cli)
status.register(cli)
failures.register(cli)


def main() -> None:
    """Run the ``entropic`` command (the console script's entry point)."""
    cli.main(prog_name="entropic", complete_var=COMPLETE_VAR)


if __name__ == "__main__":  # pragma: no cover
    main()
