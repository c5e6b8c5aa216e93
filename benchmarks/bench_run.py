"""Run every benchmark side by side and write one table of figures and ratios.

``nox -s bench`` runs this in an environment with our packages, and hands it the interpreter
of a separate environment that holds the published entropic 2.3.0, signac, joblib and Dask::

    python benchmarks/bench_run.py --legacy-python PATH [--quick] [--repeats N] [--memory-n N]
        [--dask-sizes 2000,20000] [--dask-rounds N] [--dask-only]

Every measurement runs in a fresh process (``bench_ours.py`` or ``bench_legacy.py``) that
prints JSON, except the Dask sweeps: ours and raw ``client.map`` share one LocalCluster in this
process (``dask_bench.py``), and entropic 2.3.0's runs on a cluster of its own environment
(``legacy_dask.py``). For each workload the implementations alternate, round after round, and
the table shows the median of the rounds. The table is printed and written, with the raw
figures as JSON, to ``benchmarks/results/latest.md`` and ``latest.json``.
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

__all__ = ["Config", "DaskCase", "Row", "machine", "main", "render"]

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
    dask_sizes: tuple[int, ...] = (2000,)
    dask_rounds: int = 3

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
            dask_sizes=(100,),
            dask_rounds=2,
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

    def __call__(self, impl: str, action: str, folder: str, **options: int | str) -> dict[str, Any]:
        """Run ``action`` of ``impl`` in a fresh process; ``{"error": ...}`` when it fails."""
        if impl in OURS_ENV:
            command = [sys.executable, str(OURS_SCRIPT)]
        else:
            assert self.legacy_python is not None
            command = [self.legacy_python, str(LEGACY_SCRIPT)]
        command += [impl, action, "--dir", str(self.workdir / impl / folder)]
        for name, value in options.items():
            command += [f"--{name}", str(value)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=3600, check=False)
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


#: Pack sizes of our Dask sweep: one run per task (the default), and 16 runs per task.
DASK_PACKS = (1, 16)
#: The Dask table's contenders, in order: key, display name.
DASK_NAMES = {
    "raw": "raw client.map",
    "ours": "entropic (ours)",
    "ours-pack16": "entropic (ours), pack=16",
    "entropic230": "entropic 2.3.0",
}
#: Targets for our default sweep (one run per task), as most times the raw floor.
DASK_TARGETS = {"trivial": 1.3, "10ms": 1.1}
_DASK_LABELS = {"raw client.map": "raw", "entropic": "ours", "entropic pack=16": "ours-pack16"}


@dataclass
class DaskCase:
    """One Dask workload at one size: every contender's seconds, round by round.

    ``seconds["entropic230"]`` comes from a cluster of its own (entropic 2.3.0's environment);
    ``legacy_raw`` is raw ``client.map`` measured there, in turns with it, and is the floor its
    ratio is taken against.
    """

    workload: str
    n: int
    seconds: dict[str, list[float]] = field(default_factory=dict)
    legacy_raw: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def median(self, key: str) -> float | None:
        """The median seconds of ``key``, or ``None`` when it was not measured."""
        values = self.seconds.get(key)
        return statistics.median(values) if values else None

    def floor(self, key: str) -> float | None:
        """The raw floor ``key`` is compared with."""
        if key == "entropic230":
            return statistics.median(self.legacy_raw) if self.legacy_raw else None
        return self.median("raw")


def _load_dask_bench() -> Any:
    path = HERE / "dask_bench.py"
    spec = importlib.util.spec_from_file_location("dask_bench", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["dask_bench"] = module
    spec.loader.exec_module(module)
    return module


def measure_dask(run: Runner, config: Config, workdir: Path) -> tuple[list[DaskCase], list[Row]]:
    """Our Dask sweep, raw ``client.map`` and entropic 2.3.0's Dask sweep, side by side.

    Ours and raw share one LocalCluster of two single-threaded worker processes
    (``dask_bench.alternate`` takes them in turns). entropic 2.3.0 cannot share our environment,
    so right after each of our cases ``legacy_dask.py`` starts the same kind of cluster in its
    environment and times 2.3.0's sweep in turns with raw ``client.map`` there.

    Returns:
        The cases, and rows that only carry notes when the Dask benchmark could not run.
    """
    try:
        module = _load_dask_bench()
        from distributed import Client, LocalCluster
    except Exception as exc:  # entropic-dask or distributed missing: report, keep the rest
        row = Row("Dask executor", "s")
        row.notes.append(f"skipped: cannot import benchmarks/dask_bench.py ({exc!r})")
        return [], [row]
    cases: list[DaskCase] = []
    _log("Dask: starting a LocalCluster of 2 worker processes")
    try:
        with (
            LocalCluster(**module.CLUSTER) as cluster,  # type: ignore[no-untyped-call,unused-ignore]
            Client(cluster) as client,  # type: ignore[no-untyped-call,unused-ignore]
        ):
            module.warm_up(client, workdir / "dask")
            for n in config.dask_sizes:
                for workload in DASK_TARGETS:
                    case = DaskCase(workload, n)
                    timings = module.alternate(
                        client, workload, n, DASK_PACKS, config.dask_rounds, workdir / "dask"
                    )
                    for label, values in timings.items():
                        case.seconds[_DASK_LABELS[label]] = values
                    _log(f"Dask {workload} x {n:,}: ours and raw done")
                    if run.available("entropic230"):
                        _dask_legacy(run, config, case)
                    cases.append(case)
    except Exception as exc:
        traceback.print_exc()
        row = Row("Dask executor", "s")
        row.notes.append(f"failed: {exc!r}")
        return cases, [row]
    return cases, []


def _dask_legacy(run: Runner, config: Config, case: DaskCase) -> None:
    folder = f"dask-{case.workload}-{case.n}"
    result = run(
        "entropic230", "dask", folder, n=case.n, workload=case.workload, rounds=config.dask_rounds
    )
    if "error" in result:
        case.notes.append(result["error"])
        return
    case.seconds["entropic230"] = result["rounds"]["entropic230"]
    case.legacy_raw = result["rounds"]["raw"]
    _log(f"Dask {case.workload} x {case.n:,}: entropic 2.3.0 done")


def render_dask(cases: Sequence[DaskCase], config: Config) -> list[str]:
    """The Dask section of the report: one line per contender and case."""
    if not cases:
        return []
    lines = [
        "## Dask sweeps of new runs",
        "",
        f"A LocalCluster of 2 single-threaded worker processes; medians of {config.dask_rounds} "
        "alternating rounds. Overhead and ratio are against raw `client.map` + `gather` of the "
        "same runner on the same cluster.",
        "",
        "| Workload | Runs | Contender | Wall s | ms per run | Overhead ms per run | "
        "Ratio to raw | Target |",
        "|---|---:|---|---:|---:|---:|---:|---|",
    ]
    notes: list[str] = []
    for case in cases:
        runner = "trivial runner" if case.workload == "trivial" else "runner sleeping 10 ms"
        for key, name in DASK_NAMES.items():
            seconds = case.median(key)
            if seconds is None:
                continue
            floor = case.floor(key)
            overhead = ratio = target = ""
            if floor and key != "raw":
                overhead = f"{(seconds - floor) / case.n * 1e3:+.3f}"
                ratio = f"{seconds / floor:.2f}"
                if key == "ours":
                    limit = DASK_TARGETS[case.workload]
                    met = "met" if seconds / floor <= limit else "NOT met"
                    target = f"≤ {limit}x raw: {met}"
            lines.append(
                f"| {runner} | {case.n:,} | {name} | {seconds:.3f} | "
                f"{seconds / case.n * 1e3:.3f} | {overhead} | {ratio} | {target} |"
            )
        if case.legacy_raw:
            notes.append(
                f"{runner}, {case.n:,} runs: entropic 2.3.0 ran on a cluster of its own in its "
                f"environment; its floor there was {statistics.median(case.legacy_raw):.3f} s"
            )
        notes += [f"{runner}, {case.n:,} runs: {note}" for note in case.notes]
    lines += ["", *(f"- {note}" for note in notes), ""] if notes else [""]
    return lines


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


def render(
    rows: Sequence[Row],
    info: dict[str, Any],
    config: Config,
    elapsed: float,
    dask: Sequence[DaskCase] = (),
) -> str:
    """The Markdown report: the machine, the table, the notes, then the Dask table."""
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
    if rows:
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
    lines += render_dask(dask, config)
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
    parser.add_argument(
        "--dask-sizes",
        help="comma-separated run counts of the Dask sweeps (2000; the full set: 2000,20000)",
    )
    parser.add_argument("--dask-rounds", type=int, help="alternating rounds per Dask timing (3)")
    parser.add_argument("--dask-only", action="store_true", help="run the Dask benchmark only")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args(argv)
    config = Config.quick() if args.quick else Config()
    if args.repeats:
        config.repeats = args.repeats
    if args.memory_n:
        config.memory_n = args.memory_n
    if args.dask_sizes:
        config.dask_sizes = tuple(int(n) for n in args.dask_sizes.split(",") if n)
    if args.dask_rounds:
        config.dask_rounds = args.dask_rounds
    legacy = args.legacy_python is not None
    workdir = Path(tempfile.mkdtemp(prefix="entropic-bench-"))
    run = Runner(args.legacy_python, workdir)
    start = time.perf_counter()
    rows: list[Row] = []
    try:
        info = {"machine": machine(), "versions": _versions(run, legacy)}
        if not args.dask_only:
            rows += measure_all(run, config, legacy)
            rows.append(measure_memory(run, config))
        dask, problems = measure_dask(run, config, workdir)
        rows += problems
        if not args.dask_only:
            rows += measure_load(config, workdir)
    finally:
        if args.keep:
            _log(f"scratch folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.perf_counter() - start
    if not legacy and rows:
        rows[0].notes.append("entropic 2.3.0, signac and joblib not measured (no --legacy-python)")
    report = render(rows, info, config, elapsed, dask)
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.md").write_text(report, encoding="utf-8")
    payload = {
        "info": info,
        "config": config.__dict__,
        "elapsed_seconds": elapsed,
        "rows": [row.__dict__ for row in rows],
        "dask": [case.__dict__ for case in dask],
    }
    (args.out / "latest.json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
    _log(f"written to {args.out / 'latest.md'} and latest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
