"""The same sweep by each path of the HPC guide: serial, LocalCluster, SLURMCluster, array tasks.

Needs a SLURM cluster (``tests-integration/slurm/start-cluster.sh`` starts a one-node one),
PostgreSQL, and an environment with entropic-core, entropic-dask, entropic-cli, dask-jobqueue
and psycopg::

    python benchmarks/hpc_paths.py [--points 500] [--seconds 0.02] [--workers 2] \\
        [--db postgresql+psycopg://postgres@127.0.0.1:5432/test] [--interface lo]

Each path sweeps ``points`` runs of ``seconds`` each (``examples/slurm/sim.py``) into a fresh
table and results folder, and is timed from the moment it is asked to start (so the SLURM
paths include queueing and starting the jobs) to the moment every point is stored. ``workers``
sets the parallelism of each path: LocalCluster worker processes, SLURM jobs of one Dask worker,
array tasks. The table is printed as Markdown; the tables are dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SIM = ROOT / "examples" / "slurm"


def _grid(points: int) -> dict[str, list[float]]:
    dts = [0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005, 0.0002, 0.0001]
    ks = [round(0.01 * (i + 1), 2) for i in range(-(-points // len(dts)))]
    return {"k": ks, "dt": dts}


def _python_path() -> str:
    """``PYTHONPATH`` for the jobs: the simulation's folder, then this process's own."""
    return os.pathsep.join(filter(None, [str(SIM), os.environ.get("PYTHONPATH")]))


def _table() -> str:
    return f"bench_{uuid.uuid4().hex[:10]}"


def _drop(url: str, table: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        quoted = conn.dialect.identifier_preparer.quote(table)
        conn.execute(text(f"DROP TABLE IF EXISTS {quoted}"))
        for internal in ("entropic_meta", "entropic_params", "entropic_claims"):
            if conn.dialect.has_table(conn, internal):
                conn.execute(text(f"DELETE FROM {internal} WHERE table_name = :t"), {"t": table})
    engine.dispose()


def _store(table: str, results: Path, url: str) -> Any:
    os.environ["SIM_TABLE"] = table
    sys.modules.pop("sim", None)
    import sim

    from entropic import Store

    return Store(sim.run, sim.Result, results, ".json", url)


def serial(args: argparse.Namespace, table: str, work: Path) -> str:
    from entropic import expand_grid

    points = expand_grid(_grid(args.points))[: args.points]
    with _store(table, work / "results", args.db) as store:
        store.sweep(points)
        assert store.count() == args.points
    return "one process"


def local_cluster(args: argparse.Namespace, table: str, work: Path) -> str:
    from distributed import Client, LocalCluster

    from entropic import expand_grid

    points = expand_grid(_grid(args.points))[: args.points]
    with (
        LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=":0") as c,
        Client(c) as client,
        _store(table, work / "results", args.db) as store,
    ):
        store.sweep(points, client=client)
        assert store.count() == args.points
    return f"{args.workers} worker processes, cluster start included"


def slurm_cluster(args: argparse.Namespace, table: str, work: Path) -> str:
    from dask_jobqueue import SLURMCluster
    from distributed import Client

    from entropic import expand_grid

    points = expand_grid(_grid(args.points))[: args.points]
    cluster = SLURMCluster(
        cores=1,
        processes=1,
        memory="1GB",
        walltime="00:20:00",
        queue=args.partition,
        interface=args.interface,
        python=sys.executable,
        job_script_prologue=[f"export PYTHONPATH={_python_path()}", f"export SIM_TABLE={table}"],
        log_directory=str(work / "jobs"),
    )
    with cluster, Client(cluster) as client, _store(table, work / "results", args.db) as store:
        cluster.scale(jobs=args.workers)
        started = time.perf_counter()
        client.wait_for_workers(args.workers, timeout=300)
        waited = time.perf_counter() - started
        store.sweep(points, client=client)
        assert store.count() == args.points
    return f"{args.workers} jobs of 1 worker; {waited:.1f} s of it until the workers joined"


def array_tasks(args: argparse.Namespace, table: str, work: Path) -> str:
    grid = _grid(args.points)
    assert len(grid["k"]) * len(grid["dt"]) == args.points, "points must be a multiple of 10"
    options = [f"--grid {key}={','.join(map(str, values))}" for key, values in grid.items()]
    entropic = Path(sys.executable).with_name("entropic")
    script = work / "array.sbatch"
    script.write_text(
        "#!/bin/bash\n"
        f"#SBATCH --ntasks=1 --cpus-per-task=1 --time=00:20:00 --partition={args.partition}\n"
        f'exec {entropic} --db "{args.db}" --results-dir "{work / "results"}" '
        f"sweep sim:run sim:Result {' '.join(options)} --file-suffix .json --no-progress\n"
    )
    env = {**os.environ, "PYTHONPATH": _python_path(), "SIM_TABLE": table}
    job = subprocess.run(
        [
            "sbatch",
            "--parsable",
            f"--array=0-{args.workers - 1}",
            f"--output={work}/%a.out",
            str(script),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    deadline = time.monotonic() + 600
    while subprocess.run(
        ["squeue", "-h", "-j", job], capture_output=True, text=True, check=False
    ).stdout.strip():
        if time.monotonic() > deadline:
            subprocess.run(["scancel", job], check=False)
            raise SystemExit(f"array job {job} did not end within 10 minutes")
        time.sleep(0.1)  # the poll's pause
    with _store(table, work / "results", args.db) as store:
        assert store.count() == args.points, store.count()
    return f"{args.workers} tasks running `entropic sweep`, process start included"


PATHS: dict[str, Callable[[argparse.Namespace, str, Path], str]] = {
    "serial": serial,
    "LocalCluster": local_cluster,
    "SLURMCluster": slurm_cluster,
    "array tasks": array_tasks,
}


def main() -> None:
    """Time each path and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=0.02)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partition", default="debug")
    parser.add_argument("--interface", default="lo")
    parser.add_argument("--db", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--only", action="append", choices=sorted(PATHS), help="repeatable")
    args = parser.parse_args()
    os.environ["SIM_SECONDS"] = str(args.seconds)  # the jobs and workers inherit it
    sys.path.insert(0, str(SIM))
    floor = args.points * args.seconds
    rows = []
    for name, path in PATHS.items():
        if args.only and name not in args.only:
            continue
        table = _table()
        with tempfile.TemporaryDirectory(prefix="entropic-hpc-", dir=Path.cwd()) as folder:
            started = time.perf_counter()
            try:
                note = path(args, table, Path(folder))
            finally:
                took = time.perf_counter() - started
                _drop(args.db, table)
        ideal = floor if name == "serial" else floor / args.workers
        rows.append((name, took, args.points / took, took / ideal, note))
        print(f"{name}: {took:.1f} s", file=sys.stderr)
    print(f"\n{args.points} runs of {args.seconds * 1000:.0f} ms, PostgreSQL\n")
    print("| path | wall time | runs/s | x the ideal | notes |")
    print("|---|---:|---:|---:|---|")
    for name, took, rate, ratio, note in rows:
        print(f"| {name} | {took:.1f} s | {rate:.0f} | {ratio:.2f} | {note} |")


if __name__ == "__main__":
    main()
