"""Store.sweep: order, duplicates, cache reuse, failures, progress and batched persistence."""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from _core_models import Color, CountingRunner, Shaped, SimResult, StoreFactory, files_under
from sqlalchemy import event
from sqlalchemy.pool import Pool

import entropic
from entropic import EntropicError, Store, SweepError, SweepProgress, expand_grid
from entropic.manifests import manifest_path


class Flaky(CountingRunner):
    """A counting runner that raises for the ``n`` values in :attr:`fail_on`."""

    def __init__(self, fail_on: set[int]) -> None:
        super().__init__()
        self.fail_on = fail_on
        self.failed: list[int] = []

    def __call__(self, params: dict[str, Any]) -> None:
        """Fail for the chosen points, run the others."""
        if params["n"] in self.fail_on:
            self.failed.append(params["n"])
            Path(params["result_file"]).write_text("partial")
            raise ValueError(f"point n={params['n']} diverged")
        super().__call__(params)


class Interrupted(CountingRunner):
    """A counting runner that raises KeyboardInterrupt on its ``at``-th call (1-based)."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at
        self.interrupted: dict[str, Any] = {}

    def __call__(self, params: dict[str, Any]) -> None:
        """Run, or be interrupted on the chosen call."""
        if self.count + 1 == self.at:
            self.interrupted = dict(params)
            Path(params["result_file"]).write_text("partial")
            raise KeyboardInterrupt
        super().__call__(params)


def _p(n: int, dt: float = 0.1) -> dict[str, Any]:
    return {"n": n, "dt": dt}


def test_one_record_per_distinct_set_in_order_of_first_occurrence(
    store: Store[SimResult], runner: CountingRunner
) -> None:
    stored = store.run_or_retrieve(_p(2))
    records = store.sweep([_p(3), _p(1), _p(2), _p(1), {"dt": 0.1, "n": 3}, _p(4), _p(2)])
    assert [r.n for r in records] == [3, 1, 2, 4]
    assert records[2].id == stored.id
    assert runner.count == 4  # 2 ran before the sweep; 3, 1 and 4 once each
    assert runner.ran(n=1) == runner.ran(n=3) == runner.ran(n=4) == 1


def test_duplicates_are_run_once(store: Store[SimResult], runner: CountingRunner) -> None:
    records = store.sweep([_p(1), _p(1), {"dt": 0.1, "n": 1, "result_file": "ignored"}])
    assert len(records) == 1
    assert runner.count == 1


def test_duplicates_that_differ_only_in_form_are_one_set(
    make_store: StoreFactory, runner: CountingRunner
) -> None:
    when = dt.datetime(2024, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
    first = {"mode": Color.RED, "shape": (1, 2), "start": when, "naive_start": when}
    second = {"mode": "red", "shape": [1, 2], "start": when, "naive_start": when}
    store = make_store(runner, Shaped)
    records = store.sweep([first, second, first])
    assert len(records) == 1
    assert runner.count == 1
    noisy = make_store(runner, SimResult).sweep([_p(1, 0.1 + 0.2), _p(1, 0.3)])
    assert len(noisy) == 1
    assert runner.count == 2


def test_generators_are_accepted(store: Store[SimResult], runner: CountingRunner) -> None:
    records = store.sweep(_p(n) for n in range(5))
    assert [r.n for r in records] == [0, 1, 2, 3, 4]
    assert runner.count == 5


def test_an_empty_sweep(store: Store[SimResult], runner: CountingRunner) -> None:
    assert store.sweep([]) == []
    assert runner.count == 0


def test_a_second_sweep_reuses_the_cache(make_store: StoreFactory, runner: CountingRunner) -> None:
    store = make_store(runner, SimResult)
    grid = expand_grid({"n": [1, 2, 3], "dt": [0.1, 0.2]})
    first = store.sweep(grid)
    assert runner.count == 6
    again = make_store(runner, SimResult).sweep(iter(grid))
    assert runner.count == 6
    assert [r.id for r in again] == [r.id for r in first]
    assert [r.custom_data for r in again] == [r.custom_data for r in first]


def test_a_sweep_larger_than_a_lookup_chunk(
    store: Store[SimResult], runner: CountingRunner
) -> None:
    store.sweep(_p(n) for n in range(0, 1100, 2))
    assert runner.count == 550
    records = store.sweep(_p(n) for n in range(1100))
    assert [r.n for r in records] == list(range(1100))
    assert runner.count == 1100
    assert len(store) == 1100


def test_a_sweep_looks_up_the_cache_in_chunks(
    make_store: StoreFactory, runner: CountingRunner
) -> None:
    make_store(runner, SimResult).sweep(_p(n) for n in range(1100))
    statements: list[str] = []

    def trace(dbapi_connection: Any, record: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.set_trace_callback(statements.append)

    event.listen(Pool, "connect", trace)  # every connection the new Store opens is traced
    try:
        store = make_store(runner, SimResult)
        statements.clear()
        records = store.sweep(_p(n) for n in range(1100))
    finally:
        event.remove(Pool, "connect", trace)
    assert len(records) == 1100
    assert runner.count == 1100
    lookups = [
        s for s in statements if s.lstrip().upper().startswith("SELECT") and "core_sim_results" in s
    ]
    assert 3 <= len(lookups) <= 10  # 500 ids a query, not one query per parameter set


def test_expand_grid_is_the_full_product_in_product_order() -> None:
    assert expand_grid({"a": [1, 2], "b": ["x", "y", "z"]}) == [
        {"a": 1, "b": "x"},
        {"a": 1, "b": "y"},
        {"a": 1, "b": "z"},
        {"a": 2, "b": "x"},
        {"a": 2, "b": "y"},
        {"a": 2, "b": "z"},
    ]


# ---------------------------------------------------------------- failures


def test_failures_do_not_stop_the_sweep(make_store: StoreFactory, results_dir: Path) -> None:
    flaky = Flaky(fail_on={2, 5})
    store = make_store(flaky, SimResult)
    with pytest.raises(SweepError) as caught:
        store.sweep(_p(n) for n in range(8))
    error = caught.value
    assert isinstance(error, ExceptionGroup)
    assert isinstance(error, EntropicError)
    assert len(error.exceptions) == 2
    assert sorted(flaky.failed) == [2, 5]
    assert flaky.count == 6
    by_n = {f.params["n"]: f for f in error.failures}
    assert set(by_n) == {2, 5}
    for n, failure in by_n.items():
        assert failure.id == store.key(_p(n))
        assert dict(failure.params) == _p(n)
        assert isinstance(failure.error, ValueError)
        assert f"n={n}" in str(failure.error)
        assert failure.error in error.exceptions
        assert any(failure.id in note for note in getattr(failure.error, "__notes__", []))
        assert not store.result_path(failure.id).exists()
        assert not manifest_path(store.results_dir, failure.id).exists()

    fresh = make_store(flaky, SimResult)  # what was persisted, seen from a new Store
    assert len(fresh) == 6
    for n in (0, 1, 3, 4, 6, 7):
        assert fresh.retrieve(_p(n)) is not None
    for n in (2, 5):
        assert fresh.retrieve(_p(n)) is None
    names = {p.name for p in files_under(results_dir)}
    assert len(names) == 12  # six results, six manifests, no temporaries

    flaky.fail_on = set()
    records = fresh.sweep(_p(n) for n in range(8))
    assert [r.n for r in records] == list(range(8))
    assert flaky.count == 8  # only 2 and 5 ran again
    assert flaky.ran(n=2) == flaky.ran(n=5) == 1


def test_sweep_error_records_hold_the_results(make_store: StoreFactory) -> None:
    store = make_store(Flaky(fail_on={1}), SimResult)
    with pytest.raises(SweepError) as caught:
        store.sweep([_p(0), _p(1), _p(2)])
    records = caught.value.records
    assert [None if r is None else r.n for r in records] == [0, None, 2]


def test_an_interrupted_sweep_keeps_what_finished(
    make_store: StoreFactory, results_dir: Path
) -> None:
    interrupted = Interrupted(at=4)
    store = make_store(interrupted, SimResult)
    with pytest.raises(KeyboardInterrupt):
        store.sweep(_p(n) for n in range(10))
    assert interrupted.count == 3
    finished = sorted(c["n"] for c in interrupted.calls)
    cut = interrupted.interrupted["n"]
    fresh = make_store(CountingRunner(), SimResult)
    assert len(fresh) == 3
    for n in finished:
        assert fresh.retrieve(_p(n)) is not None
    assert fresh.retrieve(_p(cut)) is None
    assert not store.result_path(store.key(_p(cut))).exists()
    assert len(files_under(results_dir)) == 6  # three results and their manifests

    resumed = CountingRunner()
    records = make_store(resumed, SimResult).sweep(_p(n) for n in range(10))
    assert len(records) == 10
    assert sorted(c["n"] for c in resumed.calls) == sorted(set(range(10)) - set(finished))


# ---------------------------------------------------------------- progress


def test_callback_receives_the_counts(make_store: StoreFactory) -> None:
    flaky = Flaky(fail_on={3})
    store = make_store(flaky, SimResult)
    store.sweep([_p(0), _p(1)])
    seen: list[SweepProgress] = []
    with pytest.raises(SweepError):
        store.sweep((_p(n) for n in range(5)), callback=seen.append)
    assert seen
    assert all(s.total == 5 for s in seen)
    assert all(s.hits == 2 for s in seen)
    assert [s.done for s in seen] == sorted(s.done for s in seen)
    assert seen[0].done == 2
    last = seen[-1]
    assert last.done == last.total == 5
    assert last.failures == 1
    assert last.runs == 3

    quiet: list[SweepProgress] = []
    store.sweep((_p(n) for n in (0, 1)), callback=quiet.append)
    assert quiet[-1].done == quiet[-1].total == 2
    assert quiet[-1].hits == 2
    assert quiet[-1].failures == 0


def test_progress_with_tqdm(store: Store[SimResult], capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tqdm")
    store.run_or_retrieve(_p(0))
    store.sweep((_p(n) for n in range(3)), progress=True)
    err = capsys.readouterr().err
    assert "3/3" in err
    assert "entropic" in err
    assert "hits=1" in err


def test_progress_without_tqdm(
    store: Store[SimResult], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    store.run_or_retrieve(_p(0))
    store.sweep((_p(n) for n in range(3)), progress=True)
    captured = capsys.readouterr()
    assert "entropic: 3/3 done, 1 hits, 0 failed" in captured.err
    assert "runs/s" in captured.err
    assert captured.out == ""


def test_no_progress_by_default(
    store: Store[SimResult], capsys: pytest.CaptureFixture[str]
) -> None:
    store.sweep(_p(n) for n in range(3))
    assert capsys.readouterr().err == ""


def test_a_sweep_in_a_thread_persists_before_it_returns(
    store: Store[SimResult], runner: CountingRunner
) -> None:
    """A sweep's batched writes are all committed by the time sweep returns."""
    done = threading.Event()
    out: list[list[SimResult]] = []

    def work() -> None:
        out.append(store.sweep(_p(n) for n in range(20)))
        done.set()

    thread = threading.Thread(target=work)
    thread.start()
    assert done.wait(timeout=60)
    thread.join(timeout=10)
    assert len(out[0]) == 20
    assert len(store) == 20


def test_a_killed_sweep_keeps_what_finished(
    tmp_path: Path, results_dir: Path, db_url: str, make_store: StoreFactory
) -> None:
    """SIGKILL mid-sweep: runs that finished before the kill were already committed."""
    child = Path(__file__).parent / "_sweep_child.py"
    source = Path(entropic.__file__).parent.parent
    path = [str(source), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    proc = subprocess.Popen(
        [sys.executable, str(child), db_url, str(results_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        report = json.loads(lines.get(timeout=90))
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
    assert "error" not in report, report
    assert proc.returncode == -signal.SIGKILL
    finished, hanging = report["finished"], report["hanging"]
    assert len(finished) == 3

    store = make_store(CountingRunner(), SimResult, file_suffix=".txt")
    assert len(store) == 3
    for n in finished:
        record = store.retrieve(_p(n))
        assert record is not None
        assert Path(record.result_file).read_text() == str(n)
    assert store.retrieve(_p(hanging)) is None
    assert not store.result_path(store.key(_p(hanging))).exists()

    resumed = CountingRunner()
    records = make_store(resumed, SimResult, file_suffix=".txt").sweep(_p(n) for n in range(10))
    assert len(records) == 10
    assert sorted(c["n"] for c in resumed.calls) == sorted(set(range(10)) - set(finished))


def test_misses_run_in_the_order_given(store: Store[SimResult], runner: CountingRunner) -> None:
    order = [7, 3, 11, 0, 5, 2, 9, 1]
    store.run_or_retrieve(_p(5))
    store.sweep([_p(n) for n in order])
    assert [call["n"] for call in runner.calls] == [5, 7, 3, 11, 0, 2, 9, 1]
