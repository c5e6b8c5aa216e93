"""Changing a store: ``migrate add-param``, ``merge`` and ``relocate``."""

from __future__ import annotations

from pathlib import Path

import click

from entropic import reflect_model
from entropic.reflection import type_for_value
from entropic_cli._context import StoreContext, pass_state
from entropic_cli._errors import Failure
from entropic_cli._options import parse_assignment, parse_scalar, store_options
from entropic_cli._output import confirm

__all__ = ["merge", "migrate", "relocate"]

_SUFFIX_HELP = "Suffix of the result files [default: the one the store recorded]."


@click.group()
def migrate() -> None:
    """Change a store's schema in place."""


@migrate.command(name="add-param")
@click.argument("assignment", metavar="NAME=VALUE")
@click.option("--file-suffix", default=None, help=_SUFFIX_HELP)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@store_options
@pass_state
def add_param(state: StoreContext, assignment: str, file_suffix: str | None, yes: bool) -> None:
    """Add the parameter NAME to every run, with VALUE as the value the old runs had.

    Adds the column, sets it to VALUE on the old rows and re-keys them as if VALUE had always
    been given: ids, result files and manifests are renamed, and entropic_id_map records each old
    id with its new one. VALUE is read as an int, a float, true/false, else a string. Killed at
    any point, the same command again completes the work.
    """
    name, text = parse_assignment(assignment, "NAME=VALUE")
    value = parse_scalar(text)
    table = state.table
    resuming = any(key.startswith("migrating:") for key in state.facts())
    if name in table.c and not resuming:
        raise Failure(f"table {table.name!r} already has a column {name!r}")
    extra = {} if name in table.c else {name: type_for_value(value)}
    model = reflect_model(state.engine, table.name, extra_columns=extra)
    if not yes:
        confirm(f"Add parameter {name}={value!r} to every run of {table.name!r} and re-key them?")
    with state.open_store(model, file_suffix) as target:
        rekeyed = target.add_parameter(name, value)
    click.echo(f"added {name}={value!r} to {table.name!r}; re-keyed {rekeyed} run(s)")


@click.command()
@click.argument("other_db", metavar="OTHER_DB_URL")
@click.argument("other_results", metavar="OTHER_RESULTS_DIR", type=click.Path(path_type=Path))
@click.option("--file-suffix", default=None, help=_SUFFIX_HELP)
@store_options
@pass_state
def merge(state: StoreContext, other_db: str, other_results: Path, file_suffix: str | None) -> None:
    """Copy the runs another store has and this one lacks (rows, files and manifests).

    File sizes are checked after copying. A run both stores have with different parameters is
    reported and never overwritten; the exit code is then 1.
    """
    with state.open_store(suffix=file_suffix) as target:
        report = target.merge(other_db, other_results)
    click.echo(
        f"copied {len(report.copied)} run(s); {len(report.present)} already present; "
        f"{len(report.conflicts)} conflict(s); {len(report.missing_files)} without a file"
    )
    for run_id, detail in report.conflicts.items():
        click.echo(f"conflict {run_id}: {detail}", err=True)
    for run_id in report.missing_files:
        click.echo(f"missing file {run_id}: not copied", err=True)
    if report.conflicts:
        raise Failure(f"{len(report.conflicts)} id(s) differ between the stores; none overwritten")


@click.command()
@click.argument("old_prefix")
@click.argument("new_prefix")
@store_options
@pass_state
def relocate(state: StoreContext, old_prefix: str, new_prefix: str) -> None:
    """Rewrite result_file paths that start with OLD_PREFIX to start with NEW_PREFIX.

    Use it after moving a results directory ('entropic verify' names both folders then).
    """
    new = Path(new_prefix).expanduser()
    if state.results_dir_explicit is None and new.is_dir():
        state.use_results_dir(new)  # the folder moved there: the recorded one is gone
    with state.open_store() as target:
        changed = target.relocate(old_prefix, new_prefix)
    click.echo(f"rewrote {changed} path(s)")
