"""Looking at a store: ``info``, ``ls``, ``show`` and ``export``."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import click

from entropic.inspection import (
    Condition,
    claims_in_flight,
    column_info,
    display_columns,
    ids_with_prefix,
    select_records,
    table_summary,
)
from entropic.manifests import manifest_path
from entropic.provenance import provenance_of
from entropic_cli import _format
from entropic_cli._completion import complete_id
from entropic_cli._context import StoreContext, pass_state
from entropic_cli._errors import Failure, UsageFailure
from entropic_cli._options import FORMATS, parse_conditions, store_options
from entropic_cli._output import human_bytes, output, relative
from entropic_cli.commands.provenance import EXPORTED, provenance_pairs, with_provenance

__all__ = ["export", "info", "ls", "show"]

#: Candidates an ambiguous id prefix lists.
SHOWN_CANDIDATES = 10


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


def _file_facts(state: StoreContext, stored: str) -> tuple[bool, int | None]:
    try:
        return True, state.result_path(stored).stat().st_size
    except (FileNotFoundError, NotADirectoryError):
        return False, None


def _disk(state: StoreContext) -> tuple[int, int, int]:
    """Bytes used, result files present and result files missing."""
    used = files = missing = 0
    for row in select_records(state.engine, state.table, columns=["result_file"], order_by=[]):
        exists, size = _file_facts(state, row["result_file"])
        if exists:
            files += 1
            used += size or 0
        else:
            missing += 1
    return used, files, missing


def _kind_text(column: dict[str, Any]) -> str:
    values = column.get("values")
    if values is None:
        return str(column["kind"])
    return f"enum of {', '.join(map(str, values))}"


@click.command()
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@store_options
@pass_state
def info(state: StoreContext, fmt: str) -> None:
    """Rows, columns and types, time span, disk used, hash scheme and versions."""
    table = state.table
    summary_of = table_summary(state.engine, table)
    used, files, missing = _disk(state)
    facts = state.facts()
    columns = []
    for column in column_info(state.engine, table):
        entry: dict[str, Any] = {
            "name": column.name,
            "type": column.type,
            "kind": column.kind,
            "nullable": column.nullable,
            "reserved": column.reserved,
        }
        if column.values is not None:
            entry["values"] = column.values
        columns.append(entry)
    first, last = summary_of.first_created_at, summary_of.last_created_at
    versions = {
        "entropic-core": _version("entropic-core"),
        "entropic-cli": _version("entropic-cli"),
    }
    summary: dict[str, Any] = {
        "database": state.shown_url,
        "table": table.name,
        "results_dir": str(state.results_dir),
        "file_suffix": facts.get("file_suffix"),
        "rows": summary_of.rows,
        "first_created_at": first,
        "last_created_at": last,
        "disk_used_bytes": used,
        "result_files": files,
        "missing_files": missing,
        "runs_in_flight": len(claims_in_flight(state.engine, table.name)),
        "hash_scheme": facts.get("hash_scheme"),
        "created_by": facts.get("created_by"),
        "versions": versions,
        "columns": columns,
    }
    out = sys.stdout
    if fmt == "json":
        _format.write_json_object(summary, out)
        return
    span = "-" if first is None or last is None else f"{first.isoformat()} .. {last.isoformat()}"
    disk = f"{human_bytes(used)} in {files} result files"
    if missing:
        disk += f" ({missing} missing)"
    versions_text = ", ".join(f"{k} {v}" for k, v in versions.items())
    _format.write_pairs(
        [
            ("database", summary["database"]),
            ("table", table.name),
            ("results dir", summary["results_dir"]),
            ("rows", summary_of.rows),
            ("created", span),
            ("disk used", disk),
            ("in flight", summary["runs_in_flight"]),
            ("hash scheme", facts.get("hash_scheme", "not recorded")),
            ("created by", facts.get("created_by", "not recorded")),
            ("versions", versions_text),
        ],
        out,
    )
    out.write("columns:\n")
    _format.write_table(
        [
            (
                c["name"],
                c["type"],
                _kind_text(c),
                "yes" if c["nullable"] else "no",
                "yes" if c["reserved"] else "",
            )
            for c in columns
        ],
        ["name", "type", "kind", "nullable", "reserved"],
        out,
    )


def _order(state: StoreContext, sort: str | None) -> list[tuple[str, bool]] | None:
    if sort is None:
        return None
    name = sort.removeprefix("-")
    if name not in state.table.c:
        columns = ", ".join(display_columns(state.table))
        raise UsageFailure(f"unknown column {name!r} for --sort; columns: {columns}")
    return [(name, sort.startswith("-"))]


WHERE_HELP = (
    "Only rows whose column KEY compares so with VALUE (converted to the column's type): "
    "KEY=VALUE, KEY!=VALUE, KEY<VALUE, KEY<=VALUE, KEY>VALUE, KEY>=VALUE. Repeatable (all hold)."
)


def _for_table(records: Iterable[dict[str, Any]], folder: Path) -> Iterator[dict[str, Any]]:
    """Records for the text table: result files inside the results directory by name."""
    for record in records:
        record["result_file"] = relative(Path(record["result_file"]), folder)
        yield record


@click.command(name="ls")
@click.option("--where", "where", multiple=True, metavar="KEY=VALUE", help=WHERE_HELP)
@click.option("--limit", type=click.IntRange(min=0), default=None, help="At most N rows.")
@click.option(
    "--sort",
    metavar="COLUMN",
    default=None,
    help="Sort by COLUMN (prefix '-' for descending) [default: created_at].",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
@store_options
@pass_state
def ls(
    state: StoreContext, where: tuple[str, ...], limit: int | None, sort: str | None, fmt: str
) -> None:
    """List the stored runs."""
    table = state.table
    names = display_columns(table)
    conditions = parse_conditions(table, where)
    order = _order(state, sort)
    records = select_records(state.engine, table, conditions, order_by=order, limit=limit)
    out = sys.stdout
    if fmt == "json":
        _format.write_json(records, out)
    elif fmt == "csv":
        _format.write_csv(records, names, out)
    else:
        shown = _for_table(records, state.results_dir)
        count = _format.write_table(([r[n] for n in names] for r in shown), names, out)
        click.echo(f"{count} row{'s' if count != 1 else ''}", err=True)


def resolve_id(state: StoreContext, text: str) -> str:
    """The stored id ``text`` names: itself, or the one id it is a prefix of (as git does).

    Raises:
        Failure: No id starts with ``text``, or several do.
    """
    found = ids_with_prefix(state.engine, state.table, text, limit=SHOWN_CANDIDATES + 1)
    if text in found:
        return text
    if len(found) == 1:
        return found[0]
    table = state.table.name
    if not found:
        raise Failure(f"no run with id {text!r} in table {table!r}")
    listed = ", ".join(found[:SHOWN_CANDIDATES]) + (" ..." if len(found) > SHOWN_CANDIDATES else "")
    raise Failure(f"id prefix {text!r} is ambiguous in table {table!r}: it could be {listed}")


@click.command()
@click.argument("run_id", metavar="ID", shell_complete=complete_id)
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@store_options
@pass_state
def show(state: StoreContext, run_id: str, fmt: str) -> None:
    """Show one run, with its file's size and whether it exists.

    ID may be the start of an id, as long as only one id starts so.
    """
    full = resolve_id(state, run_id)
    table = state.table
    rows = select_records(state.engine, table, [Condition("id", "=", full)], order_by=[])
    record = next(rows, None)
    if record is None:  # removed since the prefix was looked up
        raise Failure(f"no run with id {run_id!r} in table {table.name!r}")
    exists, size = _file_facts(state, record["result_file"])
    record["file_exists"] = exists
    record["file_size"] = size
    record["manifest_exists"] = manifest_path(state.results_dir, full).is_file()
    found = provenance_of(state.engine, table.name, full)
    if fmt == "json":
        _format.write_json_object({**record, "provenance": found}, sys.stdout)
    else:
        _format.write_pairs(record.items(), sys.stdout)
        _format.write_pairs(provenance_pairs(found), sys.stdout)  # aligned on their own


@click.command()
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json", "jsonl"]), default="csv", show_default=True
)
@click.option(
    "-o",
    "--output",
    "target",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write to FILE instead of standard output (replaced only once complete).",
)
@click.option("--where", "where", multiple=True, metavar="KEY=VALUE", help="As for ls.")
@click.option(
    "--provenance",
    "with_prov",
    is_flag=True,
    help="Include what made each run: a 'provenance' object in JSON, 'provenance.*' columns "
    "in CSV (empty when unknown).",
)
@store_options
@pass_state
def export(
    state: StoreContext, fmt: str, target: Path | None, where: tuple[str, ...], with_prov: bool
) -> None:
    """Export every row (or those matching --where) for analysis."""
    table = state.table
    names = display_columns(table)
    conditions = parse_conditions(table, where)
    records = select_records(state.engine, table, conditions, order_by=[])
    if with_prov:
        records = with_provenance(state, records, flat=fmt == "csv")
        names += [f"provenance.{n}" for n in EXPORTED]
    with output(target) as out:
        if fmt == "json":
            count = _format.write_json(records, out)
        elif fmt == "jsonl":
            count = _format.write_jsonl(records, out)
        else:
            count = _format.write_csv(records, names, out)
    if target is not None:
        click.echo(f"exported {count} row(s) to {target}", err=True)
