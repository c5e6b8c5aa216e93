"""The journal of a sweep: written inside the sweep's own commits; retries and their backoff."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from _core_models import SimResult, StoreFactory
from sqlalchemy import event

from entropic import Store, SweepError
from entropic._retrying import MOST_BACKOFF, RetryQueue
from entropic.running import RunTask

JOURNAL = ("entropic_sweeps", "entropic_failures", "entropic_attempts", "entropic_running")
CLAIMS = ("INSERT INTO entropic_claims", "UPDATE entropic_claims", "DELETE FROM entropic_claims")


def _write(params: dict[str, Any]) -> None:
    Path(params["result_file"]).write_text(str(params["n"]))


def _transactions(store: Store[Any]) -> list[list[str]]:
    """Record the statements of every committed transaction of ``store``'s engine."""
    done: list[list[str]] = []
    open_: dict[int, list[str]] = defaultdict(list)
    lock = threading.Lock()

    @event.listens_for(store.engine, "before_cursor_execute")
    def _statement(conn: Any, _cursor: Any, statement: str, *args: Any) -> None:
        with lock:
            open_[id(conn)].append(statement)

    @event.listens_for(store.engine, "commit")
    def _commit(conn: Any) -> None:
        with lock:
            done.append(open_.pop(id(conn), []))

    return done


def test_the_journal_costs_no_transaction_of_its_own_per_run(
    make_store: StoreFactory,
) -> None:
    store = make_store(_write, SimResult)
    committed = _transactions(store)
    store.sweep({"n": n, "dt": 0.1} for n in range(1500))
    journal_only = [
        t
        for t in committed
        if any(name in s for s in t for name in JOURNAL)
        and not any("core_sim_results" in s or s.startswith(CLAIMS) for s in t)
    ]
    # the sweep's start (its row) and its end: nothing else writes the journal on its own
    assert len(journal_only) == 2, journal_only
    assert any("INSERT INTO entropic_sweeps" in s for s in journal_only[0])
    assert any("UPDATE entropic_sweeps" in s for s in journal_only[1])
    commits = [t for t in committed if any("INSERT INTO core_sim_results" in s for s in t)]
    assert 0 < len(commits) < 1500 / 50
    assert all(any("UPDATE entropic_sweeps" in s for s in t) for t in commits)
    sweep = store.status().tables[0].sweeps[0]
    assert (sweep.state, sweep.done, sweep.total, sweep.failed) == ("finished", 1500, 1500, 0)


def test_a_sweep_of_hits_records_nothing(make_store: StoreFactory) -> None:
    store = make_store(_write, SimResult)
    store.sweep({"n": n, "dt": 0.1} for n in range(3))
    committed = _transactions(store)
    store.sweep({"n": n, "dt": 0.1} for n in range(3))
    assert committed == []
    assert len(store.status().tables[0].sweeps) == 1


def test_retry_pauses_double_up_to_a_limit() -> None:
    queue = RetryQueue(retries=10, backoff=1.0)
    task = RunTask("a", {}, "a.txt", ".")
    pauses = [queue.push(task, ValueError()) for _ in range(9)]
    assert pauses[:4] == [1.0, 2.0, 4.0, 8.0]
    assert pauses[-1] == MOST_BACKOFF
    assert queue.wants("a")
    assert not RetryQueue(0, 1.0).wants("a")
    assert queue.take_due() is None
    assert queue.wait() > 0
    assert [t.id for t, _e in queue.drain()] == ["a"] * 9
    assert not queue


def test_a_retry_that_would_start_after_the_time_limit_counts_as_failed(
    make_store: StoreFactory,
) -> None:
    def runner(params: dict[str, Any]) -> None:
        if params["n"] == 1:
            raise ValueError("one")
        _write(params)

    store = make_store(runner, SimResult)
    started = time.monotonic()
    with pytest.raises(SweepError) as caught:
        store.sweep(
            ({"n": n, "dt": 0.1} for n in range(3)), retries=3, retry_backoff=30, time_limit=0.5
        )
    assert time.monotonic() - started < 10
    assert [f.params["n"] for f in caught.value.failures] == [1]
    assert [f.attempt for f in store.failures()] == [1]
    sweep = store.status().tables[0].sweeps[0]
    assert (sweep.state, sweep.done, sweep.failed) == ("failed", 3, 1)


def test_an_interrupted_sweep_says_so(make_store: StoreFactory) -> None:
    def runner(params: dict[str, Any]) -> None:
        if params["n"] == 2:
            raise KeyboardInterrupt
        _write(params)

    store = make_store(runner, SimResult)
    with pytest.raises(KeyboardInterrupt):
        store.sweep({"n": n, "dt": 0.1} for n in range(5))
    sweep = store.status().tables[0].sweeps[0]
    assert sweep.state == "interrupted"
    assert sweep.finished_at is not None
    assert store.status().tables[0].in_progress == []
