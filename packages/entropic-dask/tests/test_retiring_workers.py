"""Workers that retire, are lost or are replaced in the middle of a sweep never fail it."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from entropic import Store

distributed = pytest.importorskip("distributed")

# the runner lives in a module the worker processes can import (not in this test module)
from _dask_helpers import Point, SlowRunner, params, read_result  # noqa: E402

from entropic_dask import DaskExecutor, DaskFallbackWarning  # noqa: E402

POINTS = 600


@pytest.fixture
def retiring_client() -> Iterator[distributed.Client]:
    """Two single-threaded worker processes that retire every 8 s and are started again."""
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            lifetime="8s",
            lifetime_stagger="2s",
            lifetime_restart=True,
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        client.wait_for_workers(1, timeout=60)
        yield client


@pytest.mark.timeout(240)
@pytest.mark.parametrize("pack", [1, 8])
def test_a_sweep_outlives_workers_that_retire(
    tmp_path: Path, calls: Path, retiring_client: distributed.Client, pack: int
) -> None:
    runner = SlowRunner(calls, 0.03)
    executor = DaskExecutor(client=retiring_client, pack=pack, window=32)
    db = f"sqlite:///{tmp_path / 'retiring.db'}"
    with (
        warnings.catch_warnings(record=True) as caught,
        Store(runner, Point, tmp_path / "results", ".json", db) as store,
    ):
        warnings.simplefilter("always")
        records = store.sweep(params(POINTS), executor=executor)
        stored = store.find()
    assert [r.x for r in records] == list(range(POINTS))
    assert len(stored) == POINTS == len({r.id for r in stored})
    pids = {read_result(r.result_file)["pid"] for r in stored}
    assert len(pids) > 2, "no worker was replaced during the sweep; the test proves nothing"
    # A retiring worker loses the runs it was doing and the results it held that were not
    # collected yet, at most the window; the scheduler runs those again, and nothing else.
    assert POINTS <= runner.count() <= POINTS + executor.max_in_flight * len(pids)
    print(f"pack={pack}: {POINTS} points, {runner.count()} runner calls, {len(pids)} workers")
    assert [w for w in caught if w.category is DaskFallbackWarning] == []


def test_sigterm_during_a_dask_sweep_keeps_what_finished_and_exits_143(tmp_path: Path) -> None:
    """SIGTERM on the Dask path: finished runs committed, claims released, status 143."""
    import subprocess
    import sys

    from sqlalchemy import create_engine, text

    child = Path(__file__).resolve().parents[2] / "entropic-core" / "tests" / "_signal_child.py"
    db = f"sqlite:///{tmp_path / 'term.sqlite3'}"
    done = subprocess.run(
        [sys.executable, str(child), db, str(tmp_path / "results"), "TERM", "4", "--dask"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 143, done.stderr[-2000:]
    said = [line for line in done.stderr.splitlines() if "terminated (SIGTERM)" in line]
    assert len(said) == 1
    engine = create_engine(db)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT count(*) FROM core_sim_results")).scalar_one()
            claims = conn.execute(text("SELECT count(*) FROM entropic_claims")).scalar_one()
    finally:
        engine.dispose()
    results = tmp_path / "results"
    files = {path.name: path.stat().st_ino for path in results.glob("*.txt")}
    assert f"{rows} of 10 runs are stored" in said[0]
    assert claims == 0
    # The runs finished before the signal are stored. Tasks the worker had already started go on
    # after the claims are released (Dask cannot stop a running task), so more files than rows
    # may be on disk: each is whole, with its manifest beside it.
    assert 4 <= rows <= len(files) < 11
    for name in files:
        assert (results / f".{name.removesuffix('.txt')}.entropic.json").is_file(), name
    # The same sweep again (serially, no signal) indexes those files instead of running them:
    # every file is the one the interrupted sweep wrote, and all ten runs are stored.
    again = subprocess.run(
        [sys.executable, str(child), db, str(results), "TERM", "-1"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    after = {path.name: path.stat().st_ino for path in results.glob("*.txt")}
    assert len(after) == 10
    assert {name: after[name] for name in files} == files
    engine = create_engine(db)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT count(*) FROM core_sim_results")).scalar_one()
            claims = conn.execute(text("SELECT count(*) FROM entropic_claims")).scalar_one()
    finally:
        engine.dispose()
    assert (rows, claims) == (10, 0)
