"""A LocalCluster with worker processes: the runs demonstrably happen in those processes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from entropic import Store

distributed = pytest.importorskip("distributed")

from _dask_helpers import Point, RecordingRunner, params, read_result  # noqa: E402

from entropic_dask import DaskExecutor  # noqa: E402


@pytest.fixture(scope="module")
def process_client() -> Iterator[distributed.Client]:
    """A client of a cluster with two worker processes of one thread each."""
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        client.wait_for_workers(2, timeout=60)
        yield client


@pytest.mark.parametrize("pack", [1, 4])
def test_runs_happen_in_the_worker_processes(
    tmp_path: Path, calls: Path, process_client: distributed.Client, pack: int
) -> None:
    worker_pids = set(process_client.run(os.getpid).values())
    assert len(worker_pids) == 2
    assert os.getpid() not in worker_pids
    runner = RecordingRunner(calls)
    db = f"sqlite:///{tmp_path / 'p.db'}"
    with Store(runner, Point, tmp_path / "results", ".json", db) as store:
        points = params(40)
        executor = DaskExecutor(client=process_client, pack=pack)
        records = store.sweep(points, executor=executor)
        assert [r.x for r in records] == list(range(40))
        pids = {read_result(r.result_file)["pid"] for r in records}
        assert pids <= worker_pids
        assert executor.fallback_runs == 0
        hosts = {r.custom_data["host"] for r in records}
        assert hosts == set(process_client.run(lambda: __import__("socket").gethostname()).values())
        assert store.count() == 40
        assert runner.count() == 40
