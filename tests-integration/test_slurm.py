"""Sweeps on a real SLURM cluster: dask-jobqueue workers, and array tasks that share one grid.

These tests need the one-node cluster that ``tests-integration/slurm/start-cluster.sh`` starts
(``.ci/run`` starts it before the tests). Without it they are skipped, unless ``CI`` is set, in
which case they fail. The batch jobs run as the current user on this machine, import the
simulation in ``_slurmsim.py`` and talk only to 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import _manywriters as mw
import _slurm
import pytest
from _slurmsim import calls_by_job
from sqlalchemy import create_engine, func, select, text

from entropic import Store, expand_grid
from entropic._internal import claims_table

ENTROPIC = str(Path(sys.executable).with_name("entropic"))
#: Runs in flight on the Dask cluster at most, in the dask-jobqueue test.
WINDOW = 16


@pytest.fixture(scope="session")
def slurm() -> None:
    """A SLURM cluster that can run jobs (skip without one; fail when ``CI`` is set)."""
    problem = _slurm.problem()
    if problem is not None:
        message = f"{problem}; start one with tests-integration/slurm/start-cluster.sh"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set, so this fails instead of skipping)")
        pytest.skip(message)


@pytest.fixture
def postgres_url() -> str:
    """The PostgreSQL test server (the array tasks are separate processes, on other "hosts")."""
    url = mw.POSTGRES_URL
    problem = mw.reachable(url)
    if problem is not None:
        message = f"postgresql server not reachable at {url}: {problem}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set, so this fails instead of skipping)")
        pytest.skip(message)
    return url


@pytest.fixture
def pg_table(postgres_url: str) -> Iterator[str]:
    """A fresh table name on PostgreSQL, dropped afterwards with entropic's notes about it."""
    name = mw.new_table_name()
    yield name
    mw.drop_table(postgres_url, name)


def claims_left(url: str, table: str) -> int:
    """Claims still held on ``table``."""
    query = select(func.count()).select_from(claims_table)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(query.where(claims_table.c.table_name == table)).scalar_one())
    finally:
        engine.dispose()


def stored_ids(url: str, table: str) -> list[str]:
    """The ids of the rows of ``table``."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            quoted = conn.dialect.identifier_preparer.quote(table)
            return [row[0] for row in conn.execute(text(f"SELECT id FROM {quoted}"))]
    finally:
        engine.dispose()


# ---------------------------------------------------------------------- dask-jobqueue


@pytest.mark.timeout(300)
def test_slurmcluster_sweep_on_postgresql(
    slurm: None, postgres_url: str, pg_table: str, tmp_path: Path
) -> None:
    """Two batch jobs of one Dask worker each, which retire and restart every few seconds."""
    dask_jobqueue = pytest.importorskip("dask_jobqueue")
    distributed = pytest.importorskip("distributed")
    import _slurmsim

    from entropic_dask import DaskExecutor

    calls = tmp_path / "calls"
    calls.mkdir()
    os.environ["ENTROPIC_SLURM_CALLS"] = str(calls)  # the jobs inherit the environment
    os.environ["ENTROPIC_SLURM_SECONDS"] = "0.05"
    points = [{"n": n, "x": x, "label": "slurm"} for n in range(120) for x in (0.5, 1.5)]
    cluster = dask_jobqueue.SLURMCluster(
        cores=1,
        processes=1,
        memory="1GB",
        walltime="00:10:00",
        queue="debug",
        interface="lo",
        python=sys.executable,
        log_directory=str(tmp_path / "jobs"),
        local_directory=str(tmp_path / "dask"),
        job_script_prologue=[f"export PYTHONPATH={_slurm.HERE}"],
        worker_extra_args=["--lifetime", "3s", "--lifetime-stagger", "1s", "--lifetime-restart"],
    )
    try:
        cluster.adapt(minimum_jobs=2, maximum_jobs=2)  # replaces a job that ends
        with distributed.Client(cluster, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=120)
            model = mw.point_model(pg_table)
            with Store(_slurmsim.run, model, tmp_path / "results", ".json", postgres_url) as store:
                executor = DaskExecutor(client=client, window=WINDOW)
                records = store.sweep(points, executor=executor)
                stored = store.find()
    finally:
        cluster.close()
        os.environ.pop("ENTROPIC_SLURM_CALLS", None)
        os.environ.pop("ENTROPIC_SLURM_SECONDS", None)
    assert [(r.n, r.x) for r in records] == [(p["n"], p["x"]) for p in points]
    assert len(stored) == len(points) == len({r.id for r in stored})
    bodies = [json.loads(Path(r.result_file).read_text()) for r in stored]
    jobs = {b["job"] for b in bodies}
    assert None not in jobs, "some runs did not happen in SLURM jobs"
    workers = {(b["job"], b["pid"]) for b in bodies}
    assert len(workers) > 2, "no worker retired and restarted during the sweep"
    calls_made = sum(calls_by_job(calls).values())
    # A worker that retires loses what it was running and the results it held that were not
    # collected yet (at most the window); the scheduler runs those again. Nothing else reruns.
    assert len(points) <= calls_made <= len(points) + WINDOW * len(workers)
    assert claims_left(postgres_url, pg_table) == 0
    print(
        f"SLURMCluster: {len(points)} points, {calls_made} runner calls, jobs {sorted(jobs)}, "
        f"{len(workers)} worker processes"
    )


# ---------------------------------------------------------------------- array tasks

GRID = {"n": list(range(40)), "x": [0.5, 1.5, 2.5]}


def _array_script(tmp_path: Path, *extra: str, walltime: str = "00:10:00") -> Path:
    """A batch script running ``entropic sweep`` on :data:`GRID` (``extra``: more options)."""
    script = tmp_path / f"sweep-{len(list(tmp_path.glob('sweep-*')))}.sbatch"
    grid = [f"--grid {key}={','.join(map(str, values))}" for key, values in GRID.items()]
    script.write_text(
        "#!/bin/bash\n"
        f"#SBATCH --ntasks=1 --cpus-per-task=1 --time={walltime}\n"
        f'exec "$ENTROPIC" --db "$ENTROPIC_DB_URL" --results-dir "$ENTROPIC_RESULTS_DIR" '
        f"sweep _slurmsim:run _slurmsim:SlurmPoint {' '.join(grid)} "
        f"--file-suffix .json --no-progress {' '.join(extra)}\n"
    )
    return script


def _array_env(url: str, table: str, tmp_path: Path, seconds: float) -> dict[str, str]:
    calls = tmp_path / "calls"
    calls.mkdir(exist_ok=True)
    return _slurm.job_env(
        ENTROPIC=ENTROPIC,
        ENTROPIC_DB_URL=url,
        ENTROPIC_RESULTS_DIR=str(tmp_path / "results"),
        ENTROPIC_SLURM_TABLE=table,
        ENTROPIC_SLURM_CALLS=str(calls),
        ENTROPIC_SLURM_SECONDS=str(seconds),
    )


@pytest.mark.timeout(300)
def test_array_tasks_share_one_grid_on_postgresql(
    slurm: None, postgres_url: str, pg_table: str, tmp_path: Path
) -> None:
    points = len(expand_grid(GRID))
    env = _array_env(postgres_url, pg_table, tmp_path, 0.1)
    job = _slurm.sbatch(
        ["--array=0-3", f"--output={tmp_path}/task-%a.out", str(_array_script(tmp_path))], env
    )
    _slurm.wait_until_ended([job], timeout=240)
    ended = _slurm.states(job)
    outputs = {p.name: p.read_text() for p in tmp_path.glob("task-*.out")}
    assert len(ended) == 4, ended
    assert all(state == ("COMPLETED", "0:0") for state in ended.values()), (ended, outputs)
    stored = stored_ids(postgres_url, pg_table)
    assert len(stored) == points == len(set(stored))
    shares = calls_by_job(tmp_path / "calls")
    assert sum(shares.values()) == points, shares  # every point ran once, in one of the tasks
    assert len(shares) >= 2, f"one task ran the whole grid: {shares}"
    assert claims_left(postgres_url, pg_table) == 0
    print(f"array: {points} points, runs by task {dict(sorted(shares.items()))}")


def _wait_for_calls(calls: Path, task: str, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while calls_by_job(calls).get(task, 0) < count:
        assert time.monotonic() < deadline, f"task {task} made fewer than {count} runs"
        time.sleep(0.05)  # the poll's pause


@pytest.mark.timeout(300)
def test_a_cancelled_array_task_resubmitted(
    slurm: None, postgres_url: str, pg_table: str, tmp_path: Path
) -> None:
    """``scancel`` one task mid-run, submit it again: every point once, nothing run twice
    beyond the run it was in the middle of."""
    points = len(expand_grid(GRID))
    env = _array_env(postgres_url, pg_table, tmp_path, 0.15)
    script = str(_array_script(tmp_path))
    job = _slurm.sbatch(["--array=0-2", f"--output={tmp_path}/task-%a.out", script], env)
    _wait_for_calls(tmp_path / "calls", "1", 3, timeout=120)
    subprocess.run(["scancel", f"{job}_1"], timeout=30, check=True)
    _slurm.wait_until_ended([f"{job}_1"], timeout=120)
    again = _slurm.sbatch(["--array=1", f"--output={tmp_path}/again-%a.out", script], env)
    _slurm.wait_until_ended([job, again], timeout=240)
    first, second = _slurm.states(job), _slurm.states(again)
    outputs = {p.name: p.read_text() for p in tmp_path.glob("*.out")}
    assert first[f"{job}_1"][0] == "CANCELLED", (first, outputs)
    assert first[f"{job}_0"] == first[f"{job}_2"] == ("COMPLETED", "0:0"), (first, outputs)
    assert second[f"{again}_1"] == ("COMPLETED", "0:0"), (second, outputs)
    stored = stored_ids(postgres_url, pg_table)
    assert len(stored) == points == len(set(stored))
    calls_made = sum(calls_by_job(tmp_path / "calls").values())
    assert points <= calls_made <= points + 1  # the serial sweep had one run in flight
    assert claims_left(postgres_url, pg_table) == 0
    print(f"scancel + resubmit: {points} points, {calls_made} runner calls, tasks {first}")


# ---------------------------------------------------------------------- walltime


@pytest.mark.timeout(300)
def test_time_limit_ends_a_task_inside_its_walltime(
    slurm: None, postgres_url: str, pg_table: str, tmp_path: Path
) -> None:
    """``--time-limit`` a little under the walltime: the task stops starting runs and exits 3."""
    env = _array_env(postgres_url, pg_table, tmp_path, 0.5)  # 120 points: a minute of work
    script = _array_script(tmp_path, "--time-limit", "15s", walltime="00:01:00")
    job = _slurm.sbatch([f"--output={tmp_path}/limited.out", str(script)], env)
    _slurm.wait_until_ended([job], timeout=200)
    state, code = _slurm.states(job)[job]
    output = (tmp_path / "limited.out").read_text()
    assert (state, code) == ("FAILED", "3:0"), output  # exit status 3, not TIMEOUT
    calls_made = sum(calls_by_job(tmp_path / "calls").values())
    stored = stored_ids(postgres_url, pg_table)
    assert 0 < len(stored) == calls_made < len(expand_grid(GRID))  # runs in flight finished
    assert claims_left(postgres_url, pg_table) == 0
    assert "--time-limit" in output or "time limit" in output, output
    said = output.strip().splitlines()[-1]
    print(f"--time-limit 15s: {calls_made} runner calls, {len(stored)} rows; said: {said!r}")


@pytest.mark.timeout(400)
def test_walltime_without_time_limit_ends_by_sigterm_cleanly(
    slurm: None, postgres_url: str, pg_table: str, tmp_path: Path
) -> None:
    """SLURM ends the task at its walltime with SIGTERM: what finished is kept, claims go."""
    env = _array_env(postgres_url, pg_table, tmp_path, 1.0)  # 120 points: two minutes of work
    script = _array_script(tmp_path, walltime="00:01:00")
    job = _slurm.sbatch([f"--output={tmp_path}/walltime.out", str(script)], env)
    _slurm.wait_until_ended([job], timeout=330)
    state, code = _slurm.states(job)[job]
    output = (tmp_path / "walltime.out").read_text()
    assert state == "TIMEOUT", (state, code, output)
    calls_made = sum(calls_by_job(tmp_path / "calls").values())
    stored = stored_ids(postgres_url, pg_table)
    # the run in flight when SIGTERM came is not stored; every finished one is
    assert 0 < calls_made - 1 <= len(stored) <= calls_made < len(expand_grid(GRID))
    assert claims_left(postgres_url, pg_table) == 0
    assert f"{len(stored)} of {len(expand_grid(GRID))} runs are stored" in output, output
    said = output.strip().splitlines()[-1]
    print(f"walltime: {calls_made} runner calls, {len(stored)} rows; said: {said!r}")


# ---------------------------------------------------------------------- the shipped examples

EXAMPLES = _slurm.HERE.parent / "examples" / "slurm"


@pytest.mark.timeout(300)
def test_the_examples_run_as_shipped(
    slurm: None, postgres_url: str, pg_table: str, tmp_path: Path
) -> None:
    """examples/slurm: the array script and the dask-jobqueue script, copied and run as they are."""
    pytest.importorskip("dask_jobqueue")
    for name in ("sim.py", "array-sweep.sbatch", "dask_sweep.py"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    venv = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": os.pathsep.join([venv, os.environ.get("PATH", "")]),
        "ENTROPIC_DB_URL": postgres_url,
        "SIM_TABLE": pg_table,
    }
    job = subprocess.run(
        ["sbatch", "--parsable", "array-sweep.sbatch"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    _slurm.wait_until_ended([job], timeout=240)
    ended = _slurm.states(job)
    outputs = {p.name: p.read_text() for p in tmp_path.glob("slurm-*.out")}
    assert len(ended) == 4, ended
    assert all(state == ("COMPLETED", "0:0") for state in ended.values()), (ended, outputs)
    assert len(stored_ids(postgres_url, pg_table)) == 200
    bodies = [json.loads(p.read_text()) for p in (tmp_path / "results").glob("*.json")]
    tasks = {body["task"] for body in bodies if "x_final" in body}  # not the manifests
    print(f"array example: 200 points stored by tasks {sorted(tasks)}")

    dask_table = mw.new_table_name()
    dask_results = tmp_path / "dask-results"  # the array's files would be indexed, not run
    try:
        done = subprocess.run(
            [sys.executable, "dask_sweep.py", "--interface", "lo", "--no-fallback"],
            cwd=tmp_path,
            env={**env, "SIM_TABLE": dask_table, "ENTROPIC_RESULTS_DIR": str(dask_results)},
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        expected = "200 points: 200 stored by this sweep (0 run in this process), 0 stored before"
        assert expected in done.stdout, done.stdout
        assert len(stored_ids(postgres_url, dask_table)) == 200
        bodies = [json.loads(p.read_text()) for p in dask_results.glob("*.json")]
        jobs = {body["job"] for body in bodies if "x_final" in body}
        assert jobs, "no run happened"
        assert None not in jobs, "some runs did not happen in a SLURM job"
        print(f"dask example: {done.stdout.strip()!r}")
    finally:
        mw.drop_table(postgres_url, dask_table)
