"""What operating a sweep costs: status and coverage on a large store, the journal's share of a
sweep of misses, and exporting a large store.

Run on its own, or from ``bench_run.py`` (``nox -s bench``), which adds its rows to the table::

    python benchmarks/bench_operating.py [--rows 1000000] [--misses 5000] [--rounds 5]
        [--export-rows 1000000] [--export-formats csv,jsonl] [--no-postgres]

The store holds ``--rows`` runs over three parameters of 100 values each (``a``, ``b``, ``c``)
and 1,000 current failures from a real failing sweep. ``status`` is :meth:`Store.status`;
``coverage`` is ``coverage --by a,b`` (a ``GROUP BY`` in the database, 10,000 cells); each is also
timed through the ``entropic`` command in this process (``CliRunner``: it reflects the table
first). The sweep of misses runs a trivial runner with the journal on and, for comparison, off
(``store._journal = None``: what the sweep did before it recorded itself), in alternating rounds.
``entropic export`` runs once per format on a store of ``--export-rows`` runs, as a process of
its own writing to a file: its wall time and its peak resident memory (read by a small process
in between, since on Linux a child's peak starts from its parent's size at the fork), beside
the peak of an export of no rows from the same store.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_measuring import Row, log

from entropic import Base, Mapped, Store, SweepError

__all__ = ["measure_operating", "main"]

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
#: Rows inserted per statement while the large store is built.
BATCH = 20_000
#: Failures recorded in the large store (a real sweep whose runner raises).
FAILURES = 1000
#: The formats the export rows measure, unless told otherwise.
EXPORT_FORMATS = ("csv", "jsonl")
#: The ``entropic`` command, as its installed script runs it.
ENTROPIC = [sys.executable, "-c", "from entropic_cli.main import main; main()"]
#: Runs its arguments as a command; prints the command's wall seconds and peak RSS (KiB on Linux).
PEAK_OF_CHILD = (
    "import resource, subprocess, sys, time\n"
    "started = time.perf_counter()\n"
    "code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "seconds = time.perf_counter() - started\n"
    "print(seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(code)\n"
)

_MODELS: dict[str, type[Base]] = {}


def _model(table: str) -> type[Base]:
    if table not in _MODELS:
        namespace = {
            "__tablename__": table,
            "__annotations__": {"a": Mapped[int], "b": Mapped[int], "c": Mapped[int]},
        }
        _MODELS[table] = type(f"Bench_{table}", (Base,), namespace)
    return _MODELS[table]


def _fail(params: dict[str, Any]) -> None:
    raise ValueError(f"diverged at a={params['a']}")


def _write(params: dict[str, Any]) -> None:
    with open(params["result_file"], "w") as out:
        out.write("x")


def _fill(store: Store[Any], rows: int) -> None:
    """``rows`` stored runs, inserted in bulk (their files are not needed for these figures)."""
    table = store.result_cls.__table__
    started = time.perf_counter()
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with store.engine.begin() as conn:
        for start in range(0, rows, BATCH):
            chunk = [
                {
                    "id": f"{i:016x}",
                    "a": i // 10_000 % 100,
                    "b": i // 100 % 100,
                    "c": i % 100,
                    "result_file": f"/bench/{i:016x}.txt",
                    "created_at": now,
                    "custom_data": {},
                }
                for i in range(start, min(rows, start + BATCH))
            ]
            conn.execute(table.insert(), chunk)  # type: ignore[attr-defined]
    log(f"{rows:,} rows inserted in {time.perf_counter() - started:.1f} s")


def _median(action: Callable[[], Any], rounds: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times


def _cli(args: Sequence[str], db_url: str, table: str) -> Callable[[], None]:
    from click.testing import CliRunner

    from entropic_cli.main import cli

    runner = CliRunner()

    def call() -> None:
        result = runner.invoke(cli, [*args, "--db", db_url, "--table", table])
        assert result.exit_code == 0, result.output

    return call


def large_store(db_url: str, folder: Path, rows: int, rounds: int) -> dict[str, Any]:
    """Status and coverage on a store of ``rows`` runs and :data:`FAILURES` failures."""
    table = f"bench_ops_{uuid.uuid4().hex[:8]}"
    store = Store(_fail, _model(table), folder / table, ".txt", db_url)
    try:
        _fill(store, rows)
        failing = [{"a": 1000 + i % 10, "b": i // 10, "c": 0} for i in range(FAILURES)]
        with contextlib.suppress(SweepError):
            store.sweep(failing)
        if store.engine.dialect.name == "postgresql":
            with store.engine.begin() as conn:
                conn.execute(text(f'ANALYZE "{table}"'))
        status = store.status().tables[0]
        assert status.stored == rows, status
        assert status.failed == FAILURES, status
        cells = store.coverage(["a", "b"])
        assert len(cells.rows) == min(100, -(-rows // 10_000)) + 10, len(cells.rows)
        figures: dict[str, Any] = {"rows": rows, "failures": FAILURES}
        for name, action in (
            ("status", store.status),
            ("coverage", lambda: store.coverage(["a", "b"])),
            ("cli status", _cli(["status"], db_url, table)),
            ("cli coverage", _cli(["coverage", "--by", "a,b"], db_url, table)),
            ("failures", lambda: store.failures(exc_type="ValueError")),
        ):
            action()  # warm: connections, reflection caches
            figures[name], figures[f"{name} rounds"] = _median(action, rounds)
            log(f"{name}: {figures[name] * 1e3:.0f} ms (median of {rounds})")
        return figures
    finally:
        _drop(store, table)


def _drop(store: Store[Any], table: str) -> None:
    from entropic.failures import forget_failures

    forget_failures(store.engine, table)
    with store.engine.begin() as conn:
        conn.execute(text(f'DROP TABLE IF EXISTS "{table}"'))
        names = inspect(conn).get_table_names()
        for name in ("entropic_sweeps", "entropic_attempts", "entropic_meta", "entropic_params"):
            if name in names:
                internal = store.engine.dialect.identifier_preparer.quote(name)
                conn.execute(text(f"DELETE FROM {internal} WHERE table_name = :t"), {"t": table})
    store.close()


def _export(args: Sequence[str]) -> tuple[float, int, str]:
    """Run ``entropic ARGS`` in a process of its own: wall seconds, peak RSS bytes, stderr."""
    done = subprocess.run(
        [sys.executable, "-c", PEAK_OF_CHILD, *ENTROPIC, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"entropic {' '.join(args)} failed: {done.stderr.strip()}")
    seconds, peak = done.stdout.split()
    scale = 1 if sys.platform == "darwin" else 1024  # macOS reports bytes, Linux KiB
    return float(seconds), int(peak) * scale, done.stderr


def export_store(
    db_url: str, folder: Path, rows: int, formats: Sequence[str] = EXPORT_FORMATS
) -> dict[str, Any]:
    """Wall seconds and peak memory of ``entropic export`` of ``rows`` runs, per format."""
    table = f"bench_export_{uuid.uuid4().hex[:8]}"
    store = Store(_write, _model(table), folder / table, ".txt", db_url)
    base = ["--db", db_url, "--table", table, "--results-dir", str(folder / table), "export"]
    try:
        _fill(store, rows)
        _seconds, empty, _err = _export([*base, "--where", "a<0", "-o", str(folder / "none")])
        figures: dict[str, Any] = {"rows": rows, "empty peak": empty}
        for fmt in formats:
            target = folder / f"{table}.{fmt}"
            seconds, peak, err = _export([*base, "--format", fmt, "-o", str(target)])
            assert f"exported {rows} row(s)" in err, err
            figures[fmt] = {"seconds": seconds, "peak": peak, "bytes": target.stat().st_size}
            target.unlink()
            log(
                f"export --format {fmt} of {rows:,} rows: {seconds:.1f} s, peak "
                f"{peak / 2**20:.0f} MiB ({peak / rows:,.0f} B per row; no rows: "
                f"{empty / 2**20:.0f} MiB)"
            )
        return figures
    finally:
        _drop(store, table)


def _export_rows(name: str, figures: dict[str, Any], formats: Sequence[str]) -> list[Row]:
    rows, empty, mib = figures["rows"], figures["empty peak"], 2**20
    found = []
    for fmt in formats:
        f = figures[fmt]
        row = Row(f"entropic export --format {fmt} of {rows:,} rows, {name}", "s")
        row.values["ours"] = f["seconds"]
        row.runs["ours"] = [f["seconds"]]
        row.target = f"peak {f['peak'] / mib:,.0f} MiB, {f['peak'] / rows:,.0f} B per row"
        row.notes.append(
            f"one run of the command in its own process, to a file of "
            f"{f['bytes'] / mib:,.0f} MiB ({rows / f['seconds']:,.0f} rows/s); peak resident "
            f"memory {f['peak'] / mib:,.1f} MiB, where an export of no rows peaks at "
            f"{empty / mib:,.1f} MiB: {(f['peak'] - empty) / rows:,.1f} B per row above it"
        )
        found.append(row)
    return found


def misses(folder: Path, n: int, rounds: int) -> dict[str, Any]:
    """Seconds for a sweep of ``n`` misses with the journal on and off, alternating."""
    figures: dict[str, list[float]] = {"journal on": [], "journal off": []}
    for r in range(rounds):
        order = ["journal on", "journal off"] if r % 2 == 0 else ["journal off", "journal on"]
        for name in order:
            table = f"bench_miss_{uuid.uuid4().hex[:8]}"
            where = folder / table
            store = Store(_write, _model(table), where, ".txt", f"sqlite:///{where}.sqlite3")
            if name == "journal off":
                store._journal = None  # what a sweep did before it recorded itself
            started = time.perf_counter()
            store.sweep({"a": i, "b": 0, "c": 0} for i in range(n))
            figures[name].append(time.perf_counter() - started)
            store.close()
        log(f"misses round {r + 1}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in figures.items()))
    on, off = statistics.median(figures["journal on"]), statistics.median(figures["journal off"])
    ratios = [a / b for a, b in zip(figures["journal on"], figures["journal off"], strict=True)]
    return {
        "n": n,
        "journal on": on,
        "journal off": off,
        "ratio": on / off,
        "round ratios": ratios,
        "rounds": figures,
    }


def measure_operating(config: Any, workdir: Path) -> list[Row]:
    """The rows ``bench_run.py`` adds to its table (sizes follow ``--quick``)."""
    quick = getattr(config, "small", 10_000) < 10_000
    rows_n = 20_000 if quick else 1_000_000
    export_n = getattr(config, "export_rows", 20_000 if quick else 1_000_000)
    rounds = 2 if quick else 5
    urls = {"SQLite": f"sqlite:///{workdir / 'operating.sqlite3'}"}
    if getattr(config, "postgres", True):
        urls["PostgreSQL"] = POSTGRES_URL
    found: list[Row] = []
    for name, url in urls.items():
        row = Row(f"status / coverage on {rows_n:,} rows, {name}", "ms")
        try:
            figures = large_store(url, workdir, rows_n, rounds)
        except Exception as exc:
            row.notes.append(f"not measured: {exc!r}")
            found.append(row)
            continue
        row.values["ours"] = figures["status"] * 1e3
        row.runs["ours"] = [t * 1e3 for t in figures["status rounds"]]
        row.target = "< 1000 ms"
        row.notes.append(
            f"status {figures['status'] * 1e3:.0f} ms, coverage --by a,b "
            f"{figures['coverage'] * 1e3:.0f} ms; through the command: status "
            f"{figures['cli status'] * 1e3:.0f} ms, coverage {figures['cli coverage'] * 1e3:.0f}"
            f" ms; {FAILURES:,} failures listed in {figures['failures'] * 1e3:.0f} ms"
        )
        found.append(row)
    for name, url in urls.items() if export_n else ():
        try:
            figures = export_store(url, workdir, export_n)
        except Exception as exc:
            row = Row(f"entropic export of {export_n:,} rows, {name}", "s")
            row.notes.append(f"not measured: {exc!r}")
            found.append(row)
            continue
        found += _export_rows(name, figures, EXPORT_FORMATS)
    n = 500 if quick else 5000
    row = Row(f"sweep of {n:,} misses, journal on / off, SQLite", "ratio")
    figures = misses(workdir, n, rounds)
    row.values["ours"] = figures["ratio"]
    row.runs["ours"] = figures["round ratios"]
    row.notes.append(
        f"median {figures['journal on']:.3f} s with the journal, {figures['journal off']:.3f} s "
        "without; trivial runner"
    )
    found.append(row)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--misses", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--export-rows", type=int, default=1_000_000, help="0: no export")
    parser.add_argument("--export-formats", default=",".join(EXPORT_FORMATS))
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    formats = [f for f in args.export_formats.split(",") if f]
    with tempfile.TemporaryDirectory(prefix="entropic-bench-ops-") as scratch:
        folder = Path(scratch)
        urls = {"SQLite": f"sqlite:///{folder / 'operating.sqlite3'}"}
        if not args.no_postgres:
            urls["PostgreSQL"] = POSTGRES_URL
        for name, url in urls.items():
            if not args.rows:
                continue
            figures = large_store(url, folder, args.rows, args.rounds)
            print(
                f"{name}, {args.rows:,} rows, {FAILURES:,} failures: "
                + ", ".join(
                    f"{k} {figures[k] * 1e3:.0f} ms"
                    for k in ("status", "coverage", "cli status", "cli coverage", "failures")
                )
            )
        for name, url in urls.items() if args.export_rows else ():
            figures = export_store(url, folder, args.export_rows, formats)
            for row in _export_rows(name, figures, formats):
                print(f"{row.workload}: {row.values['ours']:.1f} s, {row.target}; {row.notes[0]}")
        if args.misses:
            figures = misses(folder, args.misses, args.rounds)
            print(
                f"sweep of {args.misses:,} misses on SQLite: {figures['journal on']:.3f} s with "
                f"the journal, {figures['journal off']:.3f} s without (median of {args.rounds} "
                f"alternating rounds; ratio {figures['ratio']:.3f}, per round "
                + ", ".join(f"{r:.3f}" for r in figures["round ratios"])
                + ")"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
