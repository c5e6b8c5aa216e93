"""Operating a sweep on every dialect: status from another process, dead sweeps, failures
remembered and cleared, retry, retries with a backoff, skip_failed, and coverage with holes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import _manywriters as mw
import pytest
from sqlalchemy import create_engine, delete, inspect

from entropic import FailedBeforeError, Store, SweepError
from entropic._internal import attempts_table, failures_table, running_table, sweeps_table
from entropic.failures import failure_history
from entropic.inspection import Condition
from entropic.status import SweepStatus

HERE = Path(__file__).parent
CHILD = HERE / "_operating_child.py"
#: Longest wait for something another process does.
DEADLINE = 60.0


@pytest.fixture
def table(db_url: str, table_name: str) -> Iterator[str]:
    """The test's table; what the journal recorded about it is removed afterwards."""
    yield table_name
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            for internal in (sweeps_table, failures_table, attempts_table, running_table):
                if inspect(conn).has_table(internal.name):
                    conn.execute(delete(internal).where(internal.c.table_name == table_name))
    finally:
        engine.dispose()


class Flaky:
    """A runner that fails the points in ``bad`` (every time, or the first ``times`` times)."""

    def __init__(self, bad: set[int], times: int | None = None) -> None:
        self.bad = bad
        self.times = times
        self.calls: dict[int, int] = {}

    def __call__(self, params: dict[str, Any]) -> None:
        n = params["n"]
        self.calls[n] = self.calls.get(n, 0) + 1
        if n in self.bad and (self.times is None or self.calls[n] <= self.times):
            raise ValueError(f"point {n} diverged")
        Path(params["result_file"]).write_text(mw.content_for(params))


def _store(runner: Any, db_url: str, table: str, tmp_path: Path) -> Store[Any]:
    return Store(runner, mw.point_model(table), tmp_path / "results", ".txt", db_url)


def _child(db_url: str, table: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    folder = tmp_path / "signals"
    folder.mkdir()
    return subprocess.Popen(
        [sys.executable, str(CHILD), db_url, str(tmp_path / "results"), table, str(folder)],
        env={**os.environ, "PYTHONPATH": str(HERE)},
    )


def _sweep_of(store: Store[Any], pid: int) -> SweepStatus | None:
    for sweep in store.status().tables[0].sweeps:
        if sweep.pid == pid:
            return sweep
    return None


def _watch(store: Store[Any], pid: int, check: Any) -> SweepStatus:
    """Wait (with a deadline) until the sweep of process ``pid`` meets ``check``."""
    found: list[SweepStatus] = []

    def ready() -> bool:
        sweep = _sweep_of(store, pid)
        if sweep is not None and check(sweep):
            found.append(sweep)
            return True
        return False

    mw.wait_until(ready, DEADLINE)
    return found[0]


def test_status_shows_a_sweep_running_in_another_process(
    db_url: str, table: str, tmp_path: Path
) -> None:
    watcher = _store(None, db_url, table, tmp_path)
    child = _child(db_url, table, tmp_path)
    try:
        sweep = _watch(watcher, child.pid, lambda s: s.done >= 5)
        assert sweep.state == "running"
        assert (sweep.total, sweep.hits, sweep.failed) == (10, 0, 0)
        assert sweep.done == 5  # the sixth point is blocked
        assert sweep.executor == "serial"
        assert sweep.owner.split(":")[1] == str(child.pid)
        assert sweep.rate is not None
        assert sweep.rate > 0
        assert sweep.eta_seconds is not None
        table_status = watcher.status().tables[0]
        assert table_status.stored == 5
        owners = {p.pid: p for p in table_status.in_progress}
        assert owners[child.pid].runs >= 1
        assert owners[child.pid].sweep_id == sweep.id

        def running() -> bool:  # listed once it has been going for a moment
            return watcher.coverage(["n"]).cell(5).running == 1

        mw.wait_until(running, DEADLINE)
        assert owners[child.pid].expires_at > sweep.started_at
        (tmp_path / "signals" / "go").write_text("")
        assert child.wait(timeout=DEADLINE) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    done = _sweep_of(watcher, child.pid)
    assert done is not None
    assert (done.state, done.done, done.total) == ("finished", 10, 10)
    assert done.finished_at is not None
    assert watcher.status().tables[0].in_progress == []
    assert watcher.coverage(["n"]).cell(5).running == 0
    watcher.close()


def test_a_killed_sweep_shows_as_dead(db_url: str, table: str, tmp_path: Path) -> None:
    watcher = _store(None, db_url, table, tmp_path)
    child = _child(db_url, table, tmp_path)
    try:
        mw.wait_until((tmp_path / "signals" / "blocked").exists, DEADLINE)
        _watch(watcher, child.pid, lambda s: s.state == "running")
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=DEADLINE)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    sweep = _sweep_of(watcher, child.pid)
    assert sweep is not None
    assert sweep.state == "dead"
    assert sweep.finished_at is None
    assert sweep.eta_seconds is None
    status = watcher.status().tables[0]
    assert all(p.pid != child.pid for p in status.in_progress)
    assert watcher.coverage(["n"]).cell(5).running == 0
    watcher.close()


def test_failures_are_recorded_with_their_traceback_and_cleared_by_a_success(
    db_url: str, table: str, tmp_path: Path
) -> None:
    runner = Flaky({2, 4})
    store = _store(runner, db_url, table, tmp_path)
    with pytest.raises(SweepError):
        store.sweep(mw.points(0, 6))
    failures = {f.params["n"]: f for f in store.failures()}
    assert sorted(failures) == [2, 4]
    failure = failures[2]
    assert failure.exc_type == "ValueError"
    assert failure.message == "point 2 diverged"
    assert failure.attempt == 1
    assert failure.traceback is not None
    assert 'raise ValueError(f"point {n} diverged")' in failure.traceback
    assert failure.traceback.rstrip().endswith("ValueError: point 2 diverged")
    assert failure.host
    assert failure.pid == os.getpid()
    assert failure.started_at is not None
    assert failure.started_at <= failure.ended_at
    assert failure.elapsed is not None
    assert failure.elapsed >= 0
    assert failure.params == {
        "n": 2,
        "x": 0.2,
        "label": "p2",
        "mode": None,
        "shape": None,
        "when": None,
    }
    assert [f.params["n"] for f in store.failures([Condition("n", ">", 3)])] == [4]
    assert [f.params["n"] for f in store.failures(n=2)] == [2]
    assert store.failures(exc_type="KeyError") == []
    status = store.status().tables[0]
    assert (status.stored, status.failures) == (4, {"ValueError": 2})
    assert status.sweeps[0].state == "failed"
    assert (status.sweeps[0].done, status.sweeps[0].failed) == (6, 2)

    runner.bad = {4}
    with pytest.raises(SweepError):
        store.sweep(mw.points(0, 6))
    assert [f.params["n"] for f in store.failures()] == [4]
    assert store.failures(n=4)[0].attempt == 2
    history = failure_history(store.engine, table, failure.run_id)
    assert [(a.attempt, a.outcome) for a in history] == [(1, "failed"), (2, "ok")]
    assert history[0].traceback == failure.traceback
    store.close()


def test_retry_reruns_exactly_the_failed_runs(db_url: str, table: str, tmp_path: Path) -> None:
    runner = Flaky({1, 3, 5})
    store = _store(runner, db_url, table, tmp_path)
    with pytest.raises(SweepError):
        store.sweep(mw.points(0, 8))
    failed_ids = {f.run_id for f in store.failures()}
    runner.bad = set()
    runner.calls.clear()
    records = store.retry()
    assert {r.id for r in records} == failed_ids
    assert runner.calls == {1: 1, 3: 1, 5: 1}
    assert store.failures() == []
    assert store.count() == 8
    assert store.retry() == []


def test_retry_by_id_and_by_filter(db_url: str, table: str, tmp_path: Path) -> None:
    runner = Flaky({1, 3, 5})
    store = _store(runner, db_url, table, tmp_path)
    with pytest.raises(SweepError):
        store.sweep(mw.points(0, 8))
    runner.bad = set()
    runner.calls.clear()
    one = store.failures(n=1)[0].run_id
    assert [r.id for r in store.retry([one])] == [one]
    store.retry(where=[Condition("n", ">=", 5)])
    assert runner.calls == {1: 1, 5: 1}
    assert [f.params["n"] for f in store.failures()] == [3]
    assert store.forget() == 1
    assert store.failures() == []
    store.close()


def test_retries_try_a_run_again_after_a_backoff(db_url: str, table: str, tmp_path: Path) -> None:
    runner = Flaky(set(range(6)), times=1)  # every point fails once, then works
    store = _store(runner, db_url, table, tmp_path)
    records = store.sweep(mw.points(0, 6), retries=2, retry_backoff=0.05)
    assert len(records) == 6
    assert all(r is not None for r in records)
    assert runner.calls == dict.fromkeys(range(6), 2)
    assert store.failures() == []
    for record in records:
        history = failure_history(store.engine, table, record.id)
        assert [(a.attempt, a.outcome) for a in history] == [(1, "failed"), (2, "ok")]
        assert history[0].exc_type == "ValueError"
    sweep = store.status().tables[0].sweeps[0]
    assert (sweep.state, sweep.done, sweep.failed) == ("finished", 6, 0)
    store.close()


def test_retries_give_up_after_n_and_skip_failed_says_how_many(
    db_url: str, table: str, tmp_path: Path
) -> None:
    runner = Flaky({2})
    store = _store(runner, db_url, table, tmp_path)
    with pytest.raises(SweepError) as caught:
        store.sweep(mw.points(0, 4), retries=2, retry_backoff=0.01)
    assert runner.calls[2] == 3
    assert [f.attempt for f in store.failures()] == [3]
    assert caught.value.skipped == 0
    runner.calls.clear()
    with pytest.raises(SweepError) as caught:
        store.sweep(mw.points(0, 6), retries=2, skip_failed=True)
    assert 2 not in runner.calls
    assert runner.calls == {4: 1, 5: 1}
    assert caught.value.skipped == 1
    assert "1 not started" in str(caught.value)
    assert isinstance(caught.value.failures[0].error, FailedBeforeError)
    assert caught.value.failures[0].error.attempts == 3
    assert store.status().tables[0].sweeps[0].skipped == 1
    with pytest.raises(SweepError):  # more retries allowed: it runs again
        store.sweep(mw.points(0, 6), retries=3, skip_failed=True, retry_backoff=0.01)
    assert runner.calls[2] == 4
    store.close()


def test_coverage_of_a_sweep_with_holes(db_url: str, table: str, tmp_path: Path) -> None:
    runner = Flaky({4})
    store = _store(runner, db_url, table, tmp_path)
    grid = [{"n": n, "x": x, "label": "c"} for n in (1, 2, 3) for x in (0.5, 1.5)]
    grid += [{"n": 4, "x": 0.5, "label": "c"}, {"n": 4, "x": 0.5, "label": "d"}]
    with pytest.raises(SweepError):
        store.sweep([p for p in grid if (p["n"], p["x"]) != (2, 1.5)])
    table_ = store.coverage(["n", "x"])
    assert table_.rows == [1, 2, 3, 4]
    assert table_.columns == [0.5, 1.5]
    assert table_.cell(1, 0.5).done == 1
    assert table_.cell(2, 1.5).empty
    assert (table_.cell(4, 0.5).done, table_.cell(4, 0.5).failed) == (0, 2)
    assert table_.cell(4, 1.5).empty
    assert table_.holes == 2
    assert {(r["n"], r["x"]) for r in table_.records() if r["done"] == 0} == {
        (2, 1.5),
        (4, 0.5),
        (4, 1.5),
    }
    with pytest.raises(ValueError, match="not a parameter"):
        store.coverage(["n", "result_file"])
    store.close()


def test_status_and_failures_survive_a_bad_value_in_the_journal(
    db_url: str, table: str, tmp_path: Path
) -> None:
    """A failure whose text the database cannot hold must not cost the stored runs."""

    def runner(params: dict[str, Any]) -> None:
        if params["n"] == 1:
            raise RuntimeError("\U0001f4a5 " + "x" * 100_000)
        Path(params["result_file"]).write_text(mw.content_for(params))

    store = _store(runner, db_url, table, tmp_path)
    started = time.monotonic()
    with pytest.raises(SweepError):
        store.sweep(mw.points(0, 3))
    assert time.monotonic() - started < DEADLINE
    assert store.count() == 2
    failures = store.failures()
    assert len(failures) == 1
    assert len(failures[0].message) <= 4000
    store.close()


def test_a_failed_run_or_retrieve_is_remembered_and_cleared_by_a_success(
    db_url: str, table: str, tmp_path: Path
) -> None:
    runner = Flaky({3}, times=2)
    store = _store(runner, db_url, table, tmp_path)
    point = mw.points(3, 4)[0]
    for attempt in (1, 2):
        with pytest.raises(ValueError, match="point 3 diverged"):
            store.run_or_retrieve(point)
        (failure,) = store.failures()
        assert failure.attempt == attempt
        assert failure.exc_type == "ValueError"
        assert failure.traceback is not None
        assert failure.traceback.rstrip().endswith("ValueError: point 3 diverged")
        assert failure.params["n"] == 3
    record = store.run_or_retrieve(point)  # the third try succeeds
    assert store.failures() == []
    history = failure_history(store.engine, table, record.id)
    assert [(a.attempt, a.outcome) for a in history] == [(1, "failed"), (2, "failed"), (3, "ok")]
    store.close()
