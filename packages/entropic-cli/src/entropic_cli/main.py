"""The ``entropic`` command: the group, its global options and every sub-command."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO, Any, Final

import click
from click.shell_completion import CompletionItem
from sqlalchemy import Engine, Table, delete, func, inspect, select

from entropic import Store, SweepError, SweepProgress, executors, reflect_model
from entropic.manifests import manifest_path
from entropic.reflection import parameter_kind, type_for_value
from entropic.schema import RESERVED_COLUMNS
from entropic_cli import _check, _format, _sweep
from entropic_cli.__about__ import __version__
from entropic_cli._errors import Failure, UsageFailure, first_line, to_click
from entropic_cli._rebuild import create_table_from_manifests
from entropic_cli._store import (
    StoreHandle,
    display_columns,
    parameter_columns,
    parse_assignment,
    where_clauses,
)

__all__ = ["cli", "main"]

#: The environment variable click's shell completion listens to.
COMPLETE_VAR: Final = "_ENTROPIC_COMPLETE"
#: Rows deleted per statement by ``rm``.
DELETE_CHUNK: Final = 500

_TABLE_FORMATS = click.Choice(["table", "json"])


class EntropicGroup(click.Group):
    """A group that reports every failure of its commands as one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; turn exceptions into :class:`click.ClickException`."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, UsageFailure):
            raise
        except BrokenPipeError:  # the reader went away (`entropic ls | head`): stop quietly
            with suppress(OSError, ValueError, AttributeError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise click.exceptions.Exit(1) from None
        except click.UsageError as exc:  # one line, with a pointer to the help
            where = exc.ctx.command_path if exc.ctx is not None else "entropic"
            raise UsageFailure(f"{exc.format_message()} (see '{where} --help')") from exc
        except Exception as exc:
            handle = ctx.obj if isinstance(ctx.obj, StoreHandle) else None
            raise to_click(exc, handle.secrets if handle else ()) from exc


class _EchoHandler(logging.Handler):
    """Shows entropic's warnings (a skipped manifest, a fallback) on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"{record.levelname.lower()}: {record.getMessage()}", err=True)


def _show_warnings(ctx: click.Context) -> None:
    logger = logging.getLogger("entropic")
    handler = _EchoHandler(logging.WARNING)
    logger.addHandler(handler)
    ctx.call_on_close(lambda: logger.removeHandler(handler))


def _handle_from(ctx: click.Context) -> StoreHandle:
    """The store the global options point at (also during shell completion)."""
    root = ctx.find_root()
    if isinstance(root.obj, StoreHandle):
        return root.obj
    params = root.params
    return StoreHandle(
        params.get("db") or os.environ.get("ENTROPIC_DB_URL") or "sqlite:///db.sqlite3",
        Path(params.get("results_dir") or os.environ.get("ENTROPIC_RESULTS_DIR") or "results"),
        params.get("table") or os.environ.get("ENTROPIC_TABLE") or None,
    )


def _complete_table(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    try:
        handle = _handle_from(ctx)
        return [name for name in handle.tables() if name.startswith(incomplete)]
    except Exception:  # completion must never fail loudly
        return []


def _complete_id(
    ctx: click.Context, _param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    try:
        handle = _handle_from(ctx)
        table = handle.table
        query = (
            select(table.c.id)
            .where(table.c.id.startswith(incomplete, autoescape=True))
            .order_by(table.c.id)
            .limit(100)
        )
        with handle.engine.connect() as conn:
            return [CompletionItem(str(i)) for i in conn.scalars(query)]
    except Exception:  # completion must never fail loudly
        return []


@click.group(
    name="entropic",
    cls=EntropicGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--db",
    "db",
    metavar="URL",
    envvar="ENTROPIC_DB_URL",
    default="sqlite:///db.sqlite3",
    show_default=True,
    show_envvar=True,
    help="SQLAlchemy URL of the store's database.",
)
@click.option(
    "--results-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="ENTROPIC_RESULTS_DIR",
    default="./results",
    show_default=True,
    show_envvar=True,
    help="The store's results directory.",
)
@click.option(
    "--table",
    metavar="NAME",
    envvar="ENTROPIC_TABLE",
    default=None,
    show_envvar=True,
    shell_complete=_complete_table,
    help="The entropic table to work on [default: the only one in the database].",
)
@click.version_option(
    __version__, "-V", "--version", prog_name="entropic", message="%(prog)s %(version)s"
)
@click.pass_context
def cli(ctx: click.Context, db: str, results_dir: Path, table: str | None) -> None:
    """Look after entropic stores: inspect, check, repair, clean up, export and sweep.

    Works on any entropic store without the model's code: the table is read from the database
    and recognised by entropic's reserved columns (id, result_file, created_at, custom_data).
    """
    handle = StoreHandle(db, results_dir.expanduser().resolve(), table or None)
    ctx.obj = handle
    ctx.call_on_close(handle.close)
    _show_warnings(ctx)


def main() -> None:
    """Run the ``entropic`` command (the console script's entry point)."""
    cli.main(prog_name="entropic", complete_var=COMPLETE_VAR)


pass_store = click.make_pass_decorator(StoreHandle)


# ---------------------------------------------------------------------------- helpers


def _need_results_dir(store: StoreHandle) -> Path:
    if not store.results_dir.is_dir():
        raise Failure(f"no results directory at {store.results_dir}")
    return store.results_dir


def _records(rows: Any, names: Sequence[str]) -> Iterator[dict[str, Any]]:
    for row in rows:
        mapping = row._mapping
        yield {name: mapping[name] for name in names}


def _for_table(record: dict[str, Any], store: StoreHandle) -> dict[str, Any]:
    """A record for the text table: result files inside the results directory by name."""
    path = Path(record["result_file"])
    with suppress(ValueError):
        record["result_file"] = str(path.relative_to(store.results_dir.resolve()))
    return record


def _file_facts(store: StoreHandle, stored: str) -> tuple[bool, int | None]:
    path = store.result_path(stored)
    try:
        return True, path.stat().st_size
    except (FileNotFoundError, NotADirectoryError):
        return False, None


def _bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


@contextmanager
def _output(path: Path | None) -> Iterator[IO[str]]:
    """Standard output, or ``path`` written through a temporary file and renamed at the end."""
    if path is None:
        yield sys.stdout
        return
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            yield out
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------- info


def _column_type(column: Any, engine: Engine) -> str:
    try:
        return str(column.type.compile(dialect=engine.dialect))
    except Exception:  # a type the dialect cannot spell: its class name will do
        return type(column.type).__name__


def _column_kind(column: Any) -> tuple[str, list[Any] | None]:
    """What a parameter holds, as the Store records it, and an enum's values."""
    kind = parameter_kind(column)
    if kind == "enum":
        return kind, [member.value for member in column.type.enum_class]
    return kind, None


@cli.command()
@click.option("--format", "fmt", type=_TABLE_FORMATS, default="table", show_default=True)
@pass_store
def info(store: StoreHandle, fmt: str) -> None:
    """Rows, columns and types, time span, disk used, hash scheme and versions."""
    table = store.table
    engine = store.engine
    with engine.connect() as conn:
        count, first, last = conn.execute(
            select(func.count(), func.min(table.c.created_at), func.max(table.c.created_at))
        ).one()
        used = files = missing = 0
        query = select(table.c.result_file)
        for (stored,) in conn.execution_options(yield_per=1000).execute(query):
            exists, size = _file_facts(store, stored)
            if exists:
                files += 1
                used += size or 0
            else:
                missing += 1
    facts = store.facts()
    columns = []
    for column in (table.c[name] for name in display_columns(table)):
        kind, values = _column_kind(column)
        entry = {
            "name": column.name,
            "type": _column_type(column, engine),
            "kind": kind,
            "nullable": bool(column.nullable),
            "reserved": column.name in RESERVED_COLUMNS,
        }
        if values is not None:
            entry["values"] = values
        columns.append(entry)
    summary = {
        "database": store.shown_url,
        "table": table.name,
        "results_dir": str(store.results_dir.resolve()),
        "rows": int(count),
        "first_created_at": first,
        "last_created_at": last,
        "disk_used_bytes": used,
        "result_files": files,
        "missing_files": missing,
        "hash_scheme": facts.get("hash_scheme"),
        "created_by": facts.get("created_by"),
        "versions": {
            "entropic-core": _version("entropic-core"),
            "entropic-cli": _version("entropic-cli"),
        },
        "columns": columns,
    }
    out = sys.stdout
    if fmt == "json":
        _format.write_json_object(summary, out)
        return
    span = "-" if first is None else f"{first.isoformat()} .. {last.isoformat()}"
    disk = f"{_bytes(used)} in {files} result files"
    if missing:
        disk += f" ({missing} missing)"
    versions = ", ".join(f"{k} {v}" for k, v in summary["versions"].items())
    _format.write_pairs(
        [
            ("database", summary["database"]),
            ("table", table.name),
            ("results dir", summary["results_dir"]),
            ("rows", count),
            ("created", span),
            ("disk used", disk),
            ("hash scheme", facts.get("hash_scheme", "not recorded")),
            ("created by", facts.get("created_by", "not recorded")),
            ("versions", versions),
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


def _kind_text(column: dict[str, Any]) -> str:
    values = column.get("values")
    if values is None:
        return str(column["kind"])
    return f"enum of {', '.join(map(str, values))}"


# ---------------------------------------------------------------------------- ls / show


def _order(table: Table, sort: str | None) -> list[Any]:
    if sort is None:
        return [table.c.created_at, table.c.id]
    descending = sort.startswith("-")
    name = sort.removeprefix("-")
    if name not in table.c:
        raise UsageFailure(
            f"unknown column {name!r} for --sort; columns: {', '.join(display_columns(table))}"
        )
    column = table.c[name]
    return [column.desc() if descending else column.asc(), table.c.id]


@cli.command(name="ls")
@click.option(
    "--where",
    "where",
    multiple=True,
    metavar="KEY=VALUE",
    help="Only rows whose column KEY equals VALUE (converted to the column's type). Repeatable.",
)
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
@pass_store
def ls_command(
    store: StoreHandle, where: tuple[str, ...], limit: int | None, sort: str | None, fmt: str
) -> None:
    """List the stored runs."""
    table = store.table
    names = display_columns(table)
    query = select(*(table.c[n] for n in names)).where(*where_clauses(table, where))
    query = query.order_by(*_order(table, sort))
    if limit is not None:
        query = query.limit(limit)
    out = sys.stdout
    with store.engine.connect() as conn:
        records = _records(conn.execution_options(yield_per=1000).execute(query), names)
        if fmt == "json":
            _format.write_json(records, out)
        elif fmt == "csv":
            _format.write_csv(records, names, out)
        else:
            rows = ([r[n] for n in names] for r in (_for_table(r, store) for r in records))
            count = _format.write_table(rows, names, out)
            click.echo(f"{count} row{'s' if count != 1 else ''}", err=True)


@cli.command()
@click.argument("run_id", metavar="ID", shell_complete=_complete_id)
@click.option("--format", "fmt", type=_TABLE_FORMATS, default="table", show_default=True)
@pass_store
def show(store: StoreHandle, run_id: str, fmt: str) -> None:
    """Show one run, with its file's size and whether it exists."""
    table = store.table
    names = display_columns(table)
    with store.engine.connect() as conn:
        row = conn.execute(
            select(*(table.c[n] for n in names)).where(table.c.id == run_id)
        ).one_or_none()
    if row is None:
        raise Failure(f"no run with id {run_id!r} in table {table.name!r}")
    record = {name: row._mapping[name] for name in names}
    exists, size = _file_facts(store, record["result_file"])
    record["file_exists"] = exists
    record["file_size"] = size
    record["manifest_exists"] = manifest_path(store.results_dir, run_id).is_file()
    out = sys.stdout
    if fmt == "json":
        _format.write_json_object(record, out)
    else:
        _format.write_pairs(record.items(), out)


# ---------------------------------------------------------------------------- rm


@cli.command()
@click.argument("run_ids", metavar="[ID]...", nargs=-1, shell_complete=_complete_id)
@click.option(
    "--where",
    "where",
    multiple=True,
    metavar="KEY=VALUE",
    help="Also remove the rows whose column KEY equals VALUE. Repeatable (all must hold).",
)
@click.option("--remove-file", is_flag=True, help="Also delete the runs' result files.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_store
def rm(
    store: StoreHandle,
    run_ids: tuple[str, ...],
    where: tuple[str, ...],
    remove_file: bool,
    yes: bool,
) -> None:
    """Remove runs: their rows and manifests (and their files with --remove-file)."""
    if not run_ids and not where:
        raise UsageFailure("give the ids of the runs to remove, or --where KEY=VALUE")
    table = store.table
    targets: dict[str, str] = {}
    with store.engine.connect() as conn:
        wanted = list(dict.fromkeys(run_ids))
        for start in range(0, len(wanted), DELETE_CHUNK):
            chunk = wanted[start : start + DELETE_CHUNK]
            query = select(table.c.id, table.c.result_file).where(table.c.id.in_(chunk))
            targets.update({str(i): str(f) for i, f in conn.execute(query)})
        unknown = [i for i in wanted if i not in targets]
        if unknown:
            shown = ", ".join(map(repr, unknown[:5])) + (" ..." if len(unknown) > 5 else "")
            raise Failure(f"no run with id {shown} in table {table.name!r}; nothing removed")
        if where:
            query = select(table.c.id, table.c.result_file).where(*where_clauses(table, where))
            targets.update({str(i): str(f) for i, f in conn.execute(query)})
    if not targets:
        click.echo("no run matches; nothing removed", err=True)
        return
    what = "rows, manifests and result files" if remove_file else "rows and manifests"
    if not yes:
        click.confirm(
            f"Remove {len(targets)} run(s) from table {table.name!r} ({what})?", abort=True
        )
    ids = list(targets)
    files = 0
    for start in range(0, len(ids), DELETE_CHUNK):
        chunk = ids[start : start + DELETE_CHUNK]
        # the manifest first: a manifest without a row would bring the run back on ingest
        for run_id in chunk:
            manifest_path(store.results_dir, run_id).unlink(missing_ok=True)
        with store.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.id.in_(chunk)))
        if remove_file:
            for run_id in chunk:
                path = store.result_path(targets[run_id])
                if path.is_file():
                    path.unlink()
                    files += 1
    message = f"removed {len(ids)} run(s)"
    if remove_file:
        message += f" and {files} result file(s)"
    click.echo(message)


# ---------------------------------------------------------------------------- verify / gc


def _shown(path: Path, store: StoreHandle) -> str:
    """A path as the text output shows it: relative to the results directory when inside."""
    try:
        return str(path.relative_to(store.results_dir))
    except ValueError:
        return str(path)


def _problem_record(problem: _check.Problem) -> dict[str, Any]:
    return {
        "problem": problem.kind,
        "id": problem.id,
        "path": str(problem.path),
        "size": problem.size,
        "removable": problem.removable,
        "description": _check.KINDS[problem.kind][0],
    }


@cli.command()
@click.option("--format", "fmt", type=_TABLE_FORMATS, default="table", show_default=True)
@pass_store
@click.pass_context
def verify(ctx: click.Context, store: StoreHandle, fmt: str) -> None:
    """Check rows against files; exit with status 1 if anything is wrong.

    Reports rows whose result file is missing or empty, result files and manifests without
    rows, and leftover temporary files of interrupted runs.
    """
    _need_results_dir(store)
    problems, rows = _check.find_problems(store)
    out = sys.stdout
    if fmt == "json":
        _format.write_json([_problem_record(p) for p in problems], out)
    elif problems:
        _format.write_table(
            [(p.kind, p.id or "", _shown(p.path, store), p.size) for p in problems],
            ["problem", "id", "path", "size"],
            out,
            limit=None,
        )
    if not problems:
        if fmt != "json":
            click.echo(f"ok: {rows} rows checked, no problems")
        return
    counts = {kind: sum(p.kind == kind for p in problems) for kind in _check.KINDS}
    detail = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
    click.echo(f"{len(problems)} problem(s) in {rows} rows: {detail}", err=True)
    ctx.exit(1)


@cli.command()
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_store
def gc(store: StoreHandle, dry_run: bool, yes: bool) -> None:
    """Remove the orphaned files, stale manifests and leftovers that verify reports.

    Rows are never removed (use rm), and manifests whose result file exists are kept for
    ingest.
    """
    _need_results_dir(store)
    problems, _rows = _check.find_problems(store)
    doomed = [p for p in problems if p.removable]
    kept = [p for p in problems if p.kind == "unindexed-manifest"]
    total = sum(p.size or 0 for p in doomed)
    for problem in doomed:
        prefix = "would remove" if dry_run else "remove"
        click.echo(f"{prefix} {_shown(problem.path, store)} ({problem.kind})")
    if kept:
        click.echo(
            f"keeping {len(kept)} manifest(s) whose result file exists: "
            "run 'entropic ingest' to index them",
            err=True,
        )
    if not doomed:
        click.echo("nothing to remove")
        return
    if dry_run:
        click.echo(f"{len(doomed)} item(s), {_bytes(total)} would be freed")
        return
    if not yes:
        click.confirm(f"Remove {len(doomed)} item(s) ({_bytes(total)})?", abort=True)
    freed = sum(_check.remove(p) for p in doomed)
    click.echo(f"removed {len(doomed)} item(s), freed {_bytes(freed)}")


# ---------------------------------------------------------------------------- ingest


def _no_runner(params: dict[str, Any]) -> None:
    raise RuntimeError("entropic ingest does not run anything")


@cli.command()
@click.option(
    "--model",
    "model_spec",
    metavar="MODULE:CLASS",
    default=None,
    help="The model, when its table must be created (a rebuilt database).",
)
@pass_store
def ingest(store: StoreHandle, model_spec: str | None) -> None:
    """Index the manifests in the results directory that have no row.

    Rebuilds a lost database, or indexes results that were written elsewhere. Manifests whose
    result file is missing, or whose parameters do not fit the table, are skipped with a warning.

    When the table does not exist, name it with --table: it is created from the model given
    with --model, or else with column types guessed from the manifests' values.
    """
    results_dir = _need_results_dir(store)
    store.create = model_spec is not None or store.table_name is not None
    model = _ingest_model(store, model_spec)
    with Store(_no_runner, model, results_dir=results_dir, db_url=store.url) as target:
        added = target.ingest()
    click.echo(f"indexed {added} run(s) into table {store.table_name or store.table.name!r}")


def _ingest_model(store: StoreHandle, model_spec: str | None) -> Any:
    """The model ingest fills: the given one, the table's, or a table made from manifests."""
    if model_spec is not None:
        model = _sweep.load_model(model_spec)
        own = str(getattr(model.__table__, "name", ""))
        if store.table_name is not None and store.table_name != own:
            raise UsageFailure(
                f"--table {store.table_name!r} does not match the model's table {own!r}"
            )
        return model
    found = store.tables()
    name = store.table_name
    if name is None and not found:
        raise Failure(
            f"no entropic table in {store.shown_url}: to rebuild one from the manifests, "
            "name it with --table NAME (or give the model with --model MODULE:CLASS)"
        )
    if name is None or name in found or inspect(store.engine).has_table(name):
        return store.model  # the usual checks and messages
    table = create_table_from_manifests(store.engine, store.results_dir, name)
    click.echo(
        f"created table {name!r} with parameter columns guessed from the manifests: "
        + ", ".join(f"{c.name} {_column_type(c, store.engine)}" for c in parameter_columns(table)),
        err=True,
    )
    return reflect_model(store.engine, name)


# ---------------------------------------------------------------------------- export


@cli.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json", "jsonl"]),
    default="csv",
    show_default=True,
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write to FILE instead of standard output (replaced only once complete).",
)
@click.option("--where", "where", multiple=True, metavar="KEY=VALUE", help="As for ls.")
@pass_store
def export(store: StoreHandle, fmt: str, output: Path | None, where: tuple[str, ...]) -> None:
    """Export every row (or those matching --where) for analysis."""
    table = store.table
    names = display_columns(table)
    query = select(*(table.c[n] for n in names)).where(*where_clauses(table, where))
    query = query.order_by(table.c.id)
    with store.engine.connect() as conn, _output(output) as out:
        records = _records(conn.execution_options(yield_per=1000).execute(query), names)
        if fmt == "json":
            count = _format.write_json(records, out)
        elif fmt == "jsonl":
            count = _format.write_jsonl(records, out)
        else:
            count = _format.write_csv(records, names, out)
    if output is not None:
        click.echo(f"exported {count} row(s) to {output}", err=True)


# ---------------------------------------------------------------------------- sweep


@cli.command()
@click.argument("runner_spec", metavar="RUNNER")
@click.argument("model_spec", metavar="MODEL")
@click.option(
    "--grid",
    "grid",
    multiple=True,
    metavar="KEY=V1,V2,...",
    help="A parameter and its values (each parsed as int, float, true/false, else string). "
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
    default=".h5",
    show_default=True,
    help="Appended to each run's id to name its result file.",
)
@click.option(
    "--scheduler-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=_sweep.SCHEDULER_TIMEOUT,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for the Dask scheduler to answer.",
)
@click.option("--dry-run", is_flag=True, help="Only count the cached runs and those to run.")
@click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Show a progress bar."
)
@pass_store
def sweep(
    store: StoreHandle,
    runner_spec: str,
    model_spec: str,
    grid: tuple[str, ...],
    params_file: Path | None,
    executor: str | None,
    scheduler: str | None,
    file_suffix: str,
    scheduler_timeout: float,
    dry_run: bool,
    progress: bool,
) -> None:
    """Run every parameter set that is not stored yet.

    RUNNER and MODEL are given as module:attribute (the working directory is importable), e.g.
    'entropic sweep mysim:run mysim:Result --grid n=10,20 --grid dt=0.1,0.01'.
    """
    runner = _sweep.load_runner(runner_spec)
    model = _sweep.load_model(model_spec)
    table_name = str(getattr(model.__table__, "name", ""))
    if store.table_name is not None and store.table_name != table_name:
        raise UsageFailure(
            f"--table {store.table_name!r} does not match the model's table {table_name!r}"
        )
    base = _sweep.read_params_file(params_file) if params_file is not None else None
    sets = _sweep.parameter_sets(_sweep.parse_grid(grid), base)
    if executor is not None:
        executors.load(executor)  # an unknown name fails before anything else happens
    if dry_run:
        _dry_run(store, runner, model, sets, file_suffix)
        return
    client = (
        _sweep.connect_scheduler(scheduler, scheduler_timeout) if scheduler is not None else None
    )
    last: list[SweepProgress] = []
    try:
        with Store(
            runner, model, results_dir=store.results_dir, file_suffix=file_suffix, db_url=store.url
        ) as target:
            try:
                records = target.sweep(
                    sets,
                    client=client,
                    executor=executor,
                    progress=progress,
                    callback=last.append,
                )
            except SweepError as exc:
                for failure in exc.failures:
                    error = failure.error
                    click.echo(
                        f"run {failure.id} failed: {type(error).__name__}: "
                        f"{first_line(str(error))}",
                        err=True,
                    )
                cached = last[-1].hits if last else 0
                ran = len(exc.records) - cached
                raise Failure(
                    f"{len(exc.failures)} of {ran} runs failed ({ran - len(exc.failures)} stored)"
                ) from None
    finally:
        if client is not None:
            client.close()
    hits = last[-1].hits if last else len(records)
    click.echo(f"{len(records)} parameter set(s): {hits} cached, {len(records) - hits} ran")


def _dry_run(
    store: StoreHandle, runner: Any, model: Any, sets: list[dict[str, Any]], suffix: str
) -> None:
    """Count without creating anything: a missing SQLite file means nothing is cached."""
    missing_db = store.url.get_backend_name() == "sqlite" and not _sqlite_exists(store)
    with tempfile.TemporaryDirectory(prefix="entropic-dry-run-") as scratch:
        results_dir = Path(scratch) if missing_db else store.results_dir
        db_url: Any = "sqlite://" if missing_db else store.url
        with Store(
            runner, model, results_dir=results_dir, file_suffix=suffix, db_url=db_url
        ) as target:
            cached, to_run = _sweep.count_cached(target, sets)
    click.echo(f"{cached + to_run} parameter set(s): {cached} cached, {to_run} would run")


def _sqlite_exists(store: StoreHandle) -> bool:
    database = store.url.database
    if database in (None, "", ":memory:") or database.startswith("file:"):
        return True
    return Path(database).is_file()


# ---------------------------------------------------------------------------- evolving a store


def _file_suffix(store: StoreHandle) -> str:
    """The suffix the table's result files were named with (``<id><suffix>``)."""
    table = store.table
    with store.engine.connect() as conn:
        row = conn.execute(select(table.c.id, table.c.result_file).limit(1)).first()
    if row is None:
        return ""
    name = Path(row[1]).name
    return name[len(row[0]) :] if name.startswith(row[0]) else Path(name).suffix


def _open_store(store: StoreHandle, model: Any, suffix: str | None) -> Store[Any]:
    results_dir = _need_results_dir(store)
    chosen = _file_suffix(store) if suffix is None else suffix
    return Store(_no_runner, model, results_dir=results_dir, file_suffix=chosen, db_url=store.url)


@cli.group()
def migrate() -> None:
    """Change a store's schema in place."""


@migrate.command(name="add-param")
@click.argument("assignment", metavar="NAME=VALUE")
@click.option(
    "--file-suffix",
    default=None,
    help="Suffix of the result files (default: read from the stored file names).",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_store
def add_param(store: StoreHandle, assignment: str, file_suffix: str | None, yes: bool) -> None:
    """Add the parameter NAME to every run, with VALUE as the value the old runs had.

    Adds the column, sets it to VALUE on the old rows and re-keys them as if VALUE had always
    been given: ids, result files and manifests are renamed, and entropic_id_map records each old
    id with its new one. VALUE is read as an int, a float, true/false, else a string. Killed at
    any point, the same command again completes the work.
    """
    name, text = parse_assignment(assignment, "NAME=VALUE")
    value = _sweep.parse_scalar(text)
    table = store.table
    if name in table.c and not any(
        key.startswith("migrating:") for key in _meta_keys(store, table.name)
    ):
        raise Failure(f"table {table.name!r} already has a column {name!r}")
    extra = {} if name in table.c else {name: type_for_value(value)}
    model = reflect_model(store.engine, table.name, extra_columns=extra)
    if not yes:
        click.confirm(
            f"Add parameter {name}={value!r} to every run of {table.name!r} and re-key them?",
            abort=True,
        )
    with _open_store(store, model, file_suffix) as target:
        rekeyed = target.add_parameter(name, value)
    click.echo(f"added {name}={value!r} to {table.name!r}; re-keyed {rekeyed} run(s)")


def _meta_keys(store: StoreHandle, table_name: str) -> list[str]:
    from entropic._db import read_meta

    if not inspect(store.engine).has_table("entropic_meta"):
        return []
    with store.engine.connect() as conn:
        return list(read_meta(conn, table_name))


@cli.command()
@click.argument("other_db", metavar="OTHER_DB_URL")
@click.argument("other_results", metavar="OTHER_RESULTS_DIR", type=click.Path(path_type=Path))
@click.option("--file-suffix", default=None, help="Suffix of the result files.")
@pass_store
def merge(store: StoreHandle, other_db: str, other_results: Path, file_suffix: str | None) -> None:
    """Copy the runs another store has and this one lacks (rows, files and manifests).

    File sizes are checked after copying. A run both stores have with different parameters is
    reported and never overwritten; the exit code is then 1.
    """
    with _open_store(store, store.model, file_suffix) as target:
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


@cli.command()
@click.argument("old_prefix")
@click.argument("new_prefix")
@pass_store
def relocate(store: StoreHandle, old_prefix: str, new_prefix: str) -> None:
    """Rewrite result_file paths that start with OLD_PREFIX to start with NEW_PREFIX.

    Use it after moving a results directory.
    """
    with _open_store(store, store.model, None) as target:
        changed = target.relocate(old_prefix, new_prefix)
    click.echo(f"rewrote {changed} path(s)")


# ---------------------------------------------------------------------------- executors


@cli.command(name="executors")
@click.option("--format", "fmt", type=_TABLE_FORMATS, default="table", show_default=True)
def executors_command(fmt: str) -> None:
    """List the registered executors and the package each comes from."""
    found = executors.registry()
    out = sys.stdout
    if fmt == "json":
        _format.write_json(({"name": k, "package": v} for k, v in found.items()), out)
    else:
        _format.write_table(list(found.items()), ["name", "package"], out)


if __name__ == "__main__":  # pragma: no cover
    main()
