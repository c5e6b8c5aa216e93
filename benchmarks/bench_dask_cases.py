"""The Dask sweeps of new runs: ours and raw ``client.map`` on one cluster, 2.3.0 on its own.

:func:`measure_dask` returns one :class:`DaskCase` per workload and size; the Dask table is
rendered by :func:`bench_report.render_dask`.
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_config import HERE, Config
from bench_measuring import Row, Runner, log

__all__ = ["DASK_NAMES", "DASK_PACKS", "DASK_TARGETS", "DaskCase", "measure_dask"]


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
    log("Dask: starting a LocalCluster of 2 worker processes")
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
                    log(f"Dask {workload} x {n:,}: ours and raw done")
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
    log(f"Dask {case.workload} x {case.n:,}: entropic 2.3.0 done")
