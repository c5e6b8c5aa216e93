"""Sweeps on an in-process Dask cluster: results, order, cache, keys, window, packing, failures."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from entropic import Store, SweepError, SweepProgress
from entropic.running import TEMP_DIR_NAME

distributed = pytest.importorskip("distributed")

from _dask_helpers import (  # noqa: E402
    Point,
    RecordingRunner,
    TaskCounter,
    params,
    read_result,
    stranger,
)

from entropic_dask import DaskExecutor, DaskFallbackWarning  # noqa: E402


def assert_stored(store: Store[Point], points: list[dict[str, Any]]) -> list[Point]:
    """Every point has one row whose file holds that point's result; returns the records."""
    assert store.count() == len(points)
    records = []
    for p in points:
        record = store.retrieve(p)
        assert record is not None, p
        body = read_result(record.result_file)
        assert (body["x"], body["label"]) == (p["x"], p["label"])
        records.append(record)
    leftovers = [p for p in (store.results_dir / TEMP_DIR_NAME).rglob("*") if not p.is_dir()]
    assert leftovers == []
    return records


def fallback_warnings(record: pytest.WarningsRecorder) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, DaskFallbackWarning)]


def test_sweep_runs_on_the_workers_and_returns_input_order(
    store: Store[Point], client: distributed.Client, runner: RecordingRunner
) -> None:
    points = params(60)
    random.Random(4).shuffle(points)
    records = store.sweep(points, client=client)
    assert [(r.x, r.label) for r in records] == [(p["x"], p["label"]) for p in points]
    assert runner.count() == 60
    for record in assert_stored(store, points):
        assert read_result(record.result_file)["thread"] != threading.current_thread().name
        assert record.custom_data["host"]
        assert record.custom_data["elapsed_seconds"] >= 0


def test_named_executor_uses_the_current_client(
    store: Store[Point], client: distributed.Client, counter: TaskCounter
) -> None:
    points = params(10)
    with client.as_current():
        store.sweep(points, executor="dask")
    assert_stored(store, points)
    assert counter.keys == {f"entropic-run-{store.key(p)}" for p in points}


def test_second_sweep_runs_nothing(
    store: Store[Point], client: distributed.Client, runner: RecordingRunner
) -> None:
    first = store.sweep(params(30), client=client)
    assert runner.count() == 30
    again = store.sweep([*params(30), *params(5, start=30)], client=client)
    assert runner.count() == 35
    assert [r.id for r in again[:30]] == [r.id for r in first]
    assert [r.created_at for r in again[:30]] == [r.created_at for r in first]
    assert_stored(store, params(35))


def test_window_bounds_the_tasks_in_flight(
    store: Store[Point], client: distributed.Client, counter: TaskCounter
) -> None:
    executor = DaskExecutor(client=client, window=12, batch=4)
    points = params(150)
    store.sweep(points, executor=executor)
    assert_stored(store, points)
    assert executor.max_in_flight == 12
    assert 0 < counter.max_pending <= 12
    assert counter.keys == {f"entropic-run-{store.key(p)}" for p in points}


def test_pack_runs_several_points_per_task(
    store: Store[Point], client: distributed.Client, counter: TaskCounter, runner: RecordingRunner
) -> None:
    executor = DaskExecutor(client=client, window=21, pack=7)
    points = params(100)
    records = store.sweep(points, executor=executor)
    assert [r.x for r in records] == list(range(100))
    assert_stored(store, points)
    assert runner.count() == 100
    assert all(key.startswith("entropic-pack-") for key in counter.keys)
    assert 100 / 7 <= len(counter.keys) < 100 / 3
    assert all(r.custom_data["elapsed_seconds"] >= 0 for r in records)


def test_failed_runs_raise_after_the_rest_is_stored(
    tmp_path: Path, calls: Path, client: distributed.Client
) -> None:
    runner = RecordingRunner(calls, fail_on=frozenset({3, 17, 18}))
    with Store(runner, Point, tmp_path / "r", ".json", f"sqlite:///{tmp_path / 'f.db'}") as store:
        points = params(40)
        with pytest.raises(SweepError) as caught:
            store.sweep(points, client=client)
        failed = {f.params["x"] for f in caught.value.failures}
        assert failed == {3, 17, 18}
        assert all(isinstance(e, ValueError) for e in caught.value.exceptions)
        assert_stored(store, [p for p in points if p["x"] not in failed])


def test_closed_client_falls_back_with_one_warning(
    store: Store[Point], cluster: distributed.LocalCluster, runner: RecordingRunner
) -> None:
    client = distributed.Client(cluster, set_as_default=False)
    client.close()
    points = params(25)
    with pytest.warns(DaskFallbackWarning) as record:
        store.sweep(points, client=client)
    messages = fallback_warnings(record)
    assert len(messages) == 1
    # the sweep hands tasks over as it claims them, so the warning cannot count them ahead;
    # every one of the 25 is checked below to have run in this thread
    assert "client is closed" in messages[0]
    for record_ in assert_stored(store, points):
        assert read_result(record_.result_file)["thread"] == threading.current_thread().name
    assert runner.count() == 25


def test_unpicklable_runner_falls_back_with_one_warning(
    tmp_path: Path, client: distributed.Client
) -> None:
    lock = threading.Lock()
    ran: list[int] = []

    def runner(p: dict[str, Any]) -> None:
        with lock:
            ran.append(p["x"])
        Path(p["result_file"]).write_text(json.dumps({"x": p["x"], "label": p["label"]}))

    with Store(runner, Point, tmp_path / "r", ".json", f"sqlite:///{tmp_path / 'u.db'}") as store:
        points = params(12)
        with pytest.warns(DaskFallbackWarning) as record:
            store.sweep(points, client=client)
        messages = fallback_warnings(record)
        assert len(messages) == 1
        assert "cannot be pickled" in messages[0]
        assert sorted(ran) == list(range(12))
        assert_stored(store, points)


def test_interrupt_cancels_what_is_outstanding_and_keeps_what_finished(
    store: Store[Point], client: distributed.Client, counter: TaskCounter
) -> None:
    points = params(300)
    seen: list[SweepProgress] = []

    def interrupt(progress: SweepProgress) -> None:
        seen.append(progress)
        if progress.done >= 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.sweep(points, client=client, callback=interrupt)
    assert seen[-1].done == 10
    assert 10 <= store.count() < 300  # the finished runs were persisted
    assert counter.all_forgotten.wait(timeout=30), "the outstanding tasks were not cancelled"
    store.sweep(points, client=client)
    assert store.count() == 300


def test_a_strangers_task_under_our_key_is_not_taken_for_ours(
    store: Store[Point],
    client: distributed.Client,
    cluster: distributed.LocalCluster,
    caplog: pytest.LogCaptureFixture,
) -> None:
    point = params(1)[0]
    key = f"entropic-run-{store.key(point)}"
    with distributed.Client(cluster, set_as_default=False) as other:
        held = other.submit(stranger, key=key, pure=False)
        assert held.result(timeout=30) == ("someone-else", None)
        with caplog.at_level(logging.WARNING, logger="entropic_dask"):
            (record,) = store.sweep([point], client=client)
        assert read_result(record.result_file)["x"] == point["x"]
        assert "answered for another sweep" in caplog.text
        assert held.result(timeout=30) == ("someone-else", None)


def test_progress_is_reported_as_in_serial_sweeps(
    store: Store[Point], client: distributed.Client
) -> None:
    store.sweep(params(5), client=client)
    seen: list[SweepProgress] = []
    store.sweep(params(20), client=client, callback=seen.append)
    assert seen[0].total == 20
    assert seen[0].hits == 5
    assert seen[-1].done == 20
    assert [s.done for s in seen] == sorted(s.done for s in seen)


def test_client_closed_mid_sweep_sends_the_rest_to_this_process(
    store: Store[Point], cluster: distributed.LocalCluster, runner: RecordingRunner
) -> None:
    client = distributed.Client(cluster, set_as_default=False)
    executor = DaskExecutor(client=client, window=8, batch=2)

    def close_after_ten(progress: SweepProgress) -> None:
        if progress.done == 10:
            client.close()

    points = params(120)
    with pytest.warns(DaskFallbackWarning) as record:
        store.sweep(points, executor=executor, callback=close_after_ten)
    messages = fallback_warnings(record)
    assert len(messages) == 1
    assert "client is clos" in messages[0]
    # tasks already running on the (in-process) workers when the client closed run to their end
    pause, deadline = threading.Event(), time.monotonic() + 30
    while any(w.state.executing_count for w in cluster.workers.values()):
        assert time.monotonic() < deadline
        pause.wait(0.01)
    here = threading.current_thread().name
    threads = [read_result(r.result_file)["thread"] for r in assert_stored(store, points)]
    assert 10 <= threads.count(here) <= executor.fallback_runs <= 110
    # only the runs in flight when the client closed (at most the window) ran twice; a worker
    # that finishes one after the fallback did replaces the file with an equally complete one
    assert runner.count() <= 120 + 8
