"""The workloads of the main table, on SQLite and on PostgreSQL, with their targets.

Each function prepares what it needs, measures the contenders in alternating rounds
(:func:`bench_measuring.alternate`) and returns rows. The targets are those of issue 17 where it
sets one (ours at most so many times the raw floor), and the older ones beside them.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench_config import NAMES, ROOT, Config
from bench_measuring import Measure, Row, Runner, alternate, log, ratio_target

__all__ = ["cleanup", "measure_load", "measure_memory", "measure_postgres", "measure_sqlite"]

#: What the PostgreSQL rows measure under the columns "ours" and "raw".
POSTGRES = {"ours": "ours-pg", "raw": "raw-pg"}

_MISS_NOTE = (
    "(wall time - the runner's own time) / runs; the runner writes a 64-byte file; the floor "
    "writes it to a temporary name, moves it, writes a manifest the same way, inserts every 256 "
    "rows with executemany and commits"
)


def _contenders(
    run: Runner, columns: dict[str, str], action: str, folder: str, **options: int
) -> dict[str, Measure]:
    """Column key to a measurement of ``action`` by the implementation in that column."""
    out: dict[str, Measure] = {}
    for column, impl in columns.items():
        if run.available(impl):
            out[column] = lambda impl=impl: run(impl, action, folder, **options)  # type: ignore[misc]
    return out


def _prepare(run: Runner, impls: Sequence[str], folder: str, n: int) -> dict[str, float]:
    seconds: dict[str, float] = {}
    for impl in impls:
        log(f"preparing {impl}: {n:,} cached points")
        result = run(impl, "prepare", folder, n=n)
        if "error" in result:
            raise RuntimeError(result["error"])
        seconds[impl] = result["seconds"]
    return seconds


def _per_miss(result: dict[str, Any]) -> float:
    return float((result["wall"] - result["runner"]) / result["n"] * 1e3)


def _common_rows(
    run: Runner, config: Config, columns: dict[str, str], database: str
) -> tuple[Row, Row, Row]:
    """The hit, the cached sweep of ``config.small`` points and the misses, on one database."""
    hit = Row(f"Cache hit through run_or_retrieve, {database} (median per call)", "µs")
    hit_options = {"calls": config.hit_calls, "warmup": config.hit_warmup}
    alternate(
        hit,
        _contenders(run, columns, "hit", "small", **hit_options),
        config.repeats,
        lambda r: r["seconds"] * 1e6,
    )
    hit.notes.append(
        f"{config.hit_calls:,} calls after {config.hit_warmup} warm-up calls, cycling through "
        "1,000 cached points"
    )
    small = Row(f"Sweep over {config.small:,} cached points, {database}", "s")
    alternate(
        small,
        _contenders(run, columns, "sweep", "small", n=config.small),
        config.repeats,
        lambda r: r["seconds"],
    )
    misses = Row(
        f"Serial sweep of {config.misses:,} misses, {database}: store's own cost per run", "ms"
    )
    alternate(
        misses,
        _contenders(run, columns, "misses", "misses", n=config.misses),
        config.repeats,
        _per_miss,
    )
    misses.notes.append(_MISS_NOTE)
    return hit, small, misses


def measure_sqlite(run: Runner, config: Config, legacy: bool) -> list[Row]:
    """Hits, cached sweeps and misses on SQLite: ours, the floor and what users compare with."""
    everyone = [i for i in NAMES if i in ("ours", "raw") or legacy]
    at_large = [i for i in ("ours", "raw", "entropic230") if i in everyone]
    prepared = _prepare(run, everyone, "small", config.small)
    _prepare(run, at_large, "large", config.large)
    columns = {impl: impl for impl in everyone}

    hit, small, misses = _common_rows(run, config, columns, "SQLite")
    ratio_target(hit, "raw", 1.5, "≤ 1.5x floor")
    hit.notes.append("signac: open_job + membership + isfile; joblib: a cached call")
    ratio_target(small, "raw", 1.5, "≤ 1.5x floor")
    small.notes.append("signac and joblib have no bulk lookup: one lookup per point")
    ratio_target(misses, "raw", 2.0, "≤ 2x floor", every_round=True)
    ratio_target(misses, "entropic230", 0.5, "≤ 0.5x 2.3.0")

    large = Row(f"Sweep over {config.large:,} cached points, SQLite", "s")
    alternate(
        large,
        _contenders(run, {i: i for i in at_large}, "sweep", "large", n=config.large),
        config.repeats,
        lambda r: r["seconds"],
    )
    ratio_target(large, "raw", 2.0, "≤ 2x floor")
    if legacy:
        large.notes.append(
            f"signac and joblib measured at {config.small:,} only: preparing {config.small:,} "
            f"of them took {prepared['signac']:.1f} s and {prepared['joblib']:.1f} s (one job "
            f"folder or cache entry per point), ten times that does not fit the time budget"
        )
    return [hit, small, large, misses]


def measure_postgres(run: Runner, config: Config, version: str | None) -> list[Row]:
    """Hits, cached sweeps and misses on PostgreSQL: ours against the psycopg floor."""
    if version is None:
        row = Row("PostgreSQL workloads", "")
        row.notes.append("skipped: the PostgreSQL server does not answer")
        return [row]
    _prepare(run, list(POSTGRES.values()), "small", config.small)
    hit, small, misses = _common_rows(run, config, POSTGRES, "PostgreSQL")
    ratio_target(hit, "raw", 2.0, "≤ 2x floor")
    hit.notes.append("floor: one psycopg connection held open, autocommit, prepared by psycopg")
    ratio_target(small, "raw", 1.5, "≤ 1.5x floor")
    small.notes.append("floor: chunks of 500 ids with = ANY(%s) through psycopg")
    misses.notes.append("no target in issue 17 for PostgreSQL: shown for the ratio")
    return [hit, small, misses]


def cleanup(run: Runner, config: Config) -> None:
    """Drop the PostgreSQL schemas the prepared stores live in."""
    if not config.postgres:
        return
    for impl in POSTGRES.values():
        if run.folder(impl, "small").exists():
            run(impl, "cleanup", "small")


def measure_memory(run: Runner, config: Config) -> Row:
    """Peak memory of our sweep over a generator of cached points, and per record."""
    n = config.memory_n
    row = Row(f"Sweep over a generator of {n:,} cached points: peak memory", "MiB")
    log(f"preparing {n:,} cached points for the memory workload")
    result = run("ours", "prepare", "memory", n=n)
    if "error" not in result:
        log("measuring the memory of a generator sweep")
        result = run("ours", "memory", "memory", n=n)
    if "error" in result:
        row.notes.append(result["error"])
        return row
    mib = 1024 * 1024
    records = result["record_bytes"] * n
    row.values["ours"] = result["peak_rss"] / mib
    row.runs["ours"] = [result["peak_rss"] / mib]
    row.target = (
        f"peak per record: {result['peak_rss'] / n:,.0f} B; "
        f"peak / records: {result['peak_rss'] / records:.2f}"
    )
    row.notes.append(
        f"peak resident memory above the level before the sweep, one untraced run "
        f"({result['seconds']:.1f} s); the {n:,} records it returns take {records / mib:,.0f} MiB "
        f"({result['record_bytes']:,.0f} B each, measured with tracemalloc on "
        f"{result['sample']:,} of them, whose traced peak was {result['traced_ratio']:.2f}x "
        f"what they keep); one input dict takes {result['input_bytes']:.0f} B, so a second "
        f"copy of the inputs would add {result['input_bytes'] * n / mib:,.0f} MiB"
    )
    return row


def _load_module() -> tuple[Any, Any] | str:
    tests = ROOT / "tests-integration"
    if not (tests / "test_load.py").is_file():
        return "skipped: tests-integration/test_load.py is not in this checkout"
    sys.path.insert(0, str(tests))
    try:
        spec = importlib.util.spec_from_file_location("_bench_test_load", tests / "test_load.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        import _manywriters
    except Exception as exc:  # a missing function or import: report it, keep the rest
        return f"skipped: cannot import the load test ({exc!r})"
    return module, _manywriters


def measure_load(config: Config, workdir: Path) -> list[Row]:
    """The many-writers load test's runs per second, on SQLite and on PostgreSQL if reachable."""
    loaded = _load_module()
    if isinstance(loaded, str):
        return [Row("Many-writers load test", "runs/s", notes=[loaded])]
    module, mw = loaded
    rows: list[Row] = []
    urls = {"SQLite": f"sqlite:///{workdir / 'load.sqlite3'}"}
    postgres = mw.SERVER_URLS.get("postgresql")
    if config.postgres and postgres and mw.reachable(postgres) is None:
        urls["PostgreSQL"] = postgres
    procs, per = config.load_processes, config.load_per_process
    for name, url in urls.items():
        row = Row(f"Many-writers load test, {name}: {procs} processes x {per:,} sets", "runs/s")
        folder = workdir / f"load-{name.lower()}"
        folder.mkdir(parents=True, exist_ok=True)
        log(f"load test on {name}")
        try:
            figures = module.run_load(url, folder, processes=procs, per_process=per)
        except Exception as exc:
            row.notes.append(f"failed: {exc!r}")
            rows.append(row)
            continue
        row.values["ours"] = figures["runs_per_second"]
        row.runs["ours"] = [figures["runs_per_second"]]
        row.notes.append(
            f"{figures['runs']:,} distinct runs of {figures['requested']:,} requested in "
            f"{figures['wall_seconds']:.2f} s (process start-up included); one run"
        )
        rows.append(row)
    if "PostgreSQL" not in urls:
        rows[-1].notes.append("PostgreSQL not measured: SQLite only")
    return rows
