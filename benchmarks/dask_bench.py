"""entropic's Dask sweep against raw ``client.map`` of the same runner, on one LocalCluster.

Each case runs ``n`` fresh parameter sets through one of:

* ``raw``: ``client.map(runner, params, pure=False)`` and ``client.gather``, the floor;
* ``entropic``: ``Store.sweep(params, client=client)`` on a fresh SQLite store;
* ``entropic-pack<N>``: the same sweep with ``DaskExecutor(client=client, pack=N)``.

Two workloads (the runners are in :mod:`dask_common`, shared with the entropic 2.3.0 side in
``legacy_dask.py``): ``trivial`` (the runner writes a small file) and ``10ms`` (it sleeps 10 ms,
then writes the file). The table shows wall time, time per run, the overhead per run against raw
and the ratio of wall times. Run it as a script::

    python benchmarks/dask_bench.py --sizes 2000,20000 --json dask-bench.json

or import :func:`run_case` to put other contenders in the same table (``nox -s bench`` does).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cloudpickle
from distributed import Client, LocalCluster

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dask_common
from dask_common import CLUSTER, RUNNERS, fresh_folder, raw_case

from entropic import Base, Mapped, Store
from entropic_dask import DaskExecutor

# The workers receive the runners by value, as they would a runner defined in a user's script.
cloudpickle.register_pickle_by_value(dask_common)


class BenchResult(Base):
    """The benchmark's record: one integer parameter."""

    __tablename__ = "dask_bench_results"

    i: Mapped[int]


def run_case(
    client: Client,
    mode: str,
    workload: str,
    n: int,
    workdir: str | Path,
    *,
    pack: int = 1,
) -> dict[str, Any]:
    """Time one case on ``client``'s cluster and return a row for the table.

    Args:
        client: The client of the cluster to measure on.
        mode: ``"raw"`` (``client.map`` + ``gather``) or ``"entropic"`` (a sweep on a fresh
            store in ``workdir``).
        workload: ``"trivial"`` or ``"10ms"``.
        n: Number of runs.
        workdir: A folder for the case's files; it is emptied first.
        pack: Runs per Dask task for ``"entropic"``.

    Returns:
        ``mode`` (with ``-pack<N>`` when packing), ``workload``, ``n``, ``seconds`` and
        ``ms_per_run``.
    """
    if mode == "raw":
        seconds = raw_case(client, workload, n, workdir)
        label = "raw client.map"
    elif mode == "entropic":
        results = fresh_folder(workdir)
        db = Path(workdir) / "db.sqlite3"
        store = Store(RUNNERS[workload], BenchResult, results, ".txt", f"sqlite:///{db}")
        executor = DaskExecutor(client=client, pack=pack)
        params = [{"i": i} for i in range(n)]
        start = time.perf_counter()
        records = store.sweep(params, executor=executor)
        seconds = time.perf_counter() - start
        store.close()
        if len(records) != n:
            raise RuntimeError(f"the sweep returned {len(records)} records, not {n}")
        label = "entropic" if pack == 1 else f"entropic pack={pack}"
    else:
        raise ValueError(f"unknown mode {mode!r}")
    return {
        "mode": label,
        "workload": workload,
        "n": n,
        "seconds": seconds,
        "ms_per_run": 1000 * seconds / n,
    }


def compare(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add ``overhead_ms_per_run`` and ``ratio`` against the raw row of the same case."""
    raw = {(r["workload"], r["n"]): r for r in rows if r["mode"] == "raw client.map"}
    out = []
    for row in rows:
        floor = raw.get((row["workload"], row["n"]))
        extra = dict(row)
        if floor is not None:
            extra["overhead_ms_per_run"] = row["ms_per_run"] - floor["ms_per_run"]
            extra["ratio"] = row["seconds"] / floor["seconds"]
        out.append(extra)
    return out


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| workload | runs | contender | wall s | ms/run | overhead ms/run | ratio to raw |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        overhead = f"{r['overhead_ms_per_run']:+.3f}" if "overhead_ms_per_run" in r else ""
        ratio = f"{r['ratio']:.2f}" if "ratio" in r else ""
        lines.append(
            f"| {r['workload']} | {r['n']} | {r['mode']} | {r['seconds']:.2f} | "
            f"{r['ms_per_run']:.3f} | {overhead} | {ratio} |"
        )
    return "\n".join(lines)


def warm_up(client: Client, workdir: str | Path) -> None:
    """Start the workers and import everything a case needs, so no round pays for it."""
    client.run(lambda: None)
    for workload in RUNNERS:
        run_case(client, "raw", workload, 20, workdir)
        run_case(client, "entropic", workload, 20, workdir)


def alternate(
    client: Client,
    workload: str,
    n: int,
    packs: Sequence[int],
    rounds: int,
    workdir: str | Path,
) -> dict[str, list[float]]:
    """Time raw and our sweep (once per pack size) in turns, ``rounds`` times.

    Each round rotates who goes first. Returns every round's seconds per contender label.
    """
    cases = [("raw", 1), *(("entropic", p) for p in packs)]
    seconds: dict[str, list[float]] = {}
    for r in range(rounds):
        for mode, pack in cases[r % len(cases) :] + cases[: r % len(cases)]:
            row = run_case(client, mode, workload, n, workdir, pack=pack)
            seconds.setdefault(row["mode"], []).append(row["seconds"])
    return seconds


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,20000", help="comma-separated run counts")
    parser.add_argument("--workloads", default="trivial,10ms", help="trivial and/or 10ms")
    parser.add_argument("--packs", default="1,16", help="pack sizes of our sweep")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (medians)")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    workloads = [w for w in args.workloads.split(",") if w]
    packs = [int(p) for p in args.packs.split(",") if p]
    workdir = Path(tempfile.mkdtemp(prefix="entropic-dask-bench-"))
    rows: list[dict[str, Any]] = []
    try:
        with LocalCluster(**CLUSTER) as cluster, Client(cluster) as client:
            warm_up(client, workdir / "case")
            for workload in workloads:
                for n in sizes:
                    timings = alternate(client, workload, n, packs, args.rounds, workdir / "case")
                    for label, values in timings.items():
                        seconds = statistics.median(values)
                        rows.append(
                            {
                                "mode": label,
                                "workload": workload,
                                "n": n,
                                "seconds": seconds,
                                "ms_per_run": 1000 * seconds / n,
                                "rounds": values,
                            }
                        )
                        print(
                            f"{workload:>8} n={n:<6} {label:<20} {seconds:.2f} s", file=sys.stderr
                        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rows = compare(rows)
    print(markdown(rows))
    if args.json is not None:
        meta = {"python": platform.python_version(), "cpus": os.cpu_count(), "cluster": CLUSTER}
        args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
