"""The published entropic 2.3.0's Dask sweep, on the same workload and cluster as ours.

Imported ONLY in the separate environment that ``nox -s bench`` makes for entropic 2.3.0 (its
import name is ours). ``bench_legacy.py entropic230 dask ...`` calls :func:`measure`.

2.3.0's public API for this is ``Store.sweep(params, client=client)``: it maps the store's run
method over the missing parameter sets with ``client.map``, gathers, and then indexes the JSON
files the runs left behind into its database. The model lives here, at module level, because
the workers unpickle the store (and with it the model class) by name.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

import cloudpickle
from distributed import Client, LocalCluster
from sqlalchemy import Integer
from sqlalchemy.orm import mapped_column

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dask_common
from dask_common import CLUSTER, RUNNERS, fresh_folder, raw_case

from entropic import Base, Store  # the published 2.3.0 in this environment

__all__ = ["LegacyDaskRun", "measure", "sweep_case"]

# The same runners as on our side, sent to the workers by value as ours are.
cloudpickle.register_pickle_by_value(dask_common)


class LegacyDaskRun(Base):  # type: ignore[misc,valid-type,unused-ignore]
    """The benchmark's record in entropic 2.3.0: one integer parameter."""

    __tablename__ = "dask_bench_results"

    i = mapped_column(Integer, nullable=False)


def sweep_case(client: Any, workload: str, n: int, folder: str | Path) -> float:
    """Seconds of entropic 2.3.0's ``Store.sweep(params, client=client)`` over ``n`` new runs."""
    results = fresh_folder(folder)
    store = Store(
        RUNNERS[workload],
        LegacyDaskRun,
        results_dir=results,
        file_suffix=".txt",
        db_url=f"sqlite:///{Path(folder) / 'db.sqlite3'}",
    )
    params = [{"i": i} for i in range(n)]
    start = time.perf_counter()
    records = store.sweep(params, client=client)
    seconds = time.perf_counter() - start
    if len(records) != n:
        raise AssertionError(f"entropic 2.3.0's sweep returned {len(records)} records, not {n}")
    return seconds


def measure(workdir: Path, n: int, workload: str, rounds: int) -> dict[str, Any]:
    """Time raw ``client.map`` and 2.3.0's sweep in turns on a fresh LocalCluster.

    Returns every round's seconds for both, and their medians; 2.3.0's ratio is taken against
    the raw floor measured here, on the same cluster.
    """
    cases = {"raw": raw_case, "entropic230": sweep_case}
    names = list(cases)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    folder = workdir / "case"
    with LocalCluster(**CLUSTER) as cluster, Client(cluster) as client:
        client.run(lambda: None)
        for name in names:  # warm-up: start the workers' imports before the first timing
            for warm in RUNNERS:
                cases[name](client, warm, 20, folder)
        for r in range(rounds):
            for name in names[r % 2 :] + names[: r % 2]:
                seconds[name].append(cases[name](client, workload, n, folder))
    return {
        "n": n,
        "workload": workload,
        "rounds": seconds,
        "median": {name: statistics.median(values) for name, values in seconds.items()},
    }
