"""Run every benchmark side by side and write one table of figures and ratios.

``nox -s bench`` runs this in an environment with our packages, and hands it the interpreter
of a separate environment that holds the published entropic 2.3.0, signac, joblib and Dask::

    python benchmarks/bench_run.py --legacy-python PATH [--quick] [--repeats N] [--memory-n N]
        [--misses N] [--no-postgres] [--dask-sizes 2000,20000] [--dask-rounds N] [--dask-only]

Every measurement runs in a fresh process (``bench_ours.py`` or ``bench_legacy.py``) that
prints JSON, except the Dask sweeps: ours and raw ``client.map`` share one LocalCluster in this
process (``dask_bench.py``), and entropic 2.3.0's runs on a cluster of its own environment
(``legacy_dask.py``). For each workload the contenders alternate, round after round, and the
table shows the median of the rounds with their spread. The table is printed and written, with
the raw figures as JSON, to ``benchmarks/results/latest.md`` and ``latest.json``.

The work is split by job: :mod:`bench_config` (options and sizes), :mod:`bench_machine` (the
machine's facts), :mod:`bench_measuring` (processes, alternating rounds, targets),
:mod:`bench_workloads` and :mod:`bench_dask_cases` (what is measured), :mod:`bench_report`
(the Markdown and JSON output).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_config import Config, parse
from bench_dask_cases import DaskCase, measure_dask
from bench_machine import machine
from bench_measuring import Row, Runner, log, ratio_target
from bench_operating import measure_operating
from bench_provenance import measure_provenance
from bench_report import render, render_dask, write
from bench_workloads import (
    cleanup,
    measure_load,
    measure_memory,
    measure_postgres,
    measure_sqlite,
)

__all__ = ["Config", "DaskCase", "Row", "machine", "main", "ratio_target", "render", "render_dask"]


def _versions(run: Runner, legacy: bool) -> dict[str, Any]:
    versions = {"this environment": run("ours", "info", "info")}
    if legacy:
        versions["entropic 2.3.0 environment"] = run("entropic230", "info", "info")
    return versions


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks; print the table and write it to ``benchmarks/results/``."""
    args, config = parse(argv, __doc__)
    legacy = args.legacy_python is not None
    workdir = Path(tempfile.mkdtemp(prefix="entropic-bench-"))
    run = Runner(args.legacy_python, workdir)
    start = time.perf_counter()
    rows: list[Row] = []
    try:
        facts = machine(postgres=config.postgres)
        info = {"machine": facts, "versions": _versions(run, legacy)}
        if not args.dask_only:
            rows += measure_sqlite(run, config, legacy)
            if config.postgres:
                answered = facts["postgresql"] != "not reachable"
                rows += measure_postgres(run, config, facts["postgresql"] if answered else None)
            rows.append(measure_memory(run, config))
        dask, problems = measure_dask(run, config, workdir)
        rows += problems
        if not args.dask_only:
            rows += measure_load(config, workdir)
            rows += measure_operating(config, workdir)
            rows += measure_provenance(config, workdir)
    finally:
        cleanup(run, config)
        if args.keep:
            log(f"scratch folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.perf_counter() - start
    if not legacy and rows:
        rows[0].notes.append("entropic 2.3.0, signac and joblib not measured (no --legacy-python)")
    report = render(rows, info, config, elapsed, dask)
    print(report)
    payload = {
        "info": info,
        "config": config.__dict__,
        "elapsed_seconds": elapsed,
        "rows": [row.__dict__ for row in rows],
        "dask": [case.__dict__ for case in dask],
    }
    write(args.out, report, payload)
    log(f"written to {args.out / 'latest.md'} and latest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
