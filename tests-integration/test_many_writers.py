"""Many writers on one store: threads and processes, single flight, kills, expired claims."""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import _manywriters as mw
from sqlalchemy import func, insert, select

from entropic import Store
from entropic._internal import claims_table

SWEEPER = str(Path(__file__).parent / "_sweeper.py")
TIMEOUT = 120


def _spawn(url: str, table: str, tmp: Path, start: int, stop: int, *extra: str) -> Any:
    return subprocess.Popen(
        [
            sys.executable,
            SWEEPER,
            url,
            table,
            str(tmp / "results"),
            str(tmp / "calls.log"),
            str(start),
            str(stop),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: Any) -> str:
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    assert "database is locked" not in err
    return str(out)


def _row_count(store: Store[Any]) -> int:
    table = store.result_cls.__table__
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _assert_complete(store: Store[Any], expected: list[dict[str, Any]]) -> None:
    for params in expected:
        record = store.retrieve(params)
        assert record is not None, params
        assert Path(record.result_file).read_text() == mw.content_for(params)


class _WaitingLog(logging.Handler):
    """Counts the Store's "waiting for" messages, so a test can tell that others are waiting."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.cond = threading.Condition()
        self.waiting = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("waiting for"):
            with self.cond:
                self.waiting += 1
                self.cond.notify_all()


def test_threads_single_flight(shared_db_url: str, table_name: str, tmp_path: Path) -> None:
    """Eight threads ask for one missing parameter set: the runner runs once, all get it."""
    model = mw.point_model(table_name)
    log = _WaitingLog()
    entropic_logger = logging.getLogger("entropic")
    entropic_logger.addHandler(log)
    old_level = entropic_logger.level
    entropic_logger.setLevel(logging.DEBUG)
    calls: list[str] = []
    others_waiting = threading.Event()

    def runner(params: dict[str, Any]) -> None:
        calls.append(params["id"])
        with log.cond:  # hold the run until the seven others wait for it
            assert log.cond.wait_for(lambda: log.waiting >= 7, timeout=60)
        others_waiting.set()
        Path(params["result_file"]).write_text(mw.content_for(params))

    shared = Store(runner, model, tmp_path / "results", ".txt", shared_db_url)
    stores = [shared] * 4 + [
        Store(runner, model, tmp_path / "results", ".txt", shared_db_url) for _ in range(4)
    ]
    results: list[Any] = [None] * 8
    errors: list[BaseException] = []
    params = mw.points(7, 8)[0]

    def ask(i: int) -> None:
        try:
            results[i] = stores[i].run_or_retrieve(params)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT)
    finally:
        entropic_logger.removeHandler(log)
        entropic_logger.setLevel(old_level)
    assert not errors
    assert others_waiting.is_set()
    assert len(calls) == 1
    assert {r.id for r in results} == {calls[0]}
    _assert_complete(shared, [params])


def test_processes_single_flight(shared_db_url: str, table_name: str, tmp_path: Path) -> None:
    """Four processes ask for one missing parameter set at once: one runs, three wait."""
    log = tmp_path / "entropic.log"
    go = tmp_path / "go"
    procs = [
        _spawn(
            shared_db_url,
            table_name,
            tmp_path,
            5,
            6,
            "--single",
            "--go",
            str(go),
            "--log",
            str(log),
            "--wait-waiters",
            "3",
        )
        for _ in range(4)
    ]
    try:
        mw.wait_until(lambda: len(list(tmp_path.glob("go.ready-*"))) == 4, timeout=TIMEOUT)
        go.touch()
        outputs = [_finish(p) for p in procs]
    finally:
        for p in procs:
            p.kill()
    counts = mw.call_counts(tmp_path / "calls.log")
    assert list(counts.values()) == [1]
    assert {o.strip() for o in outputs} == set(counts)
    assert log.read_text().count("waiting for") >= 3


def test_overlapping_sweeps(shared_db_url: str, table_name: str, tmp_path: Path) -> None:
    """Four processes sweep overlapping grids: every point runs exactly once, nothing is lost."""
    procs = [_spawn(shared_db_url, table_name, tmp_path, i * 60, i * 60 + 120) for i in range(4)]
    try:
        outputs = [_finish(p) for p in procs]
    finally:
        for p in procs:
            p.kill()
    expected = mw.points(0, 300)
    counts = mw.call_counts(tmp_path / "calls.log")
    assert len(counts) == 300
    assert set(counts.values()) == {1}
    for i, out in enumerate(outputs):
        assert len(out.split()) == 120, f"process {i} returned {len(out.split())} records"
    store = Store(
        mw.record_call, mw.point_model(table_name), tmp_path / "results", ".txt", shared_db_url
    )
    assert _row_count(store) == 300
    _assert_complete(store, expected)
    assert not any((tmp_path / "results" / ".entropic-tmp").iterdir())


def test_kill_mid_sweep_then_resume(shared_db_url: str, table_name: str, tmp_path: Path) -> None:
    """kill -9 in the middle of a sweep; the same sweep again keeps what finished."""
    proc = _spawn(shared_db_url, table_name, tmp_path, 0, 60, "--block-at", "30")
    store = Store(
        mw.record_call, mw.point_model(table_name), tmp_path / "results", ".txt", shared_db_url
    )
    try:
        mw.wait_until(lambda: any(tmp_path.glob("calls.log.blocked-*")), timeout=TIMEOUT)
        # the 30 runs that finished reach the database while run 31 is still going
        mw.wait_until(lambda: _row_count(store) == 30, timeout=TIMEOUT)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == -signal.SIGKILL
    before = mw.call_counts(tmp_path / "calls.log")
    blocked_id = (tmp_path / "calls.log").read_text().split()[-1]
    assert not store.result_path(blocked_id).exists(), "a half-written file at a final path"
    leftovers = list((tmp_path / "results" / ".entropic-tmp").rglob("*.txt"))
    assert len(leftovers) == 1  # the killed run's half file stays out of the results

    out = _finish(_spawn(shared_db_url, table_name, tmp_path, 0, 60))
    after = mw.call_counts(tmp_path / "calls.log")
    assert len(out.split()) == 60
    assert _row_count(store) == 60
    rerun = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    assert len(rerun) == 30  # only what had not finished ran again
    assert blocked_id in rerun
    assert set(rerun.values()) == {1}
    _assert_complete(store, mw.points(0, 60))


def test_expired_claim_is_taken_over(shared_db_url: str, table_name: str, tmp_path: Path) -> None:
    """A claim left by a process on another host is taken over once its lease expires."""
    calls: list[str] = []

    def runner(params: dict[str, Any]) -> None:
        calls.append(params["id"])
        Path(params["result_file"]).write_text(mw.content_for(params))

    store = Store(
        runner,
        mw.point_model(table_name),
        tmp_path / "results",
        ".txt",
        shared_db_url,
        claim_lease=1.0,
    )
    params = mw.points(3, 4)[0]
    run_id = store.key(params)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    with store.engine.begin() as conn:
        conn.execute(
            insert(claims_table),
            [
                {
                    "table_name": table_name,
                    "run_id": run_id,
                    "owner": "elsewhere:1:dead",
                    "expires_at": expires,
                }
            ],
        )
    record = store.run_or_retrieve(params)
    assert record.id == run_id
    assert calls == [run_id]
    assert dt.datetime.now(dt.UTC) >= expires  # it waited for the lease, not less
    with store.engine.connect() as conn:
        mine = (claims_table.c.table_name == table_name) & (claims_table.c.run_id == run_id)
        left = conn.execute(select(claims_table).where(mine)).all()
    assert left == []  # (other tables' claims on the same id, from other tests, do not count)


def test_dead_local_owner_is_taken_over_at_once(
    shared_db_url: str, table_name: str, tmp_path: Path
) -> None:
    """A claim whose owner is a dead process on this host does not wait for its lease."""
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(dead.stdout)
    store = Store(
        mw.record_call, mw.point_model(table_name), tmp_path / "results", ".txt", shared_db_url
    )
    params = mw.points(4, 5)[0]
    calls: list[str] = []

    def runner(p: dict[str, Any]) -> None:
        calls.append(p["id"])
        Path(p["result_file"]).write_text(mw.content_for(p))

    store.runner = runner
    run_id = store.key(params)
    hour = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    owner = f"{os.uname().nodename}:{pid}:gone"
    with store.engine.begin() as conn:
        conn.execute(
            insert(claims_table),
            [{"table_name": table_name, "run_id": run_id, "owner": owner, "expires_at": hour}],
        )
    assert store.run_or_retrieve(params).id == run_id
    assert calls == [run_id]


def test_identical_processes_share_one_grid(
    shared_db_url: str, table_name: str, tmp_path: Path
) -> None:
    """Four copies of one sweep (array tasks) split a 200-point grid: each point runs once."""
    go = tmp_path / "go"
    procs = []
    for k in range(4):
        calls = tmp_path / f"calls-{k}.log"
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    SWEEPER,
                    shared_db_url,
                    table_name,
                    str(tmp_path / "results"),
                    str(calls),
                    "0",
                    "200",
                    "--go",
                    str(go),
                    "--work",
                    "0.01",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    mw.wait_until(lambda: len(list(tmp_path.glob("go.ready-*"))) == 4, timeout=TIMEOUT)
    go.touch()
    outputs = [_finish(p) for p in procs]
    shares = [sum(mw.call_counts(tmp_path / f"calls-{k}.log").values()) for k in range(4)]
    merged: dict[str, int] = {}
    for k in range(4):
        for run_id, count in mw.call_counts(tmp_path / f"calls-{k}.log").items():
            merged[run_id] = merged.get(run_id, 0) + count
    assert sum(shares) == 200, shares
    assert set(merged.values()) == {1}  # every point ran exactly once
    # a fair share: each process did at least a quarter of an equal share
    assert min(shares) >= 200 // 4 // 4, shares
    assert all(len(out.split()) == 200 for out in outputs)
    with Store(
        mw.record_call, mw.point_model(table_name), tmp_path / "results", ".txt", shared_db_url
    ) as store:
        assert _row_count(store) == 200
        _assert_complete(store, mw.points(0, 200))
