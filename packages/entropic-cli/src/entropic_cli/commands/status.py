"""Watching a store: ``status`` (what is stored, running, failed, sweeping) and ``coverage``."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from typing import IO, Any

import click

from entropic.coverage import Coverage, coverage
from entropic.status import StoreStatus, SweepStatus, TableStatus, read_status
from entropic_cli import _format
from entropic_cli._context import StoreContext, pass_state
from entropic_cli._errors import UsageFailure
from entropic_cli._options import store_options

__all__ = ["coverage_command", "register", "render_coverage", "render_status", "status"]

#: Clear the terminal and put the cursor top left (ANSI), for ``--watch``.
_REDRAW = "\x1b[H\x1b[2J"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:02.0f} s"
    return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:02.0f} min"


def _when(moment: dt.datetime | None, now: dt.datetime) -> str:
    if moment is None:
        return "-"
    return f"{_duration((now - moment).total_seconds())} ago"


def _sweep_row(sweep: SweepStatus, now: dt.datetime) -> list[str]:
    rate = "-" if sweep.rate is None else f"{sweep.rate:.1f}/s"
    return [
        sweep.id[:8],
        sweep.state,
        f"{sweep.done}/{sweep.total}",
        str(sweep.failed),
        rate,
        _duration(sweep.eta_seconds) if sweep.live else "-",
        f"{sweep.host}:{sweep.pid}",
        sweep.executor,
        _when(sweep.started_at, now),
        _when(sweep.heartbeat_at, now),
    ]


def _table_text(table: TableStatus, now: dt.datetime, out: IO[str]) -> None:
    out.write(
        f"table {table.table}: {table.stored} stored, {table.running} running, "
        f"{table.failed} failed\n"
    )
    if table.in_progress:
        out.write("runs in progress:\n")
        rows = [
            [
                f"  {p.owner}",
                p.runs,
                _duration(p.age_seconds),
                (p.sweep_id or "-")[:8],
                p.expires_at.isoformat(timespec="seconds"),
            ]
            for p in table.in_progress
        ]
        _format.write_table(rows, ["  owner", "runs", "age", "sweep", "claims until"], out)
    if table.failures:
        out.write("failures by type:\n")
        _format.write_table(
            [[f"  {t}", n] for t, n in table.failures.items()], ["  type", "runs"], out
        )
    if table.sweeps:
        out.write("sweeps:\n")
        _format.write_table(
            [["  " + r[0], *r[1:]] for r in (_sweep_row(s, now) for s in table.sweeps)],
            [
                "  sweep",
                "state",
                "done",
                "failed",
                "rate",
                "eta",
                "owner",
                "executor",
                "started",
                "heartbeat",
            ],
            out,
        )


def render_status(status: StoreStatus, out: IO[str]) -> None:
    """Write ``status`` as text, one block per table."""
    for index, table in enumerate(status.tables):
        if index:
            out.write("\n")
        _table_text(table, status.taken_at, out)


def _tables(state: StoreContext) -> list[str]:
    if state.table_name is not None:
        return [state.table.name]
    return state.tables()


@click.command()
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option("--watch", is_flag=True, help="Redraw every --interval seconds until Ctrl-C.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=2.0,
    show_default=True,
    metavar="SECONDS",
    help="Time between two redraws with --watch.",
)
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="With --watch, stop after N redraws.",
)
@store_options
@pass_state
def status(state: StoreContext, fmt: str, watch: bool, interval: float, count: int | None) -> None:
    """Per table: stored runs, runs in progress, failures by type, live and recent sweeps.

    A sweep that stopped without saying so (killed, its host gone) shows as dead. With
    --watch the status is redrawn in place on a terminal (one snapshot after another
    otherwise; JSON lines with --format json) until Ctrl-C, which ends it with status 0.
    """
    names = _tables(state)
    shown = 0
    out = sys.stdout
    terminal = out.isatty()
    try:
        while True:
            snapshot = read_status(state.engine, names)
            if fmt == "json":
                text = json.dumps(_format.jsonable(snapshot.to_dict()), ensure_ascii=False)
                out.write(text + "\n" if watch else json.dumps(json.loads(text), indent=2) + "\n")
            else:
                if watch and terminal:
                    out.write(_REDRAW)
                elif watch and shown:
                    out.write("\n")
                if watch:
                    out.write(f"{snapshot.taken_at.isoformat(timespec='seconds')}\n")
                render_status(snapshot, out)
            out.flush()
            shown += 1
            if not watch or (count is not None and shown >= count):
                return
            time.sleep(interval)
    except KeyboardInterrupt:  # the way to stop --watch: not an error
        out.write("\n")


def render_coverage(table: Coverage, out: IO[str]) -> None:
    """Draw ``table`` with characters: a count per cell, ``x`` failed, ``~`` running, ``.`` hole."""

    def cell_text(row: Any, column: Any) -> str:
        cell = table.cell(row, column)
        if cell.empty:
            return "."
        parts = [str(cell.done)] if cell.done else []
        if cell.failed:
            parts.append(f"{cell.failed}x")
        if cell.running:
            parts.append(f"{cell.running}~")
        return " ".join(parts)

    first = table.by[0] if len(table.by) == 1 else f"{table.by[0]} \\ {table.by[1]}"
    names = [_format.text_cell(c) for c in table.columns] if len(table.by) > 1 else ["runs"]
    lines = [[first, *names]]
    lines += [[_format.text_cell(r), *(cell_text(r, c) for c in table.columns)] for r in table.rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    for line in lines:  # the first column to the left, counts to the right
        cells = [
            line[0].ljust(widths[0]),
            *(v.rjust(w) for v, w in zip(line[1:], widths[1:], strict=True)),
        ]
        out.write("  ".join(cells).rstrip() + "\n")
    count = len(table.rows) * len(table.columns)
    out.write(
        f"{count} cells, {table.holes} holes; a number: stored runs, x: failed, ~: running, "
        ".: nothing\n"
    )


@click.command(name="coverage")
@click.option(
    "--by",
    "by",
    required=True,
    metavar="A[,B]",
    help="One or two parameters: rows, then columns.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@store_options
@pass_state
def coverage_command(state: StoreContext, by: str, fmt: str) -> None:
    """Stored / failed / running runs over two parameters, drawn so the holes show."""
    names = [n.strip() for n in by.split(",") if n.strip()]
    try:
        table = coverage(state.engine, state.table, names)
    except ValueError as exc:
        raise UsageFailure(f"--by: {exc}") from None
    out = sys.stdout
    if fmt == "json":
        _format.write_json_object(table.to_dict(), out)
    elif fmt == "csv":
        _format.write_csv(table.records(), [*table.by, "done", "failed", "running"], out)
    else:
        render_coverage(table, out)


def register(group: click.Group) -> None:
    """Add ``status`` and ``coverage`` to ``group``."""
    group.add_command(status)
    group.add_command(coverage_command)
