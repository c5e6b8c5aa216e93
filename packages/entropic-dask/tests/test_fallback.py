"""When the cluster cannot take runs: refused fallbacks, the causes named, waiting for workers."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from entropic import EntropicError, FallbackRefusedError, RunTask, Store

distributed = pytest.importorskip("distributed")

from _dask_helpers import Point, RecordingRunner, params  # noqa: E402

from entropic_dask import DaskExecutor, DaskFallbackWarning, NoWorkerWarning  # noqa: E402


def test_refused_fallback_raises_instead_of_running_here(
    store: Store[Point], cluster: distributed.LocalCluster, runner: RecordingRunner
) -> None:
    client = distributed.Client(cluster, set_as_default=False)
    client.close()
    executor = DaskExecutor(client=client, fallback=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DaskFallbackWarning)
        with pytest.raises(FallbackRefusedError) as caught:
            store.sweep(params(25), executor=executor)
    assert isinstance(caught.value, EntropicError)
    assert isinstance(caught.value, RuntimeError)
    assert "client is closed" in str(caught.value)
    # the store hands its runs over as it claims them, so how many are left is not known here
    assert caught.value.remaining in (25, None)
    assert caught.value.causes == ["the Dask client is closed"]
    assert runner.count() == 0
    assert store.count() == 0
    assert executor.fallback_runs == 0


def test_refused_fallback_counts_the_runs_it_did_not_perform(
    tmp_path: Path, cluster: distributed.LocalCluster, runner: RecordingRunner
) -> None:
    client = distributed.Client(cluster, set_as_default=False)
    client.close()
    tasks = [
        RunTask(
            id=f"run{i}",
            params={**p, "id": f"run{i}"},
            result_file=str(tmp_path / f"run{i}.json"),
            results_dir=str(tmp_path),
        )
        for i, p in enumerate(params(7))
    ]
    with pytest.raises(FallbackRefusedError) as caught:
        list(DaskExecutor(client=client, fallback=False).execute(tasks, runner))
    assert caught.value.remaining == 7
    assert runner.count() == 0


class _Kept(logging.Handler):
    """Keeps every record logged to it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_refused_fallback_for_a_runner_that_cannot_be_pickled(
    tmp_path: Path, client: distributed.Client
) -> None:
    """One error that names the cause once; distributed logs no traceback of its own."""
    from distributed.protocol import pickle as dask_pickle

    lock = threading.Lock()

    def runner(p: dict[str, Any]) -> None:  # closes over a lock: cannot be pickled
        with lock:
            Path(p["result_file"]).write_text("{}")

    pickling = logging.getLogger(dask_pickle.__name__)
    filters = list(pickling.filters)
    kept = _Kept()
    pickling.addHandler(kept)
    try:
        db = f"sqlite:///{tmp_path / 'u.db'}"
        with Store(runner, Point, tmp_path / "r", ".json", db) as store:
            with pytest.raises(FallbackRefusedError, match="cannot be pickled") as caught:
                store.sweep(params(5), executor=DaskExecutor(client=client, fallback=False))
            assert store.count() == 0
        assert kept.records == []  # the check logged nothing: no ERROR, no traceback
        assert pickling.filters == filters  # and left the logger as it found it
        with pytest.raises(TypeError):  # outside the check, a failure is logged as before
            dask_pickle.dumps(lock)
        assert [r.levelno for r in kept.records] == [logging.ERROR]
    finally:
        pickling.removeHandler(kept)
    message = str(caught.value)
    assert message.count("cannot pickle '_thread.lock' object") == 1, message
    # plain pickle's failure on the local function is an attempt cloudpickle gets past, not a
    # cause; the lock is
    assert "local object" not in message
    assert "reported as" not in message


def test_a_cause_that_reads_as_what_it_was_reported_as_is_said_once() -> None:
    from entropic_dask._failures import describe as _describe

    same = TypeError("cannot pickle 'x'")
    same.__cause__ = TypeError("cannot pickle 'x'")
    assert _describe(same) == "TypeError: cannot pickle 'x'"
    wrapped = RuntimeError("different environments")
    wrapped.__cause__ = ModuleNotFoundError("No module named 'sim'")
    assert _describe(wrapped) == (
        "ModuleNotFoundError: No module named 'sim' (reported as RuntimeError: different "
        "environments)"
    )
    attempt = TypeError("cannot pickle '_thread.lock' object")
    attempt.__context__ = AttributeError("Can't pickle local object 'f.<locals>.g'")
    assert _describe(attempt, implicit=False) == "TypeError: cannot pickle '_thread.lock' object"
    assert _describe(attempt).startswith("AttributeError: ")


def test_a_scheduler_without_the_runners_module(tmp_path: Path) -> None:
    """The scheduler cannot import ``sim``: the warning, or the error, names that cause."""
    module = tmp_path / "only-here"
    module.mkdir()
    (module / "entropic_test_sim.py").write_text(
        textwrap.dedent(
            """
            from pathlib import Path

            def run(p):
                Path(p["result_file"]).write_text('{"ok": true}')
            """
        )
    )
    sys.path.insert(0, str(module))
    try:
        import entropic_test_sim
    finally:
        sys.path.remove(str(module))
    scheduler_file = tmp_path / "scheduler.json"
    log = (tmp_path / "scheduler.log").open("wb")
    scheduler = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(scheduler_file),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        deadline = time.monotonic() + 60
        while not _address(scheduler_file):
            assert time.monotonic() < deadline, "the scheduler did not write its file"
            with pytest.raises(subprocess.TimeoutExpired):
                scheduler.wait(timeout=0.05)  # the poll's pause; a dead scheduler fails here
        with distributed.Client(
            scheduler_file=str(scheduler_file), set_as_default=False, timeout=60
        ) as client:
            db = f"sqlite:///{tmp_path / 'sim.db'}"
            with Store(entropic_test_sim.run, Point, tmp_path / "r", ".json", db) as store:
                refusing = DaskExecutor(client=client, fallback=False, window=8)
                with pytest.raises(FallbackRefusedError) as caught:
                    store.sweep(params(20), executor=refusing)
                assert "No module named 'entropic_test_sim'" in str(caught.value)
                assert caught.value.causes[0].startswith("ModuleNotFoundError")
                remaining = caught.value.remaining
                assert remaining is None or 0 < remaining <= 20
                assert store.count() == 0

                with warnings.catch_warnings(record=True) as seen:
                    warnings.simplefilter("always")
                    records = store.sweep(params(20), client=client)
                assert len(records) == 20
                (message,) = [str(w.message) for w in seen if w.category is DaskFallbackWarning]
                assert "20 runs of this sweep run in this process" in message
                assert "ModuleNotFoundError: No module named 'entropic_test_sim'" in message
                assert "\n" not in message
                assert message.endswith("(DaskExecutor(fallback=False) refuses this instead)")
    finally:
        scheduler.terminate()
        scheduler.wait(timeout=30)


def _address(scheduler_file: Path) -> str | None:
    try:
        address = json.loads(scheduler_file.read_text()).get("address")
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return str(address) if address else None


class _Seen(logging.Handler):
    """Sets ``event`` when a record containing ``text`` is logged."""

    def __init__(self, text: str) -> None:
        super().__init__(logging.WARNING)
        self.text = text
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.event.set()


@pytest.fixture
def empty_cluster() -> Iterator[distributed.LocalCluster]:
    """An in-process cluster that starts without any worker."""
    with distributed.LocalCluster(
        n_workers=0, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as c:
        yield c


@pytest.mark.timeout(120)
def test_a_sweep_without_workers_says_so_once_and_goes_on_waiting(
    tmp_path: Path, calls: Path, empty_cluster: distributed.LocalCluster
) -> None:
    seen = _Seen("no Dask worker for")
    logger = logging.getLogger("entropic_dask")
    logger.addHandler(seen)
    failure: list[BaseException] = []

    def add_a_worker_once_warned() -> None:
        try:
            if seen.event.wait(timeout=60):
                time.sleep(1.5)  # past two more looks at the cluster: the warning is not repeated
                empty_cluster.scale(1)
        except BaseException as exc:  # reported by the test
            failure.append(exc)

    helper = threading.Thread(target=add_a_worker_once_warned)
    runner = RecordingRunner(calls)
    db = f"sqlite:///{tmp_path / 'w.db'}"
    try:
        with (
            distributed.Client(empty_cluster, set_as_default=False) as client,
            Store(runner, Point, tmp_path / "r", ".json", db) as store,
            warnings.catch_warnings(record=True) as caught,
        ):
            warnings.simplefilter("always")
            helper.start()
            executor = DaskExecutor(client=client, worker_wait=0.5, fallback=False)
            records = store.sweep(params(30), executor=executor)
    finally:
        seen.event.set()
        helper.join(timeout=60)
        logger.removeHandler(seen)
    assert failure == []
    assert len(records) == 30
    assert runner.count() == 30
    messages = [str(w.message) for w in caught if w.category is NoWorkerWarning]
    assert len(messages) == 1
    assert "0 workers connected" in messages[0]
    assert "30 runs waiting" in messages[0]
    assert "LocalCluster" in messages[0]
    assert "has started no workers" in messages[0]


def test_worker_wait_is_checked(client: distributed.Client) -> None:
    for bad in (-1, "60", True, float("nan")):
        with pytest.raises(ValueError, match="worker_wait"):
            DaskExecutor(client=client, worker_wait=bad)  # type: ignore[arg-type]
    assert DaskExecutor(client=client, worker_wait=None).worker_wait is None
    assert "fallback=False" in repr(DaskExecutor(client=client, fallback=False))
