"""``entropic ingest``: indexing the manifests that have no row, or rebuilding a lost table."""

from __future__ import annotations

from pathlib import Path

import click

from entropic import Base, Store, reflect_model
from entropic.inspection import missing_reserved, parameter_columns
from entropic.manifests import manifest_id, read_manifest, scan_manifests
from entropic_cli import _sweep
from entropic_cli._context import StoreContext, pass_state
from entropic_cli._errors import Failure, UsageFailure
from entropic_cli._options import store_options
from entropic_cli._rebuild import create_table_from_manifests

__all__ = ["ingest"]


def _table_name(state: StoreContext, model: type[Base] | None) -> str:
    """The table to fill: the model's, the one named, or the only one in the database."""
    if model is not None:
        own = str(getattr(model.__table__, "name", ""))
        if state.table_name is not None and state.table_name != own:
            raise UsageFailure(
                f"--table {state.table_name!r} does not match the model's table {own!r}"
            )
        return own
    name = state.table_name
    if name is None and not state.tables():
        raise Failure(
            f"no entropic table in {state.shown_url}: to rebuild one from the manifests, "
            "name it with --table NAME (or give the model with --model MODULE:CLASS)"
        )
    return name if name is not None else state.table.name


def _suffix_from_manifests(results_dir: Path) -> str | None:
    """The suffix of the first readable manifest's result file (``<id><suffix>``)."""
    for path in scan_manifests(results_dir):
        try:
            name = Path(read_manifest(path, results_dir).result_file).name
        except (ValueError, KeyError, TypeError, OSError):
            continue
        run_id = manifest_id(path) or ""
        return name[len(run_id) :] if name.startswith(run_id) else Path(name).suffix
    return None


@click.command()
@click.option(
    "--model",
    "model_spec",
    metavar="MODULE:CLASS",
    default=None,
    help="The model, when its table must be created (a rebuilt database).",
)
@store_options
@pass_state
def ingest(state: StoreContext, model_spec: str | None) -> None:
    """Index the manifests in the results directory that have no row.

    Rebuilds a lost database, or indexes results that were written elsewhere. Manifests whose
    result file is missing, or whose parameters do not fit the table, are skipped with a warning.

    When the table does not exist, name it with --table: it is created from the model given
    with --model, or else with column types guessed from the manifests' values.
    """
    state.create = model_spec is not None or state.table_name is not None
    given = _sweep.load_model(model_spec) if model_spec is not None else None
    name = _table_name(state, given)
    exists = missing_reserved(state.engine, name) is not None
    results_dir = state.results_dir_for(name if exists else None)
    if not results_dir.is_dir():
        raise Failure(f"no results directory at {results_dir}")
    model: type[Base]
    if given is not None:
        model = given
    elif exists:
        model = state.model  # the usual checks and messages
    else:
        table = create_table_from_manifests(state.engine, results_dir, name)
        model = reflect_model(state.engine, name)
        dialect = state.engine.dialect
        click.echo(
            f"created table {name!r} with parameter columns guessed from the manifests: "
            + ", ".join(
                f"{c.name} {c.type.compile(dialect=dialect)}" for c in parameter_columns(table)
            ),
            err=True,
        )
    suffix = state.file_suffix_for(model.__table__) if exists else None  # type: ignore[arg-type]
    suffix = suffix or _suffix_from_manifests(results_dir) or ""
    with Store(None, model, results_dir, suffix, state.url) as target:
        added = target.ingest()
    click.echo(f"indexed {added} run(s) into table {name!r}")
