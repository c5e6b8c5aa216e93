"""One Store shared by threads; one engine per Store."""

from __future__ import annotations

import random
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

from _core_models import CountingRunner, SimResult, StoreFactory
from sqlalchemy import event
from sqlalchemy.pool import Pool

from entropic import Store

THREADS = 8
POINTS = 12


def test_threads_share_one_store(store: Store[SimResult], runner: CountingRunner) -> None:
    barrier = threading.Barrier(THREADS, timeout=30)

    def work(seed: int) -> dict[int, tuple[str, str]]:
        order = list(range(POINTS))
        random.Random(seed).shuffle(order)
        barrier.wait()
        seen = {}
        for n in order:
            record = store.run_or_retrieve({"n": n, "dt": 0.25})
            seen[n] = (record.id, record.result_file)
        return seen

    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(work, seed) for seed in range(THREADS)]
        results = [f.result(timeout=120) for f in futures]

    for n in range(POINTS):
        answers = {r[n] for r in results}
        assert len(answers) == 1  # every thread got the same record
        ((run_id, path),) = answers
        assert run_id == store.key({"n": n, "dt": 0.25})
        assert Path(path).is_file()
        assert runner.ran(n=n) == 1  # run once, however many threads asked at once
    assert len(store) == POINTS


def test_threads_sweeping_overlapping_sets(store: Store[SimResult], runner: CountingRunner) -> None:
    barrier = threading.Barrier(4, timeout=30)

    def work(offset: int) -> list[int]:
        barrier.wait()
        return [r.n for r in store.sweep({"n": n, "dt": 0.5} for n in range(offset, offset + 10))]

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(work, offset) for offset in (0, 3, 6, 9)]
        results = [f.result(timeout=120) for f in futures]
    assert results == [list(range(o, o + 10)) for o in (0, 3, 6, 9)]
    assert len(store) == 19
    assert all(runner.ran(n=n) == 1 for n in range(19))


def test_one_engine_per_store(make_store: StoreFactory, runner: CountingRunner) -> None:
    store = make_store(runner, SimResult)
    engine = store.engine
    store.run_or_retrieve({"n": 99, "dt": 0.1})  # warm up: the pool and this thread's reader
    connects: list[Any] = []

    def count(dbapi_connection: Any, record: Any) -> None:
        connects.append(dbapi_connection)

    event.listen(Pool, "connect", count)  # every new database connection, of any engine
    try:
        for n in range(30):
            store.run_or_retrieve({"n": n % 10, "dt": 0.1})
            store.retrieve({"n": n % 10, "dt": 0.1})
            store.run({"n": 50, "dt": 0.1})
        store.sweep({"n": n, "dt": 0.1} for n in range(20))
        store.delete({"n": 0, "dt": 0.1})
        assert store.engine is engine
    finally:
        event.remove(Pool, "connect", count)
    assert len(connects) <= 2  # the pool's connections, reused; not one per call
    other = make_store(runner, SimResult)
    assert other.engine is not engine


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(
    store: Store[SimResult], tmp_path: Path
) -> None:
    store.run_or_retrieve({"n": 1, "dt": 0.1})
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() >= 1000
    with closing(sqlite3.connect(tmp_path / "store.sqlite3")) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
