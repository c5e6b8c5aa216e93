"""Acting on failed runs: ``failures`` (and ``failures show``), ``retry`` and ``forget``."""

from __future__ import annotations

import sys
from typing import Any

import click
from sqlalchemy import Table

from entropic import Store, SweepError
from entropic.failures import (
    RecordedFailure,
    failure_history,
    failure_ids_with_prefix,
    forget_failures,
    get_failure,
    list_failures,
)
from entropic.inspection import Condition, parameter_columns
from entropic_cli import _format, _sweep
from entropic_cli._context import StoreContext, pass_state
from entropic_cli._errors import Failure, UsageFailure, first_line
from entropic_cli._options import parse_conditions, store_options

__all__ = ["failures", "forget", "register", "retry"]

WHERE_HELP = (
    "Only failures whose parameter KEY compares so with VALUE: KEY=VALUE, KEY!=VALUE, "
    "KEY<VALUE, KEY<=VALUE, KEY>VALUE, KEY>=VALUE. Repeatable (all hold)."
)
TYPE_HELP = "Only failures with this exception type (e.g. ValueError, or mysim.Diverged)."


def _params(table: Table) -> list[str]:
    return [c.name for c in parameter_columns(table)]


def _select(
    state: StoreContext,
    table: Table,
    ids: tuple[str, ...],
    where: tuple[str, ...],
    exc_type: str | None,
) -> list[RecordedFailure]:
    conditions: list[Condition] = parse_conditions(table, where)
    chosen = [_resolve(state, table.name, i) for i in ids] if ids else None
    return list_failures(state.engine, table.name, conditions, exc_type=exc_type, ids=chosen)


def _resolve(state: StoreContext, table_name: str, text: str) -> str:
    """The failed run ``text`` names: itself, or the one failed id it starts."""
    found = failure_ids_with_prefix(state.engine, table_name, text, limit=11)
    if text in found:
        return text
    if len(found) == 1:
        return found[0]
    if not found:
        raise Failure(f"no current failure with id {text!r} in table {table_name!r}")
    raise Failure(f"id prefix {text!r} is ambiguous: it could be {', '.join(found[:10])}")


def _listing(failure: RecordedFailure, names: list[str]) -> dict[str, Any]:
    return {
        "id": failure.run_id,
        **{name: failure.params.get(name) for name in names},
        "attempt": failure.attempt,
        "type": failure.exc_type,
        "message": first_line(failure.message),
        "host": failure.host,
        "ended_at": failure.ended_at,
    }


@click.group(invoke_without_command=True)
@click.option("--where", "where", multiple=True, metavar="KEY=VALUE", help=WHERE_HELP)
@click.option("--type", "exc_type", metavar="EXC", default=None, help=TYPE_HELP)
@click.option("--limit", type=click.IntRange(min=0), default=None, help="At most N failures.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
@store_options
@click.pass_context
def failures(
    ctx: click.Context, where: tuple[str, ...], exc_type: str | None, limit: int | None, fmt: str
) -> None:
    """List the current failures: runs whose last attempt failed, the latest first.

    'entropic failures show ID' prints one failure with its stored traceback and history.
    """
    if ctx.invoked_subcommand is not None:
        return
    from entropic_cli._context import state_of

    state = state_of(ctx)
    table = state.table
    found = _select(state, table, (), where, exc_type)
    shown = found if limit is None else found[:limit]
    names = _params(table)
    out = sys.stdout
    if fmt == "json":
        _format.write_json((f.to_dict() for f in shown), out)
        return
    records = [_listing(f, names) for f in shown]
    columns = ["id", *names, "attempt", "type", "message", "host", "ended_at"]
    if fmt == "csv":
        _format.write_csv(records, columns, out)
        return
    _format.write_table(([r[c] for c in columns] for r in records), columns, out)
    click.echo(f"{len(found)} failure{'s' if len(found) != 1 else ''}", err=True)


@failures.command(name="show")
@click.argument("run_id", metavar="ID")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@store_options
@pass_state
def show(state: StoreContext, run_id: str, fmt: str) -> None:
    """Show one failure: its parameters, the stored traceback and every attempt.

    ID may be the start of an id, as long as only one failed id starts so.
    """
    table = state.table
    full = _resolve(state, table.name, run_id)
    failure = get_failure(state.engine, table.name, full)
    if failure is None:  # cleared since the prefix was looked up
        raise Failure(f"no current failure with id {run_id!r} in table {table.name!r}")
    history = failure_history(state.engine, table.name, full)
    out = sys.stdout
    if fmt == "json":
        record = failure.to_dict()
        record["history"] = [a.to_dict() for a in history]
        _format.write_json_object(record, out)
        return
    pairs: list[tuple[str, Any]] = [("id", failure.run_id)]
    pairs += [(k, v) for k, v in failure.params.items()]
    pairs += [
        ("attempt", failure.attempt),
        ("type", failure.exc_type),
        ("message", failure.message),
        ("host", failure.host),
        ("pid", failure.pid),
        ("started_at", failure.started_at),
        ("ended_at", failure.ended_at),
        ("elapsed", "-" if failure.elapsed is None else f"{failure.elapsed:.3f} s"),
        ("sweep", failure.sweep_id),
    ]
    _format.write_pairs(pairs, out)
    out.write("traceback:\n")
    for line in (failure.traceback or "(not recorded)").rstrip("\n").splitlines():
        out.write(f"  {line}\n")
    out.write("history:\n")
    _format.write_table(
        [[f"  {a.attempt}", a.outcome, a.exc_type or "", a.host, a.ended_at] for a in history],
        ["  attempt", "outcome", "type", "host", "ended_at"],
        out,
    )


def _need_selection(
    ids: tuple[str, ...], where: tuple[str, ...], exc_type: str | None, everything: bool
) -> None:
    if not (ids or where or exc_type or everything):
        raise UsageFailure("say which failures: give IDs, --where, --type, or --all")


@click.command()
@click.argument("runner_spec", metavar="RUNNER")
@click.argument("model_spec", metavar="MODEL")
@click.argument("ids", nargs=-1, metavar="[ID]...")
@click.option("--where", "where", multiple=True, metavar="KEY=VALUE", help=WHERE_HELP)
@click.option("--type", "exc_type", metavar="EXC", default=None, help=TYPE_HELP)
@click.option("--all", "everything", is_flag=True, help="Every current failure of the table.")
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Try each run this many times more if it fails again.",
)
@click.option("--executor", metavar="NAME", default=None, help="A registered executor.")
@click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Show a progress bar."
)
@store_options
@pass_state
def retry(
    state: StoreContext,
    runner_spec: str,
    model_spec: str,
    ids: tuple[str, ...],
    where: tuple[str, ...],
    exc_type: str | None,
    everything: bool,
    retries: int,
    executor: str | None,
    progress: bool,
) -> None:
    """Run the failed runs again (by ID, --where, --type or --all) with their parameters.

    RUNNER and MODEL are module:attribute, as for 'entropic sweep'. A run that succeeds is
    stored and leaves the failures; one that fails again stays there with one attempt more.
    """
    _need_selection(ids, where, exc_type, everything)
    runner = _sweep.load_runner(runner_spec)
    model = _sweep.load_model(model_spec)
    table = model.__table__
    assert isinstance(table, Table)
    chosen = _select(state, table, ids, where, exc_type)
    if not chosen:
        click.echo("no failures to retry", err=True)
        return
    results_dir = state.results_dir_for(table.name)
    with Store(runner, model, results_dir, state.file_suffix_for(table), state.url) as target:
        try:
            records = target.retry(
                [f.run_id for f in chosen], retries=retries, executor=executor, progress=progress
            )
        except SweepError as exc:
            for failed in exc.failures:
                error = failed.error
                click.echo(
                    f"run {failed.id} failed again: {type(error).__name__}: "
                    f"{first_line(str(error))}",
                    err=True,
                )
            stored = sum(r is not None for r in exc.records)
            raise Failure(
                f"{len(exc.failures)} of {len(chosen)} retried runs failed again ({stored} stored)"
            ) from None
    click.echo(f"retried {len(chosen)} run(s): {len(records)} stored")


@click.command()
@click.argument("ids", nargs=-1, metavar="[ID]...")
@click.option("--where", "where", multiple=True, metavar="KEY=VALUE", help=WHERE_HELP)
@click.option("--type", "exc_type", metavar="EXC", default=None, help=TYPE_HELP)
@click.option("--all", "everything", is_flag=True, help="Every current failure of the table.")
@store_options
@pass_state
def forget(
    state: StoreContext,
    ids: tuple[str, ...],
    where: tuple[str, ...],
    exc_type: str | None,
    everything: bool,
) -> None:
    """Clear current failures (by ID, --where, --type or --all); their history is kept.

    A forgotten run counts as never failed: a sweep with skip_failed starts it again.
    """
    _need_selection(ids, where, exc_type, everything)
    table = state.table
    if everything and not (ids or where or exc_type):
        removed = forget_failures(state.engine, table.name)
    else:
        chosen = _select(state, table, ids, where, exc_type)
        removed = forget_failures(state.engine, table.name, [f.run_id for f in chosen])
    click.echo(f"forgot {removed} failure{'s' if removed != 1 else ''}")


def register(group: click.Group) -> None:
    """Add ``failures``, ``retry`` and ``forget`` to ``group``."""
    for command in (failures, retry, forget):
        group.add_command(command)
