"""SIGKILL, again and again: sweeps, ``delete``, ``ingest`` and ``add_parameter`` killed at
moments a seeded random source picks, with the store's invariants checked after every kill.

After each kill: no partial file at a final path, no row without its complete file, nothing
finished lost, and a killed sweep costs at most the run it had in flight (finished runs on disk
are indexed by the next sweep, not run again).
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from _chaos import (
    DEADLINE,
    Snapshot,
    content,
    expected_ids,
    finish,
    kill,
    lines,
    mw,
    snapshot,
    spawn,
    stored_rows,
    wait_for,
)

from entropic import SchemaError, Store, hash_params
from entropic.manifests import Manifest, manifest_path, scan_manifests, write_manifest

#: Kills of a sweep per database (the servers' rounds are slower).
SWEEP_KILLS = {"sqlite": 12, "postgresql": 5, "mysql": 5}
GRID = 500


def _kind(db_url: str) -> str:
    return db_url.split(":", 1)[0].split("+", 1)[0]


def _jitter(rng: random.Random, most: float) -> None:
    """Let the child go on for a random moment: this picks the instant of the kill, it does
    not wait for anything."""
    time.sleep(rng.uniform(0, most))


def _kill_when(proc: Any, rng: random.Random, ready: Any, jitter: float, what: str) -> bool:
    """Kill ``proc`` a random moment after ``ready()`` holds (or it ended by itself)."""
    try:
        wait_for(lambda: ready() or proc.poll() is not None, DEADLINE, what)
        _jitter(rng, jitter)
    finally:
        hit = kill(proc)
    return hit


def _setup_runs(db_url: str, table: str, results: Path, start: int, stop: int) -> Store[Any]:
    """A store holding points ``start..stop``, run in this process."""

    def runner(params: dict[str, Any]) -> None:
        Path(params["result_file"]).write_text(content(params, "setup"))

    store = Store(runner, mw.point_model(table), results, ".txt", db_url)
    store.sweep(mw.points(start, stop))
    return store


def test_sweep_killed_repeatedly(
    db_url: str, table_name: str, tmp_path: Path, rng: random.Random, tally: Counter[str]
) -> None:
    """A sweep killed again and again loses nothing and re-runs at most its run in flight."""
    kills = SWEEP_KILLS[_kind(db_url)]
    results, calls = tmp_path / "results", tmp_path / "calls.log"
    expected = expected_ids(0, GRID)
    in_flight: Counter[str] = Counter()
    finished: set[str] = set()
    last = Snapshot()
    survived = 0

    def sweeper(order: int, seed: int) -> Any:
        return spawn(
            "sweep",
            db_url,
            table_name,
            str(results),
            "--calls",
            str(calls),
            "--start",
            "0",
            "--stop",
            str(GRID),
            "--order",
            str(order),
            "--seed",
            str(seed),
            "--log",
            str(tmp_path / f"log-{seed}"),
        )

    for round_ in range(kills):
        before = mw.call_counts(calls)
        base = sum(before.values())
        # most kills land early; some after a batch commit or two
        runs = rng.randint(1, 20) if rng.random() < 0.7 else rng.randint(20, 150)
        proc = sweeper(rng.randrange(1 << 30), round_)
        hit = _kill_when(
            proc,
            rng,
            lambda base=base, runs=runs: len(lines(calls)) - base >= runs,
            0.03,
            f"{runs} runner calls in round {round_}",
        )
        snap = snapshot(db_url, table_name, results, expected)
        after = mw.call_counts(calls)
        called = {i for i, n in after.items() if n > before.get(i, 0)}
        again = called & finished
        assert not again, (
            f"round {round_}: {len(again)} finished runs ran again "
            f"({len(again & set(last.rows))} had a row, the others a manifest and a file)"
        )
        assert all(after[i] - before.get(i, 0) == 1 for i in called), "a run ran twice"
        lost = finished - snap.finished
        assert not lost, f"round {round_}: finished runs lost: {sorted(lost)}"
        unfinished = called - snap.finished
        assert len(unfinished) <= 1, f"round {round_}: {len(unfinished)} runs in flight lost"
        in_flight.update(unfinished)
        finished, last = snap.finished, snap
        survived += hit

    ended = finish(sweeper(rng.randrange(1 << 30), kills))
    assert ended.returncode == 0, ended.err
    assert sorted(ended.out.split()) == sorted(expected)
    snap = snapshot(db_url, table_name, results, expected)
    assert set(snap.rows) == set(expected)
    counts = mw.call_counts(calls)
    extra = {i: n - 1 for i, n in counts.items() if n > 1}
    assert all(extra[i] <= in_flight[i] for i in extra), "a run redone that was not in flight"
    assert sum(counts.values()) - GRID <= survived
    assert survived >= kills // 2, f"only {survived} of {kills} kills hit a running sweep"
    tally["kills survived"] += survived
    tally["runs redone after a kill"] += sum(extra.values())


def test_delete_killed_repeatedly(
    db_url: str, table_name: str, tmp_path: Path, rng: random.Random, tally: Counter[str]
) -> None:
    """A killed ``delete`` leaves each run complete or gone for good, never resurrectable."""
    if _kind(db_url) == "mysql":
        pytest.skip("delete kills run on SQLite and PostgreSQL; MariaDB's sweep kills suffice")
    results = tmp_path / "results"
    expected = expected_ids(0, 240)
    store = _setup_runs(db_url, table_name, results, 0, 240)
    doomed = list(expected)
    rng.shuffle(doomed)
    doomed = doomed[:150]
    ids_file, progress = tmp_path / "ids", tmp_path / "deleted.log"
    ids_file.write_text("\n".join(doomed) + "\n")
    survived = 0
    for round_ in range(5):
        done = len(lines(progress))
        left = [i for i in doomed if i not in set(lines(progress))]
        ids_file.write_text("\n".join(left) + "\n")
        target = rng.randint(0, 20)
        ready = tmp_path / f"ready-{round_}"
        proc = spawn(
            "delete",
            db_url,
            table_name,
            str(results),
            "--ids",
            str(ids_file),
            "--progress",
            str(progress),
            "--ready",
            str(ready),
        )
        survived += _kill_when(
            proc,
            rng,
            lambda r=ready, d=done, n=target: r.exists() and len(lines(progress)) - d >= n,
            0.01,
            f"{target} deletions",
        )
        snap = snapshot(db_url, table_name, results, expected)
        half = [i for i in doomed if (i in snap.rows) != (i in snap.manifests)]
        # killed between the manifest and the row: a row without its manifest, at most one
        assert len(half) <= 1, half
        assert all(i in snap.rows for i in half), half
        # killed between the row and the file: the file stays, for gc (one per kill at most)
        orphans = {i for i in doomed if i not in snap.rows and i in snap.files}
        assert len(orphans) <= round_ + 1, f"files of deleted runs left behind: {orphans}"
        assert store.ingest() == 0, "ingest brought a deleted run back"
    ended = finish(
        spawn(
            "delete",
            db_url,
            table_name,
            str(results),
            "--ids",
            str(ids_file),
            "--progress",
            str(tmp_path / "rest.log"),
        )
    )
    assert ended.returncode == 0, ended.err
    snap = snapshot(db_url, table_name, results, expected)
    assert set(snap.rows) == set(expected) - set(doomed)
    assert not set(doomed) & snap.manifests
    left_behind = set(doomed) & set(snap.files)
    assert left_behind <= orphans, "delete(remove_file=True) left files"
    report = store.gc()
    assert {p.path.name for p in report.removed} == {f"{i}.txt" for i in left_behind}
    assert not set(doomed) & set(snapshot(db_url, table_name, results, expected).files)
    calls: list[str] = []

    def runner(params: dict[str, Any]) -> None:
        calls.append(params["id"])
        Path(params["result_file"]).write_text(content(params, "again"))

    store.runner = runner
    store.sweep(mw.points(0, 240))
    assert sorted(calls) == sorted(doomed)  # the deleted runs, once each; nothing else
    assert survived >= 2, f"only {survived} kills hit a running delete"
    tally["kills survived"] += survived


def _write_runs(results: Path, table: str, count: int) -> dict[str, dict[str, Any]]:
    """Result files and manifests of ``count`` runs, as an array job that wrote only files."""
    expected = expected_ids(0, count)
    results.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    for run_id, params in expected.items():
        path = results / f"{run_id}.txt"
        path.write_text(content(params, "array"))
        values = {**params, "mode": None, "shape": None, "when": None}
        write_manifest(
            results,
            Manifest(run_id, values, str(path), now, {}, key_names=("n", "x", "label")),
        )
    return expected


def test_ingest_killed_repeatedly(tmp_path: Path, rng: random.Random, tally: Counter[str]) -> None:
    """A killed ``ingest`` stores only complete runs; ingesting again adds exactly the rest."""
    db_url = f"sqlite:///{tmp_path / 'rebuilt.sqlite3'}"
    table = mw.new_table_name()
    results = tmp_path / "results"
    expected = _write_runs(results, table, 1600)
    survived = 0
    stored: dict[str, str] = {}
    for round_ in range(4):
        ready = tmp_path / f"ready-{round_}"
        proc = spawn("ingest", db_url, table, str(results), "--ready", str(ready))
        survived += _kill_when(proc, rng, ready.exists, 0.4, "the ingest to start")
        snap = snapshot(db_url, table, results, expected)
        assert set(stored) <= set(snap.rows), "ingested rows lost"
        stored = snap.rows
    ended = finish(spawn("ingest", db_url, table, str(results)))
    assert ended.returncode == 0, ended.err
    assert int(ended.out) == len(expected) - len(stored)
    snap = snapshot(db_url, table, results, expected)
    assert set(snap.rows) == set(expected)
    store = Store(None, mw.point_model(table), results, ".txt", db_url)
    for params in rng.sample(list(expected.values()), 50):
        record = store.retrieve(params)
        assert record is not None
        assert record.n == params["n"]
    assert survived >= 2, f"only {survived} kills hit a running ingest"
    tally["kills survived"] += survived


def test_add_parameter_killed_repeatedly(
    tmp_path: Path, rng: random.Random, tally: Counter[str]
) -> None:
    """A killed ``add_parameter`` completes when called again; every run is kept, none redone."""
    db_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    table = mw.new_table_name()
    results = tmp_path / "results"
    old = expected_ids(0, 600)
    # the old model in a process of its own: one process cannot map both models to one table
    setup = finish(
        spawn(
            "sweep",
            db_url,
            table,
            str(results),
            "--calls",
            str(tmp_path / "calls.log"),
            "--start",
            "0",
            "--stop",
            "600",
            "--pause",
            "0,0",
        )
    )
    assert setup.returncode == 0, setup.err
    grid = [{**p, "temperature": 300.0} for p in old.values()]
    new = {hash_params(p): p for p in grid}
    renamed = {old_id: hash_params({**p, "temperature": 300.0}) for old_id, p in old.items()}
    both = {**old, **new}
    progress = tmp_path / "progress.log"
    survived = 0
    for round_ in range(4):
        ready = tmp_path / f"ready-{round_}"
        done = len(lines(progress))
        chunks = rng.randint(0, 8)
        proc = spawn(
            "addparam",
            db_url,
            table,
            str(results),
            "--progress",
            str(progress),
            "--chunk",
            "50",
            "--ready",
            str(ready),
        )
        survived += _kill_when(
            proc,
            rng,
            lambda r=ready, d=done, n=chunks: r.exists() and len(lines(progress)) - d >= n,
            0.05,
            f"{chunks} chunks re-keyed",
        )
        # until it is completed, a row may point to where its file was before the renaming
        snap = snapshot(db_url, table, results, both, rows_have_files=False)
        assert len(snap.rows) == 600, "a run lost while re-keying"
        for old_id, new_id in renamed.items():
            assert (old_id in snap.rows) != (new_id in snap.rows), f"run {old_id} kept twice"
            assert (old_id in snap.files) != (new_id in snap.files), f"run {old_id}'s file"
        if set(old) & set(snap.rows):  # not complete: the Store refuses to work until it is
            store = Store(None, mw.heated_model(table), results, ".txt", db_url)
            with store, pytest.raises(SchemaError, match=r"did not finish|lacks"):
                store.retrieve(grid[0])
    ended = finish(spawn("addparam", db_url, table, str(results), "--progress", str(progress)))
    assert ended.returncode == 0, ended.err
    snap = snapshot(db_url, table, results, both)
    assert set(snap.rows) == set(new)
    assert snap.manifests == set(new)
    calls: list[str] = []
    store = Store(calls.append, mw.heated_model(table), results, ".txt", db_url)
    assert len(store.sweep(grid)) == 600
    assert calls == [], "re-keyed runs ran again"
    problems = [p for p in store.verify() if p.kind != "leftover"]
    assert problems == []
    assert survived >= 2, f"only {survived} kills hit a running add_parameter"
    tally["kills survived"] += survived


def test_rows_match_disk_after_kills_helper_sanity(tmp_path: Path) -> None:
    """The checker itself catches a partial file, a row without its file and a bad manifest."""
    db_url = f"sqlite:///{tmp_path / 's.sqlite3'}"
    table = mw.new_table_name()
    results = tmp_path / "results"
    expected = expected_ids(0, 3)
    store = _setup_runs(db_url, table, results, 0, 3)
    snapshot(db_url, table, results, expected)
    first, second, third = list(expected)
    path = results / f"{first}.txt"
    path.write_text(path.read_text()[:-5])
    with pytest.raises(AssertionError, match="partial result file"):
        snapshot(db_url, table, results, expected)
    path.write_text(content(expected[first], "fixed"))
    (results / f"{second}.txt").unlink()
    with pytest.raises(AssertionError, match="without its file"):
        snapshot(db_url, table, results, expected)
    (results / f"{second}.txt").write_text(content(expected[second], "fixed"))
    manifest_path(results, third).write_text('{"entropic_manifest": 1, "id": "')
    with pytest.raises(ValueError):
        snapshot(db_url, table, results, expected)
    assert len(list(scan_manifests(results))) == 3
    assert stored_rows(db_url, table).keys() == expected.keys()
    store.close()
