"""What both sides of the Dask benchmark share: the runners, the cluster and the raw floor.

The standard library only, like :mod:`bench_common`: this module is imported in the environment
with our packages (``dask_bench.py``) and in the separate one with the published entropic 2.3.0
(``legacy_dask.py``), so every contender runs the same runner on the same kind of cluster.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["CLUSTER", "RUNNERS", "fresh_folder", "raw_case", "sleepy_runner", "trivial_runner"]

#: The LocalCluster every Dask measurement runs on: two single-threaded worker processes.
CLUSTER: dict[str, Any] = {"n_workers": 2, "threads_per_worker": 1, "dashboard_address": ":0"}


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


def fresh_folder(folder: str | Path) -> Path:
    """Empty ``folder`` and return its ``results`` subfolder, created."""
    folder = Path(folder)
    shutil.rmtree(folder, ignore_errors=True)
    results = folder / "results"
    results.mkdir(parents=True)
    return results


def raw_case(client: Any, workload: str, n: int, folder: str | Path) -> float:
    """Seconds of ``client.map`` + ``gather`` of the bare runner over ``n`` new result files.

    This is the floor every Dask contender is compared with: no store, no manifest, no
    bookkeeping, one task per run.
    """
    runner = RUNNERS[workload]
    results = fresh_folder(folder)
    params = [{"i": i, "result_file": str(results / f"{i}.txt")} for i in range(n)]
    start = time.perf_counter()
    futures = client.map(runner, params, pure=False)
    client.gather(futures)
    seconds = time.perf_counter() - start
    del futures
    return seconds
