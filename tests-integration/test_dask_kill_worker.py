"""A worker killed mid-sweep on a real ``dask scheduler`` / ``dask worker`` deployment.

Every point ends up stored exactly once with a complete file, whether the scheduler reruns the
lost task elsewhere (its default) or gives up on it with ``KilledWorker`` (no failures allowed),
in which case entropic-dask runs it in the client process with one warning.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from entropic import Base, Mapped, Store
from entropic.manifests import scan_manifests
from entropic.running import TEMP_DIR_NAME

distributed = pytest.importorskip("distributed")

from _daskrunner import HoldingRunner  # noqa: E402

from entropic_dask import DaskFallbackWarning  # noqa: E402

HERE = Path(__file__).parent
POINTS = 40


class KillPoint(Base):
    """One integer parameter."""

    __tablename__ = "dask_kill_points"

    x: Mapped[int]


class Deployment:
    """A scheduler and two workers, each its own process, on 127.0.0.1."""

    def __init__(self, folder: Path, allowed_failures: int) -> None:
        self.folder = folder
        self.scheduler_file = folder / "scheduler.json"
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
            "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": str(allowed_failures),
        }
        self.processes: list[subprocess.Popen[bytes]] = []
        self.workers: list[subprocess.Popen[bytes]] = []

    def _start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.folder / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            [sys.executable, "-m", *args], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        self.processes.append(proc)
        return proc

    def start(self) -> None:
        where = ["--scheduler-file", str(self.scheduler_file)]
        local = ["--host", "127.0.0.1", "--no-dashboard"]
        scheduler = self._start(
            "scheduler", "distributed.cli.dask_scheduler", *local, "--port", "0", *where
        )
        deadline = time.monotonic() + 60
        while not self._scheduler_file_ready():
            assert time.monotonic() < deadline, "the scheduler did not write its file"
            try:
                code = scheduler.wait(timeout=0.05)  # the poll's pause; notices a dead scheduler
            except subprocess.TimeoutExpired:
                continue
            raise AssertionError(f"the scheduler exited with {code}")
        for i in range(2):
            options = ["--nthreads", "1", "--no-nanny", "--name", f"worker{i}"]
            worker = self._start(
                f"worker{i}", "distributed.cli.dask_worker", *local, *where, *options
            )
            self.workers.append(worker)

    def _scheduler_file_ready(self) -> bool:
        try:
            return bool(json.loads(self.scheduler_file.read_text()).get("address"))
        except (FileNotFoundError, json.JSONDecodeError):
            return False

    def stop(self) -> None:
        """Stop the workers, then the scheduler (a worker whose scheduler is gone lingers)."""
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)


@pytest.fixture
def deployment(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Deployment]:
    folder = tmp_path / "dask"
    folder.mkdir()
    deployed = Deployment(folder, request.param)
    try:
        deployed.start()
        yield deployed
    finally:
        deployed.stop()


def kill_when_started(
    control: Path, victim: subprocess.Popen[bytes], done: threading.Event
) -> None:
    """Wait (up to a minute) for the victim to start a run, then SIGKILL it."""
    prefix = f"started-{victim.pid}-"
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(prefix) for p in control.iterdir()):
        if time.monotonic() > deadline or done.wait(0.01):
            return
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    ("deployment", "rerun_by"),
    [(3, "scheduler"), (0, "client")],
    indirect=["deployment"],
    ids=["dask-reruns-the-lost-task", "killed-worker-falls-back"],
)
def test_every_point_once_after_a_worker_is_killed(
    tmp_path: Path, deployment: Deployment, rerun_by: str, caplog: pytest.LogCaptureFixture
) -> None:
    control = tmp_path / "control"
    control.mkdir()
    victim, survivor = deployment.workers
    (control / f"hold-{victim.pid}").touch()
    results = tmp_path / "results"
    db = f"sqlite:///{tmp_path / 'kill.db'}"
    done = threading.Event()
    killer = threading.Thread(target=kill_when_started, args=(control, victim, done))
    with distributed.Client(
        scheduler_file=str(deployment.scheduler_file), set_as_default=False, timeout=60
    ) as client:
        client.wait_for_workers(2, timeout=60)
        with Store(HoldingRunner(control), KillPoint, results, ".json", db) as store:
            killer.start()
            try:
                with (
                    warnings.catch_warnings(record=True) as caught,
                    caplog.at_level(logging.INFO, logger="entropic_dask"),
                ):
                    warnings.simplefilter("always")
                    records = store.sweep([{"x": i} for i in range(POINTS)], client=client)
            finally:
                done.set()
                killer.join(timeout=60)
            assert victim.returncode == -signal.SIGKILL, "the victim was not killed mid-sweep"

            fallback = [str(w.message) for w in caught if w.category is DaskFallbackWarning]
            stored = store.find()
    assert [r.x for r in records] == list(range(POINTS))
    assert len(stored) == POINTS == len({r.id for r in stored})
    bodies: list[dict[str, Any]] = []
    for record in stored:
        body = json.loads(Path(record.result_file).read_text())
        assert body["x"] == record.x
        assert body["complete"] is True
        bodies.append(body)
    assert len(list(scan_manifests(results))) == POINTS
    leftovers = [p for p in (results / TEMP_DIR_NAME).rglob("*") if not p.is_dir()]
    assert leftovers == []
    assert "left by a lost worker" in caplog.text  # the victim's half-written file
    pids = {b["pid"] for b in bodies}
    assert victim.pid not in pids
    if rerun_by == "scheduler":
        assert fallback == []
        assert pids == {survivor.pid}
    else:
        assert len(fallback) == 1
        assert "KilledWorker" in fallback[0]
        assert os.getpid() in pids
        assert pids <= {survivor.pid, os.getpid()}
