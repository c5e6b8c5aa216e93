"""The per-sweep object: time limits, signals, batched claims, and runs recovered from disk."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from _core_models import CountingRunner, Picky, SimResult, StoreFactory
from sqlalchemy import create_engine, delete, func, select, text
from sqlalchemy.exc import IntegrityError

from entropic import Store, SweepError, TimeLimitError, expand_grid
from entropic._internal import claims_table

CHILD = str(Path(__file__).parent / "_signal_child.py")


def _grid(count: int) -> list[dict[str, Any]]:
    return expand_grid({"n": list(range(count)), "dt": [0.5]})


def _claims_left(db_url: str) -> int:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(claims_table)).scalar_one())
    finally:
        engine.dispose()


def _rows(db_url: str) -> int:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM core_sim_results")).scalar_one())
    finally:
        engine.dispose()


def test_time_limit_starts_no_run_after_it_and_keeps_what_finished(
    make_store: StoreFactory, db_url: str
) -> None:
    starts: list[float] = []
    release = threading.Event()

    def runner(params: dict[str, Any]) -> None:
        starts.append(time.monotonic())
        if len(starts) == 3:
            # the third run is still going when the limit passes
            while time.monotonic() < limit_at + 0.05:
                release.wait(0.01)
        Path(params["result_file"]).write_text("x")

    store = make_store(runner, SimResult)
    limit_at = time.monotonic() + 0.5
    with pytest.raises(TimeLimitError) as caught:
        store.sweep(_grid(50), time_limit=0.5)
    error = caught.value
    assert len(starts) == 3
    assert all(start < limit_at + 0.05 for start in starts)
    assert error.remaining == 47
    kept = [r for r in error.records if r is not None]
    assert len(kept) == 3  # the run in flight at the limit finished and was stored
    assert "resumes" in str(error)
    assert _claims_left(db_url) == 0
    again = CountingRunner()
    store.runner = again
    assert len(store.sweep(_grid(50))) == 50
    assert again.count == 47


def test_time_limit_must_be_positive(store: Store[SimResult]) -> None:
    with pytest.raises(ValueError, match="time_limit"):
        store.sweep(_grid(2), time_limit=0)


def test_sigterm_commits_finished_runs_releases_claims_and_exits_143(
    tmp_path: Path, db_url: str
) -> None:
    done = subprocess.run(
        [sys.executable, CHILD, db_url, str(tmp_path / "results"), "TERM", "4"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 143, done.stderr
    lines = [line for line in done.stderr.splitlines() if "terminated" in line]
    assert len(lines) == 1
    assert "4 of 10 runs are stored" in lines[0]
    assert _rows(db_url) == 4
    assert _claims_left(db_url) == 0
    # the run in flight left nothing at its final path
    assert len(list((tmp_path / "results").glob("*.txt"))) == 4


@pytest.mark.parametrize("replace", [False, True])
def test_ctrl_c_is_a_keyboard_interrupt_even_after_another_handler(
    tmp_path: Path, db_url: str, replace: bool
) -> None:
    args = [sys.executable, CHILD, db_url, str(tmp_path / "results"), "INT", "6"]
    done = subprocess.run(
        [*args, "--replace"] if replace else args, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 130, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["finished"] == [0, 1, 2, 3, 4, 5]
    assert report["restored"] is replace  # the previous handler is back after the sweep
    assert _rows(db_url) == 6
    assert _claims_left(db_url) == 0


def test_finished_run_on_disk_is_indexed_not_run_again(
    make_store: StoreFactory, runner: CountingRunner, db_url: str
) -> None:
    store = make_store(runner, SimResult)
    first = store.sweep(_grid(8))
    # a kill between the files and the commit: rows gone, files and manifests still there
    with store.engine.begin() as conn:
        conn.execute(delete(SimResult.__table__))
    again = CountingRunner()
    store.runner = again
    records = store.sweep(_grid(8))
    assert again.count == 0
    assert [r.id for r in records] == [r.id for r in first]
    assert [r.result_file for r in records] == [r.result_file for r in first]
    assert store.count() == 8
    # run_or_retrieve does the same for one run
    with store.engine.begin() as conn:
        conn.execute(delete(SimResult.__table__))
    assert store.run_or_retrieve(_grid(1)[0]).id == first[0].id
    assert again.count == 0


def test_a_manifest_for_other_parameters_is_not_trusted(
    make_store: StoreFactory, runner: CountingRunner
) -> None:
    store = make_store(runner, SimResult)
    store.sweep(_grid(1))
    manifest = next(store.results_dir.glob(".*.entropic.json"))
    body = json.loads(manifest.read_text())
    body["params"]["n"] = 99  # hashes to another id
    manifest.write_text(json.dumps(body))
    with store.engine.begin() as conn:
        conn.execute(delete(SimResult.__table__))
    store.sweep(_grid(1))
    assert runner.count == 2  # run again, not indexed from the foreign manifest


def test_claims_are_taken_in_batches_that_grow(
    make_store: StoreFactory, runner: CountingRunner, db_url: str
) -> None:
    store = make_store(runner, SimResult)
    statements: list[int] = []
    from sqlalchemy import event

    @event.listens_for(store.engine, "before_cursor_execute")
    def count(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT") and "entropic_claims" in statement:
            statements.append(1)

    store.sweep(_grid(300))
    assert runner.count == 300
    # one claim per run would be 300 statements; batches that double from 4 need fewer than 10
    assert 0 < len(statements) < 12


def test_a_row_the_database_refuses_costs_no_other_run(
    make_store: StoreFactory, runner: CountingRunner
) -> None:
    store = make_store(runner, Picky)
    grid = [{"n": n} for n in range(300)]
    with pytest.raises(SweepError) as caught:
        store.sweep(grid)
    assert runner.count == 300
    assert store.count() == 299
    (failure,) = caught.value.failures
    assert failure.params == {"n": 13}
    assert isinstance(failure.error, IntegrityError)
    assert any("refused its row" in note for note in failure.error.__notes__)
    # the refused run keeps its file and manifest
    assert store.result_path(failure.id).is_file()
    assert (store.results_dir / f".{failure.id}.entropic.json").is_file()
    assert [r is None for r in caught.value.records].count(True) == 1


def test_a_runner_that_makes_a_directory_fails_alone(make_store: StoreFactory) -> None:
    def runner(params: dict[str, Any]) -> None:
        if params["n"] == 1:
            Path(params["result_file"]).mkdir()
            raise RuntimeError("the runner's own failure")
        if params["n"] == 2:
            Path(params["result_file"]).mkdir()  # and returns, as if that were a result
            return
        Path(params["result_file"]).write_text("ok")

    store = make_store(runner, SimResult)
    with pytest.raises(SweepError) as caught:
        store.sweep(_grid(5))
    errors = {f.params["n"]: f.error for f in caught.value.failures}
    assert set(errors) == {1, 2}
    assert isinstance(errors[1], RuntimeError)
    assert str(errors[1]) == "the runner's own failure"
    assert isinstance(errors[2], IsADirectoryError)
    assert "directory" in str(errors[2])
    assert store.count() == 3
    for failed in caught.value.failures:
        assert not store.result_path(failed.id).exists()  # nothing at the final path
