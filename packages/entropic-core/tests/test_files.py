"""Result files: atomic moves, failed runners, file suffixes, manifests and ingest."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from _core_models import Color, CountingRunner, Shaped, SimResult, StoreFactory, files_under

from entropic import MissingResultError, Store
from entropic.manifests import manifest_path
from entropic.running import TEMP_DIR_NAME


class Boom(RuntimeError):
    """What the failing runners raise."""


class HalfWriter:
    """A runner that writes part of its file, then raises the same exception object each call."""

    def __init__(self) -> None:
        self.error = Boom("the solver diverged")
        self.paths: list[Path] = []

    def __call__(self, params: dict[str, Any]) -> None:
        path = Path(params["result_file"])
        self.paths.append(path)
        path.write_text("half a result")
        raise self.error


def test_a_raising_runner_leaves_nothing_behind(
    make_store: StoreFactory, results_dir: Path
) -> None:
    failing = HalfWriter()
    store = make_store(failing, SimResult)
    with pytest.raises(Boom) as caught:
        store.run_or_retrieve({"n": 1, "dt": 0.1})
    assert caught.value is failing.error
    assert store.retrieve({"n": 1, "dt": 0.1}) is None
    assert len(store) == 0
    assert not store.result_path(store.key({"n": 1, "dt": 0.1})).exists()
    assert failing.paths[0].resolve().is_relative_to(results_dir.resolve())
    assert files_under(results_dir) == []  # no temporary, no manifest
    for entry in results_dir.iterdir():
        assert entry.name == TEMP_DIR_NAME  # only the (empty) scratch folder may remain


def test_a_raising_runner_in_run_propagates_unchanged(
    make_store: StoreFactory, results_dir: Path
) -> None:
    failing = HalfWriter()
    store = make_store(failing, SimResult)
    with pytest.raises(Boom) as caught:
        store.run({"n": 1, "dt": 0.1}, note="x")
    assert caught.value is failing.error
    assert files_under(results_dir) == []


def test_a_failed_run_keeps_the_previous_result(
    make_store: StoreFactory, runner: CountingRunner, results_dir: Path
) -> None:
    good = make_store(runner, SimResult)
    before = good.run({"n": 1, "dt": 0.1}, version=1)
    old_bytes = Path(before.result_file).read_bytes()
    old_manifest = manifest_path(good.results_dir, before.id).read_bytes()

    failing = HalfWriter()
    bad = make_store(failing, SimResult)
    with pytest.raises(Boom):
        bad.run({"n": 1, "dt": 0.1}, version=2)
    assert failing.paths[0].name == Path(before.result_file).name
    assert Path(before.result_file).read_bytes() == old_bytes
    assert manifest_path(good.results_dir, before.id).read_bytes() == old_manifest
    after = make_store(runner, SimResult).retrieve({"n": 1, "dt": 0.1})
    assert after is not None
    assert after.custom_data == before.custom_data
    assert after.created_at == before.created_at
    assert after.result_file == before.result_file
    assert sorted(p.name for p in files_under(results_dir)) == sorted(
        [Path(before.result_file).name, manifest_path(good.results_dir, before.id).name]
    )


def test_a_runner_that_writes_nothing_is_a_missing_result(
    make_store: StoreFactory, results_dir: Path
) -> None:
    calls: list[dict[str, Any]] = []

    def lazy(params: dict[str, Any]) -> None:
        calls.append(params)

    store = make_store(lazy, SimResult)
    with pytest.raises(MissingResultError) as caught:
        store.run_or_retrieve({"n": 1, "dt": 0.1})
    assert isinstance(caught.value, FileNotFoundError)
    assert len(calls) == 1
    assert store.retrieve({"n": 1, "dt": 0.1}) is None
    assert files_under(results_dir) == []


def test_the_temporary_folder_exists_for_the_runner(make_store: StoreFactory) -> None:
    """The temporary path's folder exists, so runners can open it directly."""
    seen: list[bool] = []

    def check(params: dict[str, Any]) -> None:
        seen.append(Path(params["result_file"]).parent.is_dir())
        Path(params["result_file"]).write_bytes(b"\x00\x01")

    store = make_store(check, SimResult)
    record = store.run_or_retrieve({"n": 1, "dt": 0.1})
    assert seen == [True]
    assert Path(record.result_file).read_bytes() == b"\x00\x01"


# ---------------------------------------------------------------- suffixes and manifests

SUFFIXES = [".h5", ".json", "", ".entropic.json", ".tar.gz", "-out.txt"]


@pytest.mark.parametrize("suffix", SUFFIXES, ids=lambda s: repr(s))
def test_any_file_suffix_works_and_never_meets_a_manifest(
    suffix: str, make_store: StoreFactory, runner: CountingRunner, results_dir: Path, tmp_path: Path
) -> None:
    store = make_store(runner, SimResult, file_suffix=suffix)
    params = [{"n": n, "dt": 0.1} for n in range(3)] + [{"id": "named-run", "n": 9, "dt": 0.9}]
    records = [store.run_or_retrieve(p) for p in params]
    results = {Path(r.result_file) for r in records}
    manifests = {manifest_path(store.results_dir, r.id) for r in records}
    assert all(m.is_file() for m in manifests)
    assert results.isdisjoint(manifests)
    for record in records:
        path = Path(record.result_file)
        assert path.name == f"{record.id}{suffix}"
        assert path.parent == results_dir.resolve()
        written = json.loads(path.read_text())
        assert written["id"] == record.id  # the runner's file, not a manifest
    on_disk = {p.resolve() for p in files_under(results_dir)}
    assert on_disk == {p.resolve() for p in results | manifests}

    store.close()
    (tmp_path / "store.sqlite3").unlink()
    rebuilt = make_store(
        runner, SimResult, file_suffix=suffix, db_url=f"sqlite:///{tmp_path / 'new.db'}"
    )
    assert rebuilt.ingest() == len(records)
    for p, record in zip(params, records, strict=True):
        found = rebuilt.retrieve(p)
        assert found is not None
        assert found.result_file == record.result_file
    assert runner.count == len(records)


def test_file_suffix_with_a_separator_is_refused(
    make_store: StoreFactory, runner: CountingRunner
) -> None:
    with pytest.raises(ValueError, match="file_suffix"):
        make_store(runner, SimResult, file_suffix="/../x.h5")


def test_ingest_rebuilds_a_deleted_database(
    make_store: StoreFactory, runner: CountingRunner, tmp_path: Path
) -> None:
    first_db = tmp_path / "first.sqlite3"
    store = make_store(runner, SimResult, db_url=f"sqlite:///{first_db}")
    originals = [
        store.run_or_retrieve({"n": n, "dt": 0.5}, batch="a", n_sq=n * n) for n in range(5)
    ]
    store.close()
    for leftover in tmp_path.glob("first.sqlite3*"):
        leftover.unlink()

    fresh = make_store(runner, SimResult, db_url=f"sqlite:///{tmp_path / 'second.sqlite3'}")
    assert fresh.retrieve({"n": 0, "dt": 0.5}) is None
    assert fresh.ingest() == 5
    assert fresh.ingest() == 0  # indexed once
    for n, original in enumerate(originals):
        found = fresh.retrieve({"n": n, "dt": 0.5})
        assert found is not None
        assert found.id == original.id
        assert found.result_file == original.result_file
        assert found.created_at == original.created_at
        assert found.custom_data == original.custom_data
        assert found.custom_data["n_sq"] == n * n
    hit = fresh.run_or_retrieve({"n": 2, "dt": 0.5})
    assert hit.id == originals[2].id
    assert runner.count == 5


def test_ingest_restores_enums_lists_and_datetimes(
    make_store: StoreFactory, runner: CountingRunner, tmp_path: Path
) -> None:
    when = dt.datetime(2024, 3, 4, 5, 6, 7, 123456, tzinfo=dt.UTC)
    params = {"mode": Color.BLUE, "shape": (2, 3), "start": when, "naive_start": when}
    store = make_store(runner, Shaped, db_url=f"sqlite:///{tmp_path / 'a.db'}")
    original = store.run_or_retrieve(params)
    rebuilt = make_store(runner, Shaped, db_url=f"sqlite:///{tmp_path / 'b.db'}")
    assert rebuilt.ingest() == 1
    found = rebuilt.run_or_retrieve(params)  # a hit, and no false collision
    assert runner.count == 1
    assert found.id == original.id
    assert found.mode is Color.BLUE
    assert found.shape == [2, 3]
    assert found.start == when
    assert found.label == "plain"


def test_ingest_skips_a_manifest_whose_file_is_gone(
    make_store: StoreFactory, runner: CountingRunner, tmp_path: Path
) -> None:
    store = make_store(runner, SimResult, db_url=f"sqlite:///{tmp_path / 'a.db'}")
    lost = store.run_or_retrieve({"n": 1, "dt": 0.1})
    store.run_or_retrieve({"n": 2, "dt": 0.1})
    Path(lost.result_file).unlink()
    fresh = make_store(runner, SimResult, db_url=f"sqlite:///{tmp_path / 'b.db'}")
    assert fresh.ingest() == 1
    assert fresh.retrieve({"n": 1, "dt": 0.1}) is None


def test_a_manifest_describes_its_run(store: Store[SimResult]) -> None:
    record = store.run_or_retrieve({"n": 7, "dt": 0.25}, batch="b1")
    body = json.loads(manifest_path(store.results_dir, record.id).read_text())
    assert body["entropic_manifest"] == 1
    assert body["id"] == record.id
    assert body["params"] == {"n": 7, "dt": 0.25}
    assert (store.results_dir / body["result_file"]).resolve() == Path(record.result_file)
    assert body["custom_data"] == record.custom_data
    assert body["created_at"] == record.created_at.isoformat()


def test_store_records_result_paths_inside_results_dir(
    store: Store[SimResult], results_dir: Path
) -> None:
    record = store.run_or_retrieve({"n": 1, "dt": 0.1})
    assert Path(record.result_file).parent == results_dir.resolve()
    assert Path(record.result_file) == store.result_path(record.id)
