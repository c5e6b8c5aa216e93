"""entropic's Dask sweep against raw ``client.map`` of the same runner, on one LocalCluster.

Each case runs ``n`` fresh parameter sets through one of:

* ``raw``: ``client.map(runner, params, pure=False)`` and ``client.gather``, the floor;
* ``entropic``: ``Store.sweep(params, client=client)`` on a fresh SQLite store;
* ``entropic-pack<N>``: the same sweep with ``DaskExecutor(client=client, pack=N)``.

Two workloads: ``trivial`` (the runner writes a small file) and ``10ms`` (it sleeps 10 ms, then
writes the file). The table shows wall time, time per run, the overhead per run against raw and
the ratio of wall times. Run it as a script::

    python benchmarks/dask_bench.py --sizes 2000,20000 --json dask-bench.json

or import :func:`run_case` to put other contenders in the same table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cloudpickle
from distributed import Client, LocalCluster

from entropic import Base, Mapped, Store
from entropic_dask import DaskExecutor

if __name__ != "__main__":  # imported: let the workers receive the runners by value
    cloudpickle.register_pickle_by_value(sys.modules[__name__])


class BenchResult(Base):
    """The benchmark's record: one integer parameter."""

    __tablename__ = "dask_bench_results"

    i: Mapped[int]


def trivial_runner(params: dict[str, Any]) -> None:
    """Write a small file and return."""
    with open(params["result_file"], "w") as fh:
        fh.write(str(params["i"]))


def sleepy_runner(params: dict[str, Any]) -> None:
    """Sleep 10 ms (the workload), then write a small file."""
    time.sleep(0.010)
    with open(params["result_file"], "w") as fh:
        fh.write(str(params["i"]))


RUNNERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "trivial": trivial_runner,
    "10ms": sleepy_runner,
}


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
    runner = RUNNERS[workload]
    folder = Path(workdir)
    shutil.rmtree(folder, ignore_errors=True)
    results = folder / "results"
    results.mkdir(parents=True)
    if mode == "raw":
        params = [{"i": i, "result_file": str(results / f"{i}.txt")} for i in range(n)]
        start = time.perf_counter()
        futures = client.map(runner, params, pure=False)
        client.gather(futures)
        seconds = time.perf_counter() - start
        del futures
        label = "raw client.map"
    elif mode == "entropic":
        store = Store(runner, BenchResult, results, ".txt", f"sqlite:///{folder / 'db.sqlite3'}")
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,20000", help="comma-separated run counts")
    parser.add_argument("--workloads", default="trivial,10ms", help="trivial and/or 10ms")
    parser.add_argument("--packs", default="16", help="pack sizes to try (0 or empty: none)")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster workers")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker")
    parser.add_argument("--repeat", type=int, default=1, help="keep the best of this many")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    workloads = [w for w in args.workloads.split(",") if w]
    packs = [int(p) for p in args.packs.split(",") if p and int(p) > 1]
    workdir = Path(tempfile.mkdtemp(prefix="entropic-dask-bench-"))
    rows: list[dict[str, Any]] = []
    try:
        with (
            LocalCluster(
                n_workers=args.workers,
                threads_per_worker=args.threads,
                dashboard_address=":0",
            ) as cluster,
            Client(cluster) as client,
        ):
            client.run(lambda: None)  # workers up and warm
            for workload in workloads:
                for n in sizes:
                    cases = [("raw", 1), ("entropic", 1), *(("entropic", p) for p in packs)]
                    for mode, pack in cases:
                        best = None
                        for _ in range(args.repeat):
                            row = run_case(client, mode, workload, n, workdir / "case", pack=pack)
                            if best is None or row["seconds"] < best["seconds"]:
                                best = row
                        assert best is not None
                        rows.append(best)
                        print(
                            f"{workload:>8} n={n:<6} {best['mode']:<20} {best['seconds']:.2f} s",
                            file=sys.stderr,
                        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rows = compare(rows)
    print(markdown(rows))
    if args.json is not None:
        meta = {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "workers": args.workers,
            "threads_per_worker": args.threads,
        }
        args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
