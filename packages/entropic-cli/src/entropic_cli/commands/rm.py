"""``entropic rm``: removing runs, through the Store's own delete (manifest, row, then file)."""

from __future__ import annotations

import click

from entropic.inspection import Condition, select_records
from entropic_cli._completion import complete_id
from entropic_cli._context import StoreContext, pass_state
from entropic_cli._errors import Failure, UsageFailure
from entropic_cli._group import Interrupted
from entropic_cli._options import parse_conditions, store_options
from entropic_cli._output import confirm

__all__ = ["rm"]

_COLUMNS = ["id", "result_file"]


def _targets(
    state: StoreContext, run_ids: tuple[str, ...], where: tuple[str, ...]
) -> dict[str, str]:
    """The runs to remove, id to stored result file; every id given must exist."""
    engine, table = state.engine, state.table
    targets: dict[str, str] = {}
    wanted = list(dict.fromkeys(run_ids))
    for run_id in wanted:
        condition = Condition("id", "=", run_id)
        for row in select_records(engine, table, [condition], columns=_COLUMNS, order_by=[]):
            targets[row["id"]] = row["result_file"]
    unknown = [i for i in wanted if i not in targets]
    if unknown:
        shown = ", ".join(map(repr, unknown[:5])) + (" ..." if len(unknown) > 5 else "")
        raise Failure(f"no run with id {shown} in table {table.name!r}; nothing removed")
    if where:
        conditions = parse_conditions(table, where)
        for row in select_records(engine, table, conditions, columns=_COLUMNS, order_by=[]):
            targets[row["id"]] = row["result_file"]
    return targets


@click.command()
@click.argument("run_ids", metavar="[ID]...", nargs=-1, shell_complete=complete_id)
@click.option(
    "--where",
    "where",
    multiple=True,
    metavar="KEY=VALUE",
    help="Also remove the runs that match, as for ls. Repeatable (all must hold).",
)
@click.option("--remove-file", is_flag=True, help="Also delete the runs' result files.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@store_options
@pass_state
def rm(
    state: StoreContext,
    run_ids: tuple[str, ...],
    where: tuple[str, ...],
    remove_file: bool,
    yes: bool,
) -> None:
    """Remove runs: their manifests and rows (and their files with --remove-file).

    Each run goes manifest first, then row, then file: interrupted, a run is either still
    complete or gone for good, and ingest never brings a removed run back.
    """
    if not run_ids and not where:
        raise UsageFailure("give the ids of the runs to remove, or --where KEY=VALUE")
    targets = _targets(state, run_ids, where)
    if not targets:
        click.echo("no run matches; nothing removed", err=True)
        return
    what = "manifests, rows and result files" if remove_file else "manifests and rows"
    if not yes:
        confirm(f"Remove {len(targets)} run(s) from table {state.table.name!r} ({what})?")
    removed = files = 0
    with state.open_store(must_exist=False) as store:
        try:
            for run_id, stored in targets.items():
                path = state.result_path(stored)
                had_file = remove_file and path.is_file()
                if store.delete(hash=run_id, remove_file=remove_file):
                    removed += 1
                if had_file and not path.exists():
                    files += 1
        except KeyboardInterrupt:
            raise Interrupted(
                f"removed {removed} of {len(targets)} run(s); the same command removes the rest"
            ) from None
    message = f"removed {removed} run(s)"
    if remove_file:
        message += f" and {files} result file(s)"
    click.echo(message)
