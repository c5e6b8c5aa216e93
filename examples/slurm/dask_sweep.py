"""entropic sweep on Dask workers that dask-jobqueue submits as SLURM batch jobs.

Run it where you submit jobs from (a login node), with the environment that has entropic,
entropic-dask and dask-jobqueue installed; the batch jobs start the same Python:

    export ENTROPIC_DB_URL=postgresql+psycopg://user@dbhost/dbname   # or leave the SQLite default
    python dask_sweep.py                     # 200 points on up to 2 jobs of 1 worker each
    python dask_sweep.py --jobs 8 --partition compute --account my-project --walltime 02:00:00

This process holds the Store, runs the Dask scheduler and is the only one that opens the
database; the workers run ``sim.run`` and write into the results folder, which must be on a
filesystem every node sees at the same path. Each worker retires a little before its job's
walltime (``--lifetime``) and ``adapt`` submits a fresh job in its place; a run cut short there
runs again on another worker. Interrupted (Ctrl-C, or SIGTERM from a scheduler), the sweep
keeps what finished and the same command resumes.

ADAPT: ``--partition``, ``--account``, ``--memory``, ``--walltime`` (and ``--interface`` on a
cluster whose nodes talk over a fast network such as ``ib0``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from dask_jobqueue import SLURMCluster
from distributed import Client

from entropic import Store, expand_grid
from entropic_dask import DaskExecutor

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from sim import Result, run  # noqa: E402  (the simulation beside this script)

GRID = {
    "k": [round(0.1 * i, 1) for i in range(1, 21)],
    "dt": [0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005, 0.0002, 0.0001],
}


def lifetime(walltime: str) -> tuple[str, str]:
    """Worker lifetime and stagger for a job's walltime: retire before SLURM ends the job."""
    h, m, s = (int(part) for part in walltime.split(":"))
    seconds = 3600 * h + 60 * m + s
    margin = max(60, seconds // 10)  # leave a tenth (at least a minute) for the retirement
    return f"{seconds - margin}s", f"{max(margin // 4, 5)}s"


def main() -> None:
    """Start the cluster, sweep the grid, report what ran."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="most batch jobs at once")
    parser.add_argument("--partition", default="debug", help="ADAPT: the SLURM partition")
    parser.add_argument("--account", default=None, help="ADAPT: the account to charge")
    parser.add_argument("--memory", default="1GB", help="ADAPT: memory per job")
    parser.add_argument("--walltime", default="00:30:00", help="ADAPT: walltime per job")
    parser.add_argument("--interface", default=None, help="network interface (e.g. ib0, lo)")
    parser.add_argument(
        "--no-fallback", action="store_true", help="fail instead of running here if Dask cannot"
    )
    args = parser.parse_args()

    db_url = os.environ.get("ENTROPIC_DB_URL", f"sqlite:///{Path.cwd() / 'slurm-sweep.sqlite3'}")
    results = Path(os.environ.get("ENTROPIC_RESULTS_DIR", Path.cwd() / "results")).resolve()
    live, stagger = lifetime(args.walltime)
    cluster = SLURMCluster(
        queue=args.partition,
        account=args.account,
        cores=1,  # one job: one core...
        processes=1,  # ...running one single-threaded worker
        memory=args.memory,
        walltime=args.walltime,
        interface=args.interface,
        python=sys.executable,
        job_script_prologue=[f"export PYTHONPATH={HERE}"],  # the workers import sim
        worker_extra_args=["--lifetime", live, "--lifetime-stagger", stagger],
        log_directory=str(Path.cwd() / "dask-logs"),
    )
    cluster.adapt(minimum_jobs=1, maximum_jobs=args.jobs)
    points = expand_grid(GRID)
    started = time.perf_counter()
    with cluster, Client(cluster) as client, Store(run, Result, results, ".json", db_url) as store:
        executor = DaskExecutor(client=client, fallback=not args.no_fallback)
        before = store.count()
        records = store.sweep(points, executor=executor)
        ran = store.count() - before
    took = time.perf_counter() - started
    here = executor.fallback_runs
    print(
        f"{len(records)} points: {ran} stored by this sweep ({here} run in this process), "
        f"{len(records) - ran} stored before"
    )
    print(f"took {took:.1f} s; results in {results}")


if __name__ == "__main__":
    main()
