"""``entropic sweep``: running every parameter set that is not stored yet."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Table

from entropic import (
    Base,
    FailedBeforeError,
    FallbackRefusedError,
    Store,
    SweepError,
    SweepProgress,
    TimeLimitError,
    executors,
)
from entropic.errors import SweepTerminated
from entropic.inspection import count_present, recorded_location
from entropic_cli import _sweep
from entropic_cli._context import StoreContext, pass_state
from entropic_cli._errors import Failure, UsageFailure, first_line
from entropic_cli._group import INTERRUPTED, Interrupted
from entropic_cli._options import Duration, convert_grid, store_options

__all__ = ["sweep"]

#: The file suffix when neither --file-suffix nor the store's record gives one.
DEFAULT_SUFFIX = ".h5"


def _location(state: StoreContext, table: Table, suffix: str | None) -> tuple[Path, str]:
    """The results directory and file suffix: as given, else recorded, else the defaults."""
    results_dir = state.results_dir_for(table.name)
    if suffix is None and state.database_missing() is None:
        _dir, suffix = recorded_location(state.engine, table.name)
    return results_dir, suffix if suffix is not None else DEFAULT_SUFFIX


def _dry_run(
    state: StoreContext, runner: Any, model: type[Base], sets: list[dict[str, Any]], suffix: str
) -> None:
    """Count without creating anything: a missing SQLite file means nothing is cached."""
    missing = state.database_missing() is not None
    table = model.__table__
    assert isinstance(table, Table)
    with tempfile.TemporaryDirectory(prefix="entropic-dry-run-") as scratch:
        results_dir = Path(scratch) if missing else state.results_dir_for(table.name)
        db_url: Any = "sqlite://" if missing else state.url
        with Store(runner, model, results_dir, suffix, db_url) as target:
            keys = list(dict.fromkeys(target.key(p) for p in sets))
            cached = count_present(target.engine, table, keys)
    click.echo(f"{len(keys)} parameter set(s): {cached} cached, {len(keys) - cached} would run")


#: The exit status after SIGTERM (128 + 15), as shells report it.
TERMINATED = 143


class TimeLimitFailure(Failure):
    """--time-limit stopped the sweep before every run was done (exit status 3)."""

    exit_code = 3


def _interrupted(last: list[SweepProgress], total: int, exc: BaseException) -> Interrupted:
    progress = last[-1] if last else None
    hits = progress.hits if progress else 0
    ran = (progress.runs - progress.failures) if progress else 0
    left = (progress.total if progress else total) - hits - ran
    return Interrupted(
        f"{ran} run(s) finished and were stored, {hits} were cached, {left} did not run; "
        "run the same command again to resume",
        TERMINATED if isinstance(exc, SweepTerminated) else INTERRUPTED,
    )


def _failed_runs(exc: SweepError, last: list[SweepProgress], retries: int) -> Failure:
    """One line on stderr per failed or skipped run; the summary to exit with."""
    for failure in exc.failures:
        error = failure.error
        if isinstance(error, FailedBeforeError):
            click.echo(
                f"run {failure.id} not started: it failed {error.attempts} time(s) before, "
                f"last with {error.exc_type}",
                err=True,
            )
        else:
            click.echo(
                f"run {failure.id} failed: {type(error).__name__}: {first_line(str(error))}",
                err=True,
            )
    cached = last[-1].hits if last else 0
    skipped = exc.skipped
    ran = len(exc.records) - cached - skipped
    failed = len(exc.failures) - skipped
    parts = [f"{failed} of {ran} runs failed ({ran - failed} stored)"] if ran else []
    if skipped:
        parts.append(
            f"{skipped} not started: they failed {retries + 1} or more times before "
            "(--skip-failed; 'entropic retry' or a sweep without it runs them again)"
        )
    return Failure("; ".join(parts))


@click.command()
@click.argument("runner_spec", metavar="RUNNER")
@click.argument("model_spec", metavar="MODEL")
@click.option(
    "--grid",
    "grid",
    multiple=True,
    metavar="KEY=V1,V2,...",
    help="A parameter and its values, each converted to the parameter column's type. "
    "Repeatable; the sweep is the full product.",
)
@click.option(
    "--params",
    "params_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Parameter sets: a JSON array of objects, or one JSON object per line. "
    "With --grid, each set is combined with each grid point.",
)
@click.option(
    "--executor",
    "executor",
    metavar="NAME",
    default=None,
    help="A registered executor (see 'entropic executors') [default: serial].",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    default=None,
    help="Run on the Dask scheduler at ADDRESS (needs entropic-dask).",
)
@click.option(
    "--file-suffix",
    default=None,
    help="Appended to each run's id to name its result file "
    f"[default: the one the store recorded, else {DEFAULT_SUFFIX}].",
)
@click.option(
    "--scheduler-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=_sweep.SCHEDULER_TIMEOUT,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for the Dask scheduler to answer.",
)
@click.option(
    "--scheduler-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Run on the Dask scheduler described in FILE (as dask-scheduler --scheduler-file "
    "writes it; needs entropic-dask).",
)
@click.option(
    "--time-limit",
    type=Duration(),
    default=None,
    metavar="DURATION",
    help="Start no run after this long (5400, 1h30m, 90m); runs in flight finish and are "
    "stored, then the command exits with status 3. Set it a little under a job's walltime.",
)
@click.option(
    "--fallback/--no-fallback",
    default=True,
    show_default=True,
    help="Whether runs the Dask cluster cannot do may run in this process; with --no-fallback "
    "the sweep stops and names the cause instead.",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    metavar="N",
    help="Try a run whose runner raised up to N times more before it counts as failed; every "
    "attempt is recorded (see 'entropic failures').",
)
@click.option(
    "--retry-backoff",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    metavar="SECONDS",
    help="Wait this long before a run's first retry, twice as long before each later one (at "
    "most a minute); other runs go on meanwhile.",
)
@click.option(
    "--skip-failed",
    is_flag=True,
    help="Do not start runs whose current failure (from an earlier sweep) already has "
    "--retries + 1 attempts; they are reported as not started, and the command exits with "
    "status 1. Without it they run again.",
)
@click.option("--dry-run", is_flag=True, help="Only count the cached runs and those to run.")
@click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Show a progress bar."
)
@store_options
@pass_state
def sweep(
    state: StoreContext,
    runner_spec: str,
    model_spec: str,
    grid: tuple[str, ...],
    params_file: Path | None,
    executor: str | None,
    scheduler: str | None,
    file_suffix: str | None,
    scheduler_timeout: float,
    scheduler_file: Path | None,
    time_limit: float | None,
    fallback: bool,
    retries: int,
    retry_backoff: float,
    skip_failed: bool,
    dry_run: bool,
    progress: bool,
) -> None:
    """Run every parameter set that is not stored yet.

    RUNNER and MODEL are given as module:attribute (the working directory is importable), e.g.
    'entropic sweep mysim:run mysim:Result --grid n=10,20 --grid dt=0.1,0.01'. Interrupted
    (Ctrl-C), a sweep keeps every finished run; the same command resumes it. SIGTERM (a
    scheduler's walltime, scancel) does the same and exits with status 143. Several copies of
    the same command (array tasks) share the grid between them.
    """
    if scheduler is not None and scheduler_file is not None:
        raise UsageFailure("give --scheduler or --scheduler-file, not both")
    runner = _sweep.load_runner(runner_spec)
    model = _sweep.load_model(model_spec)
    table = model.__table__
    assert isinstance(table, Table)
    if state.table_name is not None and state.table_name != table.name:
        raise UsageFailure(
            f"--table {state.table_name!r} does not match the model's table {table.name!r}"
        )
    base = _sweep.read_params_file(params_file) if params_file is not None else None
    sets = _sweep.parameter_sets(convert_grid(table, _sweep.parse_grid(grid)), base)
    if executor is not None:
        executors.load(executor)  # an unknown name fails before anything else happens
    results_dir, suffix = _location(state, table, file_suffix)
    if dry_run:
        _dry_run(state, runner, model, sets, suffix)
        return
    missing = state.database_missing()
    client = (
        _sweep.connect_scheduler(scheduler, scheduler_timeout)
        if scheduler is not None
        else _sweep.connect_scheduler_file(scheduler_file, scheduler_timeout)
        if scheduler_file is not None
        else None
    )
    if missing is not None:
        click.echo(f"note: no database at {missing}: creating a new, empty store", err=True)
    last: list[SweepProgress] = []
    try:
        with Store(runner, model, results_dir, suffix, state.url) as target:
            try:
                records = target.sweep(
                    sets,
                    client=client,
                    executor=executor,
                    progress=progress,
                    callback=last.append,
                    time_limit=time_limit,
                    fallback=fallback,
                    retries=retries,
                    retry_backoff=retry_backoff,
                    skip_failed=skip_failed,
                )
            except KeyboardInterrupt as exc:
                raise _interrupted(last, len(sets), exc) from None
            except TimeLimitError as exc:
                done = len(exc.records) - exc.remaining
                raise TimeLimitFailure(
                    f"time limit reached: {done} of {len(exc.records)} parameter sets are stored, "
                    f"{exc.remaining} did not run; run the same command again to resume"
                ) from None
            except FallbackRefusedError as exc:
                raise Failure(first_line(str(exc))) from None
            except SweepError as exc:
                raise _failed_runs(exc, last, retries) from None
    finally:
        if client is not None:
            client.close()
    hits = last[-1].hits if last else len(records)
    click.echo(f"{len(records)} parameter set(s): {hits} cached, {len(records) - hits} ran")
