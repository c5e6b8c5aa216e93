"""Run every benchmark side by side and write one table of figures and ratios.

``nox -s bench`` runs this in an environment with our packages, and hands it the interpreter
of a separate environment that holds the published entropic 2.3.0, signac and joblib::

    python benchmarks/bench_run.py --legacy-python PATH [--quick] [--repeats N] [--memory-n N]

Every measurement runs in a fresh process (``bench_ours.py`` or ``bench_legacy.py``) that
prints JSON. For each workload the implementations alternate, round after round, and the table
shows the median of the rounds. The table is printed and written, with the raw figures as JSON,
to ``benchmarks/results/latest.md`` and ``latest.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Config", "Row", "machine", "main", "render"]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OURS_SCRIPT = HERE / "bench_ours.py"
LEGACY_SCRIPT = HERE / "bench_legacy.py"

#: Display names, in table order.
NAMES = {
    "ours": "entropic (ours)",
    "raw": "raw floor",
    "entropic230": "entropic 2.3.0",
    "signac": "signac",
    "joblib": "joblib.Memory",
}
OURS_ENV = ("ours", "raw")
LEGACY_ENV = ("entropic230", "signac", "joblib")


@dataclass
class Config:
    """Sizes of one benchmark run."""

    repeats: int = 5
    hit_calls: int = 2000
    hit_warmup: int = 200
    small: int = 10_000
    large: int = 100_000
    misses: int = 1000
    memory_n: int = 1_000_000
    load_processes: int = 4
    load_per_process: int = 2000
    dask_trivial: int = 1000
    dask_sleepy: int = 400

    @classmethod
    def quick(cls) -> Config:
        """A smoke run: tiny sizes, two rounds."""
        return cls(
            repeats=2,
            hit_calls=200,
            hit_warmup=20,
            small=1000,
            large=5000,
            misses=100,
            memory_n=20_000,
            load_processes=2,
            load_per_process=200,
            dask_trivial=100,
            dask_sleepy=40,
        )


@dataclass
class Row:
    """One line of the table: a workload and its figure for each implementation."""

    workload: str
    unit: str
    values: dict[str, float | None] = field(default_factory=dict)
    target: str = ""
    notes: list[str] = field(default_factory=list)
    runs: dict[str, list[float]] = field(default_factory=dict)


# ---------------------------------------------------------------------------- the machine


def _first_line(path: str, prefix: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip() if ":" in line else line.strip()
    except OSError:
        return None
    return None


def _os_name() -> str:
    pretty = None
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    pretty = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pretty = None
    return f"{pretty or platform.system()} (kernel {platform.release()})"


def machine() -> dict[str, Any]:
    """Describe this machine, read now: CPU model, cores, memory, OS, Python, SQLite."""
    import sqlite3

    total = _first_line("/proc/meminfo", "MemTotal")  # "24684084 kB"
    memory = f"{int(total.split()[0]) / 1024**2:.1f} GiB" if total else "unknown"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "commit": commit or "unknown",
        "cpu": _first_line("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory": memory,
        "os": _os_name(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite": sqlite3.sqlite_version,
    }


# ---------------------------------------------------------------------------- measuring


class Runner:
    """Starts one measurement process per call and collects its JSON (or its failure)."""

    def __init__(self, legacy_python: str | None, workdir: Path) -> None:
        self.legacy_python = legacy_python
        self.workdir = workdir

    def available(self, impl: str) -> bool:
        """Whether ``impl`` can be measured in this run."""
        return impl in OURS_ENV or self.legacy_python is not None

    def __call__(self, impl: str, action: str, folder: str, **options: int) -> dict[str, Any]:
        """Run ``action`` of ``impl`` in a fresh process; ``{"error": ...}`` when it fails."""
        if impl in OURS_ENV:
            command = [sys.executable, str(OURS_SCRIPT)]
        else:
            assert self.legacy_python is not None
            command = [self.legacy_python, str(LEGACY_SCRIPT)]
        command += [impl, action, "--dir", str(self.workdir / impl / folder)]
        for name, value in options.items():
            command += [f"--{name}", str(value)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines() or ["no output"]
            return {"error": f"{impl} {action} failed: {lines[-1]}"}
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _rounds(
    run: Runner,
    impls: Sequence[str],
    repeats: int,
    measure: Callable[[str], dict[str, Any]],
    figure: Callable[[dict[str, Any]], float],
    row: Row,
) -> None:
    """Measure ``impls`` in alternation, ``repeats`` rounds, rotating who goes first."""
    impls = [i for i in impls if run.available(i)]
    failed: set[str] = set()
    for r in range(repeats):
        order = impls[r % len(impls) :] + impls[: r % len(impls)]
        for impl in order:
            if impl in failed:
                continue
            result = measure(impl)
            if "error" in result:
                failed.add(impl)
                row.notes.append(result["error"])
                continue
            row.runs.setdefault(impl, []).append(figure(result))
        _log(f"{row.workload}: round {r + 1}/{repeats} done")
    for impl, values in row.runs.items():
        row.values[impl] = statistics.median(values)


def _ratio_target(row: Row, against: str, limit: float, label: str) -> None:
    ours, other = row.values.get("ours"), row.values.get(against)
    if ours is None or other is None or other == 0:
        row.target = f"{label}: not measured"
        return
    ratio = ours / other
    row.target = f"{label}: {'met' if ratio <= limit else 'NOT met'} ({ratio:.2f}x)"


def measure_all(run: Runner, config: Config, legacy: bool) -> list[Row]:
    """Prepare the stores, then measure hits, cached sweeps and misses."""
    everyone = list(NAMES) if legacy else list(OURS_ENV)
    rows: list[Row] = []
    prepared: dict[str, float] = {}
    for impl in everyone:
        _log(f"preparing {NAMES[impl]}: {config.small:,} cached points")
        result = run(impl, "prepare", "small", n=config.small)
        if "error" in result:
            raise RuntimeError(result["error"])
        prepared[impl] = result["seconds"]
    at_large = [i for i in ("ours", "raw", "entropic230") if i in everyone]
    for impl in at_large:
        _log(f"preparing {NAMES[impl]}: {config.large:,} cached points")
        result = run(impl, "prepare", "large", n=config.large)
        if "error" in result:
            raise RuntimeError(result["error"])

    hit = Row("Cache hit through run_or_retrieve (median per call)", "µs")
    _rounds(
        run,
        everyone,
        config.repeats,
        lambda i: run(i, "hit", "small", calls=config.hit_calls, warmup=config.hit_warmup),
        lambda r: r["seconds"] * 1e6,
        hit,
    )
    _ratio_target(hit, "raw", 3.0, "≤ 3x floor")
    hit.notes.append(
        f"{config.hit_calls:,} calls after {config.hit_warmup} warm-up calls, cycling through "
        "1,000 cached points; signac: open_job + membership + isfile; joblib: a cached call"
    )
    rows.append(hit)

    small = Row(f"Sweep over {config.small:,} cached points", "s")
    _rounds(
        run,
        everyone,
        config.repeats,
        lambda i: run(i, "sweep", "small", n=config.small),
        lambda r: r["seconds"],
        small,
    )
    small.notes.append("signac and joblib have no bulk lookup: one lookup per point")
    rows.append(small)

    large = Row(f"Sweep over {config.large:,} cached points", "s")
    _rounds(
        run,
        at_large,
        config.repeats,
        lambda i: run(i, "sweep", "large", n=config.large),
        lambda r: r["seconds"],
        large,
    )
    _ratio_target(large, "raw", 2.0, "≤ 2x floor")
    if legacy:
        large.notes.append(
            f"signac and joblib measured at {config.small:,} only: preparing {config.small:,} "
            f"of them took {prepared['signac']:.1f} s and {prepared['joblib']:.1f} s (one job "
            f"folder or cache entry per point), ten times that does not fit the time budget"
        )
    rows.append(large)

    misses = Row(
        f"Serial sweep of {config.misses:,} misses, trivial runner: store's own cost per miss",
        "ms",
    )
    _rounds(
        run,
        everyone,
        config.repeats,
        lambda i: run(i, "misses", "misses", n=config.misses),
        lambda r: (r["wall"] - r["runner"]) / r["n"] * 1e3,
        misses,
    )
    _ratio_target(misses, "entropic230", 0.5, "≤ 0.5x 2.3.0")
    misses.notes.append(
        "(wall time - the runner's own time) / runs; the runner writes a 2-byte file; the floor "
        "writes to a temporary name, moves it, writes a manifest, commits every 256"
    )
    rows.append(misses)
    return rows


def measure_memory(run: Runner, config: Config) -> Row:
    """Peak memory of our sweep over a generator of cached points."""
    n = config.memory_n
    row = Row(f"Sweep over a generator of {n:,} cached points: peak memory", "MiB")
    _log(f"preparing {n:,} cached points for the memory workload")
    result = run("ours", "prepare", "memory", n=n)
    if "error" not in result:
        _log("measuring the memory of a generator sweep")
        result = run("ours", "memory", "memory", n=n)
    if "error" in result:
        row.notes.append(result["error"])
        return row
    mib = 1024 * 1024
    records = result["record_bytes"] * n
    row.values["ours"] = result["peak_rss"] / mib
    row.runs["ours"] = [result["peak_rss"] / mib]
    row.target = f"peak / records: {result['peak_rss'] / records:.2f}"
    row.notes.append(
        f"peak resident memory above the level before the sweep, one untraced run "
        f"({result['seconds']:.1f} s); the {n:,} records it returns take {records / mib:,.0f} MiB "
        f"({result['record_bytes']:,.0f} B each, measured with tracemalloc on "
        f"{result['sample']:,} of them, whose traced peak was {result['traced_ratio']:.2f}x "
        f"what they keep); one input dict takes {result['input_bytes']:.0f} B, so a second "
        f"copy of the inputs would add {result['input_bytes'] * n / mib:,.0f} MiB"
    )
    return row


def measure_load(config: Config, workdir: Path) -> list[Row]:
    """The many-writers load test's runs per second, on SQLite and on PostgreSQL if reachable."""
    rows: list[Row] = []
    tests = ROOT / "tests-integration"
    if not (tests / "test_load.py").is_file():
        row = Row("Many-writers load test", "runs/s")
        row.notes.append("skipped: tests-integration/test_load.py is not in this checkout")
        return [row]
    sys.path.insert(0, str(tests))
    try:
        spec = importlib.util.spec_from_file_location("_bench_test_load", tests / "test_load.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        import _manywriters as mw
    except Exception as exc:  # a missing function or import: report it, keep the rest
        row = Row("Many-writers load test", "runs/s")
        row.notes.append(f"skipped: cannot import the load test ({exc!r})")
        return [row]
    urls = {"SQLite": f"sqlite:///{workdir / 'load.sqlite3'}"}
    postgres = mw.SERVER_URLS.get("postgresql")
    if postgres and mw.reachable(postgres) is None:
        urls["PostgreSQL"] = postgres
    procs, per = config.load_processes, config.load_per_process
    for name, url in urls.items():
        row = Row(f"Many-writers load test, {name}: {procs} processes x {per:,} sets", "runs/s")
        folder = workdir / f"load-{name.lower()}"
        folder.mkdir(parents=True, exist_ok=True)
        _log(f"load test on {name}")
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
        rows[-1].notes.append("PostgreSQL not reachable: SQLite only")
    return rows


#: The Dask cases: (workload, runner of the dask benchmark, pack sizes of our sweep).
DASK_PACKS = (1, 16)


def measure_dask(config: Config, workdir: Path) -> list[Row]:
    """Our Dask sweep against raw ``client.map``, through ``benchmarks/dask_bench.py``.

    ``dask_bench.run_case(client, mode, workload, n, workdir, pack=...)`` times one case on a
    LocalCluster of two single-threaded worker processes; the cases alternate, round after round.
    """
    path = HERE / "dask_bench.py"
    if not path.is_file():
        row = Row("Dask executor", "s")
        row.notes.append("skipped: benchmarks/dask_bench.py is not in this checkout")
        return [row]
    try:
        spec = importlib.util.spec_from_file_location("dask_bench", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["dask_bench"] = module
        spec.loader.exec_module(module)
        from distributed import Client, LocalCluster
    except Exception as exc:  # entropic-dask or distributed missing: report, keep the rest
        row = Row("Dask executor", "s")
        row.notes.append(f"skipped: cannot import benchmarks/dask_bench.py ({exc!r})")
        return [row]
    sizes = {"trivial": config.dask_trivial, "10ms": config.dask_sleepy}
    rows: dict[tuple[str, int], Row] = {}
    for workload, n in sizes.items():
        for pack in DASK_PACKS:
            label = "" if pack == 1 else f", pack={pack}"
            runner = "trivial runner" if workload == "trivial" else "runner sleeping 10 ms"
            rows[workload, pack] = Row(f"Dask sweep of {n:,} new runs, {runner}{label}", "s")
    _log("Dask: starting a LocalCluster of 2 worker processes")
    try:
        with (
            LocalCluster(  # type: ignore[no-untyped-call,unused-ignore]
                n_workers=2, threads_per_worker=1, dashboard_address=":0"
            ) as cluster,
            Client(cluster) as client,  # type: ignore[no-untyped-call,unused-ignore]
        ):
            client.run(lambda: None)
            for workload, n in sizes.items():
                raw: list[float] = []
                cases = [("raw", 1)] + [("entropic", p) for p in DASK_PACKS]
                for r in range(config.repeats):
                    order = cases[r % len(cases) :] + cases[: r % len(cases)]
                    for mode, pack in order:
                        out = module.run_case(
                            client, mode, workload, n, workdir / "dask", pack=pack
                        )
                        if mode == "raw":
                            raw.append(out["seconds"])
                        else:
                            rows[workload, pack].runs.setdefault("ours", []).append(out["seconds"])
                    _log(f"Dask {workload}: round {r + 1}/{config.repeats} done")
                for pack in DASK_PACKS:
                    row = rows[workload, pack]
                    row.runs["raw"] = raw
                    for impl, values in row.runs.items():
                        row.values[impl] = statistics.median(values)
                    extra = statistics.median(row.runs["ours"]) - statistics.median(raw)
                    row.notes.append(
                        f"floor: client.map + gather of the bare runner; overhead "
                        f"{extra / n * 1e3:+.3f} ms per run; 2 workers x 1 thread"
                    )
    except Exception as exc:
        traceback.print_exc()
        row = Row("Dask executor", "s")
        row.notes.append(f"failed: {exc!r}")
        return [row]
    return list(rows.values())


# ---------------------------------------------------------------------------- the report


def _fmt(value: float | None, unit: str) -> str:
    if value is None or math.isnan(value):
        return "—"
    if unit in ("µs", "runs/s", "MiB"):
        return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"
    if unit == "s":
        return f"{value:.3f}"
    if unit == "ms":
        return f"{value:.3f}"
    return f"{value:.4g}"


def _ratio(row: Row, other: str) -> str:
    ours, theirs = row.values.get("ours"), row.values.get(other)
    if ours is None or theirs is None or theirs == 0:
        return "—"
    return f"{ours / theirs:.2f}"


def render(rows: Sequence[Row], info: dict[str, Any], config: Config, elapsed: float) -> str:
    """The Markdown report: the machine, the table, the notes."""
    m = info["machine"]
    lines = [
        "# entropic benchmarks",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable); memory {m['memory']}",
        f"- OS: {m['os']}",
        f"- Python {m['python']}, SQLite {m['sqlite']}",
    ]
    for label, versions in info.get("versions", {}).items():
        listed = ", ".join(f"{k} {v}" for k, v in versions.items() if k != "entropic_from")
        lines.append(f"- {label}: {listed}")
    lines += [
        f"- Repository at commit {m.get('commit', 'unknown')}; {config.repeats} alternating "
        f"rounds per timing (medians shown); elapsed {elapsed:.0f} s",
        "",
    ]
    columns = list(NAMES.values())
    header = ["Workload", "Unit", *columns]
    header += ["ours / floor", "ours / 2.3.0", "ours / signac", "ours / joblib", "Target"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---", "---"] + ["---:"] * (len(header) - 3) + ["---"]) + "|")
    for row in rows:
        cells = [row.workload, row.unit]
        cells += [_fmt(row.values.get(impl), row.unit) for impl in NAMES]
        cells += [_ratio(row, o) for o in ("raw", "entropic230", "signac", "joblib")]
        cells.append(row.target)
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Notes:", ""]
    for row in rows:
        for note in row.notes:
            lines.append(f"- {row.workload}: {note}")
    lines.append("")
    return "\n".join(lines)


def _versions(run: Runner, legacy: bool) -> dict[str, Any]:
    versions = {"this environment": run("ours", "info", "info")}
    if legacy:
        versions["entropic 2.3.0 environment"] = run("entropic230", "info", "info")
    return versions


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks; print the table and write it to ``benchmarks/results/``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--legacy-python", help="interpreter of the entropic 2.3.0 environment")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a smoke run")
    parser.add_argument("--repeats", type=int, help="alternating rounds per timing (5)")
    parser.add_argument("--memory-n", type=int, help="size of the generator sweep (1,000,000)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args(argv)
    config = Config.quick() if args.quick else Config()
    if args.repeats:
        config.repeats = args.repeats
    if args.memory_n:
        config.memory_n = args.memory_n
    legacy = args.legacy_python is not None
    workdir = Path(tempfile.mkdtemp(prefix="entropic-bench-"))
    run = Runner(args.legacy_python, workdir)
    start = time.perf_counter()
    try:
        info = {"machine": machine(), "versions": _versions(run, legacy)}
        rows = measure_all(run, config, legacy)
        rows.append(measure_memory(run, config))
        rows += measure_dask(config, workdir)
        rows += measure_load(config, workdir)
    finally:
        if args.keep:
            _log(f"scratch folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.perf_counter() - start
    if not legacy:
        rows[0].notes.append("entropic 2.3.0, signac and joblib not measured (no --legacy-python)")
    report = render(rows, info, config, elapsed)
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.md").write_text(report, encoding="utf-8")
    payload = {
        "info": info,
        "config": config.__dict__,
        "elapsed_seconds": elapsed,
        "rows": [row.__dict__ for row in rows],
    }
    (args.out / "latest.json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
    _log(f"written to {args.out / 'latest.md'} and latest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
