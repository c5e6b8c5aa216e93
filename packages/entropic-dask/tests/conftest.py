"""Fixtures for the Dask executor's tests: clusters, clients, a store and runners."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from distributed import Client, LocalCluster

from entropic import Store

sys.path.insert(0, str(Path(__file__).parent))

from _dask_helpers import Point, RecordingRunner, TaskCounter


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """A fast in-process cluster: two workers of two threads."""
    with LocalCluster(
        n_workers=2, threads_per_worker=2, processes=False, dashboard_address=":0"
    ) as c:
        yield c


@pytest.fixture
def client(cluster: LocalCluster) -> Iterator[Client]:
    """A client of the in-process cluster, not made the current one."""
    with Client(cluster, set_as_default=False) as c:
        yield c


@pytest.fixture
def counter(cluster: LocalCluster) -> Iterator[TaskCounter]:
    """A :class:`TaskCounter` installed on the in-process cluster's scheduler."""
    plugin = TaskCounter()
    cluster.scheduler.add_plugin(plugin)
    yield plugin
    cluster.scheduler.remove_plugin(name=plugin.name)


@pytest.fixture
def calls(tmp_path: Path) -> Path:
    """A folder where runners note their calls."""
    folder = tmp_path / "calls"
    folder.mkdir()
    return folder


@pytest.fixture
def runner(calls: Path) -> RecordingRunner:
    """A runner that writes JSON results and counts its calls."""
    return RecordingRunner(calls)


@pytest.fixture
def store(tmp_path: Path, runner: RecordingRunner) -> Iterator[Store[Point]]:
    """A fresh SQLite store with :class:`RecordingRunner`."""
    with Store(runner, Point, tmp_path / "results", ".json", f"sqlite:///{tmp_path / 'db'}") as s:
        yield s
