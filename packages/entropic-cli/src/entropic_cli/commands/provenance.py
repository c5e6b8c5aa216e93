"""What made the runs: ``stale`` (runs made by code other than the current) and ``bless``.

Both need the *current* code. ``--runner MODULE:FUNC`` imports the runner and hashes its source,
as the Store does; ``--version V`` names a declared ``runner_version`` (with ``--runner`` too,
the version wins, as in the Store). Without either, the current code is that of the run that
finished last.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import islice
from typing import Any, Final

import click

from entropic import provenance as prov
from entropic.provenance import UNKNOWN, CodeGroup, code_groups, newest_code, runner_code
from entropic_cli import _format
from entropic_cli._context import StoreContext, pass_state
from entropic_cli._errors import Failure
from entropic_cli._options import FORMATS, store_options
from entropic_cli._output import confirm
from entropic_cli._sweep import load_runner

__all__ = [
    "COMMANDS",
    "EXPORTED",
    "bless",
    "current_code",
    "provenance_pairs",
    "register",
    "stale",
    "with_provenance",
]


def _code_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option(
        "--version",
        "--runner-version",
        "version",
        metavar="V",
        default=None,
        help="The current code is this declared runner_version.",
    )(command)
    return click.option(
        "--runner",
        "runner_spec",
        metavar="MODULE:FUNC",
        default=None,
        help="The current code is this runner's source (imported from the working directory).",
    )(command)


def current_code(state: StoreContext, runner_spec: str | None, version: str | None) -> str:
    """The code that counts as current, from the options or the newest run.

    Raises:
        Failure: The runner's source cannot be read, or no run records its code.
    """
    if version is not None:
        return f"version:{version}"
    if runner_spec is not None:
        code = runner_code(load_runner(runner_spec), None)
        if code is None:
            raise Failure(
                f"cannot read the source of {runner_spec}; give the version it declares with "
                "--version"
            )
        return code
    newest = newest_code(state.engine, state.table.name)
    if newest is None:
        raise Failure(
            f"no run of table {state.table.name!r} records the code that made it; name the "
            "current code with --runner MODULE:FUNC or --version V"
        )
    return newest


def _status(group: CodeGroup) -> str:
    if group.code is None:
        return "unknown (counts as current)"
    return "current" if group.current else "stale"


def _row(group: CodeGroup) -> dict[str, Any]:
    return {
        "code": UNKNOWN if group.code is None else group.code,
        "runner": group.runner,
        "runs": group.runs,
        "blessed": group.blessed,
        "first_finished": group.first_finished,
        "last_finished": group.last_finished,
        "status": _status(group),
    }


@click.command()
@_code_options
@click.option("--all", "show_all", is_flag=True, help="List the current code's runs too.")
@click.option("--check", is_flag=True, help="Exit with status 1 when any run is stale.")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@store_options
@pass_state
def stale(
    state: StoreContext,
    runner_spec: str | None,
    version: str | None,
    show_all: bool,
    check: bool,
    fmt: str,
) -> None:
    """Count the runs made by code other than the current, grouped by what made them.

    A run's code is its runner_version when the Store declared one ("version:3"), otherwise a
    hash of the runner's source ("source:1a2b..."). Runs without recorded provenance (stored
    before entropic recorded it, or merged) are "unknown" and count as current.
    """
    current = current_code(state, runner_spec, version)
    groups = code_groups(state.engine, state.table, current)
    count = sum(g.runs for g in groups if not g.current)
    rows = [_row(g) for g in groups if show_all or not g.current]
    if fmt == "json":
        summary = {"table": state.table.name, "current": current, "stale": count, "groups": rows}
        _format.write_json_object(summary, sys.stdout)
    else:
        click.echo(f"current code: {current}", err=True)
        names = ["code", "runner", "runs", "blessed", "first_finished", "last_finished", "status"]
        _format.write_table(([r[n] for n in names] for r in rows), names, sys.stdout)
        click.echo(f"{count} stale run{'s' if count != 1 else ''}", err=True)
    if check and count:
        raise click.exceptions.Exit(1)


@click.command()
@click.option(
    "--from",
    "from_text",
    required=True,
    metavar="CODE",
    help="The code whose runs to bless: as 'stale' lists it (version:2, source:1a2b...), a "
    "version, the start of a source hash, or 'unknown'.",
)
@_code_options
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@store_options
@pass_state
def bless(
    state: StoreContext,
    from_text: str,
    runner_spec: str | None,
    version: str | None,
    yes: bool,
) -> None:
    """Mark the runs made by an older code as valid for the current one, without rerunning.

    Each blessed run keeps what made it and records the blessing (the code it came from and
    when); 'entropic show' prints it. The manifests record it too, so it survives 'ingest'.
    """
    current = current_code(state, runner_spec, version)
    try:
        from_code = prov.resolve_code(state.engine, state.table.name, from_text)
    except ValueError as exc:
        raise Failure(str(exc)) from None
    if from_code == current:
        raise Failure(f"the runs of {from_code} are already current")
    groups = code_groups(state.engine, state.table, current)
    wanted = None if from_code == UNKNOWN else from_code
    runs = sum(g.runs for g in groups if g.code == wanted)
    if not runs:
        raise Failure(f"no stored run of table {state.table.name!r} was made by {from_code}")
    if not yes:
        confirm(
            f"Bless {runs} run(s) of table {state.table.name!r} made by {from_code} as {current}?"
        )
    folder = state.results_dir
    blessed = prov.bless(
        state.engine,
        state.table,
        from_code,
        current,
        results_dir=folder if folder.is_dir() else None,
    )
    click.echo(f"blessed {blessed} run(s) made by {from_code} as {current}")


#: The commands of this module.
COMMANDS = (stale, bless)


def register(group: click.Group) -> None:
    """Add this module's commands to ``group`` (the ``entropic`` root)."""
    for command in COMMANDS:
        group.add_command(command)


#: Records whose provenance ``export --provenance`` reads in one query.
CHUNK: Final = 500

#: The provenance fields ``export --provenance`` writes as CSV columns (``provenance.<field>``).
EXPORTED: Final = (
    "origin",
    "code",
    "runner",
    "version",
    "source_hash",
    "module_hash",
    "git_commit",
    "git_dirty",
    "python",
    "entropic",
    "package",
    "package_version",
    "host",
    "user",
    "pid",
    "started_at",
    "finished_at",
    "blessed_from",
    "blessed_at",
)


def provenance_pairs(provenance: Mapping[str, Any] | None) -> list[tuple[str, Any]]:
    """``provenance.<field>`` lines for ``show``, or one line saying it is unknown."""
    if provenance is None:
        return [("provenance", "unknown (none recorded)")]
    if provenance.get("known") is False:
        pairs: list[tuple[str, Any]] = [("provenance", f"unknown ({provenance.get('note')})")]
        return pairs + [(f"provenance.{k}", v) for k, v in provenance.items() if k != "note"]
    return [(f"provenance.{k}", v) for k, v in sorted(provenance.items())]


def with_provenance(
    state: StoreContext, records: Iterable[dict[str, Any]], flat: bool
) -> Iterator[dict[str, Any]]:
    """``records`` with their provenance: one ``provenance`` object, or ``provenance.<field>``
    columns when ``flat`` (CSV); read a chunk of records at a time."""
    iterator = iter(records)
    while chunk := list(islice(iterator, CHUNK)):
        found = prov.provenance_for(state.engine, state.table.name, [r["id"] for r in chunk])
        for record in chunk:
            provenance = found.get(record["id"])
            if flat:
                for name in EXPORTED:
                    record[f"provenance.{name}"] = (
                        None if provenance is None else provenance.get(name)
                    )
            else:
                record["provenance"] = provenance
            yield record
