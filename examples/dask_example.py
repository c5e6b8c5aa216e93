"""An entropic sweep on a Dask cluster: a LocalCluster of worker processes on this machine.

    python dask_example.py               # 40 points on 2 workers
    python dask_example.py --tiny        # 4 points
    python dask_example.py --workers 4

Needs entropic-dask (and NumPy). The sweep is the logistic map x -> r x (1 - x): each run
iterates it from one starting point for one growth rate ``r`` and saves the orbit with NumPy.
The process that owns the Store hashes the parameters, looks them up in
``dask_example.sqlite3`` and sends only the misses to the workers; the workers write the files
into ``dask-results/`` and never open the database. The same script works with any cluster:
replace the LocalCluster by ``Client("tcp://scheduler:8786")`` or a dask-jobqueue cluster.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np
from distributed import Client, LocalCluster

from entropic import Base, Mapped, Store, SweepProgress, expand_grid


class LogisticMap(Base):
    """One orbit of the logistic map."""

    __tablename__ = "logistic_map"

    r: Mapped[float]
    x0: Mapped[float]
    iterations: Mapped[int]


def iterate(params: dict[str, Any]) -> None:
    """The runner, executed on a worker: write the orbit as a ``.npy`` file."""
    r = params["r"]
    orbit = np.empty(params["iterations"] + 1)
    orbit[0] = params["x0"]
    for i in range(params["iterations"]):
        orbit[i + 1] = r * orbit[i] * (1.0 - orbit[i])
    with open(params["result_file"], "wb") as f:
        np.save(f, orbit)


def main(argv: list[str] | None = None) -> int:
    """Start a LocalCluster, sweep on it, and print where each run happened."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="sweep four points only")
    parser.add_argument("--workers", type=int, default=2, help="worker processes to start")
    args = parser.parse_args(argv)
    rates = np.linspace(2.8, 4.0, 2 if args.tiny else 20)
    grid: dict[str, list[Any]] = {
        "r": [float(r) for r in rates],
        "x0": [0.2, 0.7],
        "iterations": [2000],
    }
    store = Store(
        iterate,
        LogisticMap,
        results_dir="dask-results",
        file_suffix=".npy",
        db_url="sqlite:///dask_example.sqlite3",
    )
    with (
        store,
        LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=":0") as c,
        Client(c) as client,
    ):
        runs = 0

        def count(progress: SweepProgress) -> None:
            nonlocal runs
            runs = progress.runs

        records = store.sweep(expand_grid(grid), client=client, callback=count)
    for record in records:
        orbit = np.load(record.result_file)
        host = record.custom_data.get("host", "?")
        print(f"r={record.r:.3f} x0={record.x0}  last x {orbit[-1]:.4f}  (ran on {host})")
    print(f"{len(records)} parameter sets: {runs} ran on the cluster, {len(records) - runs} cached")
    return 0


if __name__ == "__main__":  # worker processes import this file as they start
    sys.exit(main())
