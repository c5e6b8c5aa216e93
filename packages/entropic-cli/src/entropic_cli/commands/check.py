"""``entropic verify`` and ``entropic gc``: what does not match between rows and files."""

from __future__ import annotations

import sys
from typing import Any

import click

from entropic.maintenance import (
    KINDS,
    TRASH_DIR_NAME,
    Checkup,
    Problem,
    check,
    collect_garbage,
    empty_trash,
)
from entropic_cli import _format
from entropic_cli._context import StoreContext, pass_state
from entropic_cli._options import FORMATS, store_options
from entropic_cli._output import confirm, human_bytes, relative

__all__ = ["gc", "verify"]


def _record(problem: Problem) -> dict[str, Any]:
    return {
        "problem": problem.kind,
        "id": problem.id,
        "path": str(problem.path),
        "size": problem.size,
        "removable": problem.removable,
        "description": problem.description,
        "detail": problem.detail,
    }


def _checkup(state: StoreContext) -> Checkup:
    results_dir = state.need_results_dir()
    return check(state.engine, state.table, results_dir, state.file_suffix())


def _say_moved(checkup: Checkup) -> None:
    if checkup.moved is not None:
        old, new = checkup.moved
        click.echo(
            f"the results folder looks moved: the rows point to {old}, and {new} holds files "
            f"of the same names; run 'entropic relocate {old} {new}' to mend the rows",
            err=True,
        )


@click.command()
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@store_options
@pass_state
def verify(state: StoreContext, fmt: str) -> None:
    """Check rows against files; exit with status 1 if anything is wrong.

    Reports rows whose result file is missing or empty, a results folder that looks moved,
    result files and manifests without rows, unreadable manifests, and leftover temporary files
    of interrupted runs. Manifests without a row whose result file exists are for
    'entropic ingest'. Nothing is changed.
    """
    checkup = _checkup(state)
    problems = checkup.problems
    folder = state.results_dir
    if fmt == "json":
        _format.write_json([_record(p) for p in problems], sys.stdout)
    elif problems:
        _format.write_table(
            [
                (p.kind, p.id or "", relative(p.path, folder), p.size, p.detail or "")
                for p in problems
            ],
            ["problem", "id", "path", "size", "detail"],
            sys.stdout,
            limit=None,
        )
    if not problems:
        if fmt != "json":
            click.echo(f"ok: {checkup.rows} rows checked, no problems")
        return
    _say_moved(checkup)
    counts = {kind: sum(p.kind == kind for p in problems) for kind in KINDS}
    detail = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
    click.echo(f"{len(problems)} problem(s) in {checkup.rows} rows: {detail}", err=True)
    click.get_current_context().exit(1)


@click.command()
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--purge", is_flag=True, help="Delete for good instead of moving to the trash folder."
)
@click.option(
    "--force", is_flag=True, help="Act even when the results folder looks moved (see verify)."
)
@click.option(
    "--empty-trash",
    is_flag=True,
    help=f"Delete for good what earlier gc runs moved to {TRASH_DIR_NAME}, and nothing else.",
)
@store_options
@pass_state
def gc(
    state: StoreContext, dry_run: bool, yes: bool, purge: bool, force: bool, empty_trash: bool
) -> None:
    """Remove the orphaned files, stale manifests and leftovers that verify reports.

    What goes is moved into a dated folder under .entropic-trash in the results directory,
    from where it can be put back by hand; --purge deletes for good and --empty-trash empties
    the trash. Rows are never removed (use rm), nor files that a manifest names (ingest indexes
    them). On a results folder that looks moved, gc does nothing without --force.
    """
    folder = state.need_results_dir()
    if empty_trash:
        _empty(folder, dry_run=dry_run, yes=yes)
        return
    engine, table, suffix = state.engine, state.table, state.file_suffix()
    plan = collect_garbage(engine, table, folder, suffix, dry_run=True, force=force)
    for problem in plan.removed:
        prefix = "would remove" if dry_run else "remove"
        click.echo(f"{prefix} {relative(problem.path, folder)} ({problem.kind})")
    ingestable = [p for p in plan.kept if p.kind == "unindexed-manifest"]
    if ingestable:
        click.echo(
            f"keeping {len(ingestable)} manifest(s) whose result file exists: "
            "run 'entropic ingest' to index them",
            err=True,
        )
    if not plan.removed:
        click.echo("nothing to remove")
        return
    size = human_bytes(plan.freed_bytes)
    if dry_run:
        click.echo(f"{len(plan.removed)} item(s), {size} would be freed")
        return
    if not yes:
        how = "for good" if purge else f"by moving them to {TRASH_DIR_NAME}"
        confirm(f"Remove {len(plan.removed)} item(s) ({size}) {how}?")
    report = collect_garbage(
        engine,
        table,
        folder,
        suffix,
        purge=purge,
        force=force,
        only=[p.path for p in plan.removed],
    )
    message = f"removed {len(report.removed)} item(s), freed {human_bytes(report.freed_bytes)}"
    if report.trash is not None:
        message += (
            f"; they are in {relative(report.trash, folder)}, from where they can be put back "
            "('entropic gc --empty-trash' deletes them for good)"
        )
    click.echo(message)


def _empty(folder: Any, *, dry_run: bool, yes: bool) -> None:
    trash = folder / TRASH_DIR_NAME
    if not trash.is_dir():
        click.echo("the trash is empty")
        return
    if dry_run:
        click.echo(f"would empty {relative(trash, folder)}")
        return
    if not yes:
        confirm(f"Delete everything in {relative(trash, folder)} for good?")
    click.echo(f"deleted {empty_trash(folder)} file(s) from the trash")
