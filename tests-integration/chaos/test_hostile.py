"""Hostile manifests: files crafted to reach outside the results directory, to overwrite another
run, to lie about their parameters, or to exhaust the reader.

``ingest``, ``verify``, ``gc``, ``delete(remove_file=True)`` and ``entropic rm --remove-file``
must never delete a file outside the results directory, never crash, and skip what they cannot
trust with a warning that names the file.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _chaos import content, mw, stored_rows

from entropic import Store
from entropic.manifests import MAX_MANIFEST_BYTES, manifest_path

DEEP = 100_000
HUGE = 300 * 1024 * 1024


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store[Any]]:
    """A SQLite store holding points 0..10, with a victim file beside its results directory."""

    def runner(params: dict[str, Any]) -> None:
        Path(params["result_file"]).write_text(content(params, "honest"))

    table = mw.new_table_name()
    store = Store(
        runner,
        mw.point_model(table),
        tmp_path / "results",
        ".txt",
        f"sqlite:///{tmp_path / 'store.sqlite3'}",
    )
    store.sweep(mw.points(0, 10))
    (tmp_path / "victim.txt").write_text("precious\n")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "victim.txt").write_text("precious too\n")
    yield store
    store.close()


def _body(run_id: str, params: dict[str, Any], result_file: str) -> dict[str, Any]:
    return {
        "entropic_manifest": 1,
        "id": run_id,
        "params": {**params, "mode": None, "shape": None, "when": None},
        "result_file": result_file,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "custom_data": {},
        "key_names": ["n", "x", "label"],
    }


def _plant(store: Store[Any], name_id: str, body: dict[str, Any] | str) -> Path:
    """Write a manifest named after ``name_id`` with ``body`` (a dict, or raw text)."""
    path = manifest_path(store.results_dir, name_id)
    path.write_text(body if isinstance(body, str) else json.dumps(body))
    return path


def _victims(tmp_path: Path) -> list[Path]:
    return [tmp_path / "victim.txt", tmp_path / "elsewhere" / "victim.txt"]


def _intact(tmp_path: Path) -> None:
    assert (tmp_path / "victim.txt").read_text() == "precious\n"
    assert (tmp_path / "elsewhere" / "victim.txt").read_text() == "precious too\n"


def _warned_about(caplog: pytest.LogCaptureFixture, path: Path) -> bool:
    return any(r.levelno >= logging.WARNING and path.name in r.getMessage() for r in caplog.records)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "entropic"
    if not script.exists():
        pytest.skip("the entropic command is not installed beside this Python")
    return subprocess.run(
        [str(script), *args], capture_output=True, text=True, timeout=120, check=False
    )


def _hostile(store: Store[Any], tmp_path: Path) -> dict[str, Path]:
    """Plant one manifest of each kind; return them by kind."""
    free = mw.points(100, 110)  # parameter sets with no row
    ids = [store.key(p) for p in free]
    victim, far = _victims(tmp_path)
    stored = mw.points(0, 10)
    link = store.results_dir / f"{ids[2]}.txt"
    link.symlink_to(victim)
    nested = "[" * DEEP + "]" * DEEP
    deep = json.dumps(_body(ids[5], free[5], f"{ids[5]}.txt")).replace(
        '"shape": null', f'"shape": {nested}'
    )
    (store.results_dir / f"{ids[5]}.txt").write_text(content(free[5], "deep"))
    planted = {
        "traversal": _plant(store, ids[0], _body(ids[0], free[0], "../victim.txt")),
        "absolute": _plant(store, ids[1], _body(ids[1], free[1], str(far))),
        "symlink": _plant(store, ids[2], _body(ids[2], free[2], link.name)),
        # named after a free id, holding a stored run's id: would overwrite that run's row
        "other id": _plant(store, ids[3], _body(store.key(stored[0]), free[3], f"{ids[3]}.txt")),
        # named and keyed as a stored run, with other parameters
        "lying params": _plant(store, ids[4], _body(ids[4], free[6], f"{ids[4]}.txt")),
        "deep": _plant(store, ids[5], deep),
    }
    for kind in ("other id", "lying params"):
        path = store.results_dir / json.loads(planted[kind].read_text())["result_file"]
        path.write_text("crafted\n")
    huge = manifest_path(store.results_dir, ids[7])
    with open(huge, "wb") as f:
        f.write(json.dumps(_body(ids[7], free[7], f"{ids[7]}.txt"))[:-1].encode())
        f.write(b', "padding": "')
        f.truncate(HUGE)  # sparse: 300 MB long, next to nothing on disk
    (store.results_dir / f"{ids[7]}.txt").write_text(content(free[7], "huge"))
    planted["huge"] = huge
    return planted


def test_ingest_verify_gc_delete_survive_hostile_manifests(
    store: Store[Any],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    tally: Counter[str],
) -> None:
    """Every hostile manifest is skipped by name; nothing outside results_dir is touched."""
    before = stored_rows(str(store.engine.url), store.result_cls.__tablename__)
    planted = _hostile(store, tmp_path)
    try:
        caplog.set_level(logging.WARNING, logger="entropic")
        started = time.monotonic()
        assert store.ingest() == 0
        assert time.monotonic() - started < 10, "ingest read a huge manifest whole"
        for kind, path in planted.items():
            assert _warned_about(caplog, path), f"no warning naming the {kind} manifest {path}"
        after = stored_rows(str(store.engine.url), store.result_cls.__tablename__)
        assert after == before, "a hostile manifest changed the stored rows"
        for params in mw.points(0, 10):  # the run the "other id" manifest aimed at is unchanged
            record = store.retrieve(params)
            assert record is not None
            assert Path(record.result_file).read_text() == content(params, "honest")

        problems = store.verify()
        bad = {p.path for p in problems if p.kind == "bad-manifest"}
        assert {planted["deep"], planted["huge"], planted["other id"]} <= bad
        report = store.gc(purge=True)
        removed = {p.path for p in report.removed}
        assert not removed & set(planted.values())
        assert all(p.path.resolve().is_relative_to(store.results_dir) for p in report.removed)
        _intact(tmp_path)

        for params in mw.points(100, 110):  # the planted ids: nothing is stored for them
            assert store.delete(params, remove_file=True) is False
        _intact(tmp_path)
        assert not planted["huge"].exists()  # delete removes the manifest of the id it names
    finally:
        for path in planted.values():
            path.unlink(missing_ok=True)
    tally["hostile cases tried"] += len(planted)


def test_rows_pointing_outside_never_lose_their_file(
    store: Store[Any], tmp_path: Path, caplog: pytest.LogCaptureFixture, tally: Counter[str]
) -> None:
    """A row whose file lies outside results_dir: delete and ``entropic rm`` keep that file."""
    victim, far = _victims(tmp_path)
    inside_link = store.results_dir / "link.txt"
    inside_link.symlink_to(far)
    first, second, third = mw.points(200, 203)
    store.register(first, victim)
    store.register(second, far)
    store.register(third, inside_link)
    caplog.set_level(logging.WARNING, logger="entropic")
    assert store.delete(first, remove_file=True) is True
    assert _warned_about(caplog, victim)
    assert store.delete(hash=store.key(third), remove_file=True) is True
    _intact(tmp_path)
    ended = _cli(
        "rm",
        store.key(second),
        "--remove-file",
        "--yes",
        "--db",
        str(store.engine.url),
        "--results-dir",
        str(store.results_dir),
        "--table",
        store.result_cls.__tablename__,
    )
    assert ended.returncode == 0, ended.stderr
    assert "Traceback" not in ended.stderr
    assert store.retrieve(second) is None
    _intact(tmp_path)
    tally["hostile cases tried"] += 3


def test_cli_survives_hostile_manifests(
    store: Store[Any], tmp_path: Path, tally: Counter[str]
) -> None:
    """``entropic ingest``, ``verify`` and ``gc`` end with a message, never a traceback."""
    planted = _hostile(store, tmp_path)
    common = [
        "--db",
        str(store.engine.url),
        "--results-dir",
        str(store.results_dir),
        "--table",
        store.result_cls.__tablename__,
    ]
    try:
        for command in (["ingest"], ["verify"], ["gc", "--yes"], ["gc", "--purge", "--yes"]):
            ended = _cli(*command, *common)
            assert "Traceback" not in ended.stderr, ended.stderr
            assert "RecursionError" not in ended.stderr + ended.stdout
            assert ended.returncode in (0, 1), f"{command}: {ended.stderr}"
        ingest = _cli("ingest", *common)
        for kind in ("traversal", "absolute", "deep", "huge", "other id"):
            assert planted[kind].name in ingest.stderr + ingest.stdout, kind
        _intact(tmp_path)
    finally:
        for path in planted.values():
            path.unlink(missing_ok=True)
    tally["hostile cases tried"] += len(planted)


def test_a_deep_manifest_on_disk_does_not_stop_a_sweep(store: Store[Any], tmp_path: Path) -> None:
    """A sweep finding a hostile manifest where a miss's would be runs the miss, once."""
    params = mw.points(300, 301)[0]
    run_id = store.key(params)
    path = _plant(store, run_id, '{"entropic_manifest": 1, "params": ' + "[" * DEEP + "]" * DEEP)
    calls: list[str] = []

    def runner(p: dict[str, Any]) -> None:
        calls.append(p["id"])
        Path(p["result_file"]).write_text(content(p, "honest"))

    store.runner = runner
    assert [r.id for r in store.sweep([params])] == [run_id]
    assert calls == [run_id]
    assert json.loads(path.read_text())["id"] == run_id  # replaced by the run's own
    assert os.path.getsize(path) < MAX_MANIFEST_BYTES
