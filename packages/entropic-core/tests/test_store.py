"""The seed's Store API: construction, run_or_retrieve, run, retrieve, register, delete, patch."""

from __future__ import annotations

import datetime as dt
import inspect
import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from _core_models import CountingRunner, SimResult, StoreFactory, files_under

from entropic import ParameterError, SchemaError, Store
from entropic.hashing import HASH_SCHEME
from entropic.manifests import manifest_path


def _utc(value: dt.datetime) -> bool:
    return value.tzinfo is not None and value.utcoffset() == dt.timedelta(0)


# ---------------------------------------------------------------- construction


def test_constructor_signature_matches_the_contract() -> None:
    parameters = inspect.signature(Store.__init__).parameters
    positional = [
        name
        for name, p in parameters.items()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    assert positional == ["self", "runner", "result_cls", "results_dir", "file_suffix", "db_url"]
    assert parameters["runner"].default is inspect.Parameter.empty
    assert parameters["result_cls"].default is inspect.Parameter.empty
    assert parameters["results_dir"].default == "./results"
    assert parameters["file_suffix"].default == ".h5"
    assert parameters["db_url"].default == "sqlite:///db.sqlite3"
    extra = [n for n in parameters if n not in positional]
    assert all(parameters[n].kind is inspect.Parameter.KEYWORD_ONLY for n in extra)
    assert all(parameters[n].default is not inspect.Parameter.empty for n in extra)


def test_defaults_create_results_and_database_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runner: CountingRunner
) -> None:
    monkeypatch.chdir(tmp_path)
    with Store(runner, SimResult) as store:
        record = store.run_or_retrieve({"n": 1, "dt": 0.5})
    assert (tmp_path / "results").is_dir()
    assert (tmp_path / "db.sqlite3").is_file()
    assert Path(record.result_file) == tmp_path / "results" / f"{record.id}.h5"
    assert Path(record.result_file).is_file()


def test_results_dir_is_created_with_parents(
    tmp_path: Path, make_store: StoreFactory, runner: CountingRunner
) -> None:
    folder = tmp_path / "deep" / "er" / "results"
    make_store(runner, SimResult, results_dir=folder)
    assert folder.is_dir()


def test_constructor_rejects_a_non_model(make_store: StoreFactory, runner: CountingRunner) -> None:
    with pytest.raises(TypeError):
        make_store(runner, dict)
    with pytest.raises(TypeError):
        make_store("not callable", SimResult)


def test_the_hash_scheme_is_recorded_and_checked(
    make_store: StoreFactory, runner: CountingRunner, tmp_path: Path
) -> None:
    make_store(runner, SimResult).close()
    with closing(sqlite3.connect(tmp_path / "store.sqlite3")) as raw, raw:
        rows = raw.execute(
            "SELECT value FROM entropic_meta WHERE table_name = ? AND key = 'hash_scheme'",
            (SimResult.__tablename__,),
        ).fetchall()
        assert rows == [(HASH_SCHEME,)]
        raw.execute(
            "UPDATE entropic_meta SET value = 'md5-8:v0' WHERE table_name = ? "
            "AND key = 'hash_scheme'",
            (SimResult.__tablename__,),
        )
    with pytest.raises(SchemaError, match="md5-8:v0"):
        make_store(runner, SimResult)


# ---------------------------------------------------------------- run_or_retrieve / run


def test_run_or_retrieve_runs_once_then_hits(
    store: Store[SimResult], runner: CountingRunner
) -> None:
    first = store.run_or_retrieve({"n": 10, "dt": 0.1})
    assert runner.count == 1
    second = store.run_or_retrieve({"dt": 0.1, "n": 10})
    assert runner.count == 1
    assert second.id == first.id
    assert (second.n, second.dt, second.result_file) == (10, 0.1, first.result_file)
    other = store.run_or_retrieve({"n": 11, "dt": 0.1})
    assert runner.count == 2
    assert other.id != first.id


def test_record_fields(store: Store[SimResult], results_dir: Path) -> None:
    record = store.run_or_retrieve({"n": 100, "dt": 0.1})
    assert record.id == "e4ded0fc6efdb871"
    assert record.result_file == str(results_dir.resolve() / "e4ded0fc6efdb871.json")
    assert json.loads(Path(record.result_file).read_text())["n"] == 100
    assert _utc(record.created_at)
    assert set(record.custom_data) == {"elapsed_seconds"}


def test_run_always_runs_and_overwrites(store: Store[SimResult], runner: CountingRunner) -> None:
    first = store.run({"n": 5, "dt": 0.2}, tag="first")
    second = store.run({"n": 5, "dt": 0.2}, tag="second")
    assert runner.count == 2
    assert second.id == first.id
    assert second.result_file == first.result_file
    assert json.loads(Path(second.result_file).read_text())["call"] == 2
    assert second.created_at >= first.created_at
    stored = store.retrieve({"n": 5, "dt": 0.2})
    assert stored is not None
    assert stored.custom_data["tag"] == "second"
    assert len(store) == 1


def test_retrieve_returns_none_on_a_miss(store: Store[SimResult], runner: CountingRunner) -> None:
    assert store.retrieve({"n": 1, "dt": 0.1}) is None
    assert store.retrieve({"n": 1}) is None
    assert runner.count == 0


def test_retrieve_uses_an_explicit_id_verbatim(store: Store[SimResult]) -> None:
    store.run_or_retrieve({"id": "baseline", "n": 1, "dt": 0.1})
    found = store.retrieve({"id": "baseline"})
    assert found is not None
    assert found.id == "baseline"
    assert (found.n, found.dt) == (1, 0.1)
    assert store.retrieve({"n": 1, "dt": 0.1}) is None  # stored under its id, not its hash


def test_retrieve_strips_reserved_keys(store: Store[SimResult]) -> None:
    record = store.run_or_retrieve({"n": 1, "dt": 0.1})
    found = store.retrieve(
        {"n": 1, "dt": 0.1, "result_file": "x", "created_at": "y", "custom_data": {"z": 1}}
    )
    assert found is not None
    assert found.id == record.id


# ---------------------------------------------------------------- the runner contract


def test_runner_gets_a_copy_with_result_file_and_id(
    store: Store[SimResult], runner: CountingRunner, results_dir: Path
) -> None:
    params: dict[str, Any] = {"n": 3, "dt": 0.5}
    record = store.run_or_retrieve(params)
    assert params == {"n": 3, "dt": 0.5}  # the caller's dict is untouched
    (call,) = runner.calls
    assert call["n"] == 3
    assert call["dt"] == 0.5
    assert call["id"] == record.id
    assert "custom_data" not in call
    temp = Path(call["result_file"])
    final = Path(record.result_file)
    assert temp.name == final.name
    assert temp != final
    assert temp.resolve().is_relative_to(results_dir.resolve())
    assert not temp.exists()  # moved into place


def test_runner_mutating_its_params_changes_nothing(
    make_store: StoreFactory, results_dir: Path
) -> None:
    def meddling(params: dict[str, Any]) -> None:
        Path(params["result_file"]).write_text("ok")
        params["n"] = 999
        params["custom_data"] = {"evil": True}
        params.clear()

    store = make_store(meddling, SimResult)
    record = store.run_or_retrieve({"n": 3, "dt": 0.5})
    assert (record.n, record.dt) == (3, 0.5)
    stored = store.retrieve({"n": 3, "dt": 0.5})
    assert stored is not None
    assert "evil" not in stored.custom_data


def test_custom_data_is_forwarded_and_stored_only_when_a_run_happens(
    store: Store[SimResult], runner: CountingRunner
) -> None:
    record = store.run_or_retrieve({"n": 1, "dt": 0.1}, tag="a", weight=2)
    assert runner.calls[0]["custom_data"] == {"tag": "a", "weight": 2}
    assert record.custom_data["tag"] == "a"
    assert record.custom_data["weight"] == 2
    hit = store.run_or_retrieve({"n": 1, "dt": 0.1}, tag="b")
    assert runner.count == 1
    assert hit.custom_data["tag"] == "a"
    stored = store.retrieve({"n": 1, "dt": 0.1})
    assert stored is not None
    assert stored.custom_data["tag"] == "a"


def test_elapsed_seconds_is_added_on_every_run(
    make_store: StoreFactory, runner: CountingRunner
) -> None:
    store = make_store(runner, SimResult)
    records = [
        store.run_or_retrieve({"n": 1, "dt": 0.1}),
        store.run({"n": 1, "dt": 0.1}, note="x"),
        *store.sweep([{"n": 2, "dt": 0.1}, {"n": 3, "dt": 0.1}]),
    ]
    for record in records:
        elapsed = record.custom_data["elapsed_seconds"]
        assert isinstance(elapsed, float)
        assert elapsed >= 0
    assert "elapsed_seconds" not in runner.calls[1]["custom_data"]  # added after the run
    reread = make_store(runner, SimResult).retrieve({"n": 3, "dt": 0.1})
    assert reread is not None
    assert reread.custom_data["elapsed_seconds"] == records[-1].custom_data["elapsed_seconds"]


def test_created_at_is_aware_utc_when_read_back(
    make_store: StoreFactory, runner: CountingRunner
) -> None:
    before = dt.datetime.now(dt.UTC)
    record = make_store(runner, SimResult).run_or_retrieve({"n": 1, "dt": 0.1})
    after = dt.datetime.now(dt.UTC)
    assert _utc(record.created_at)
    fresh = make_store(runner, SimResult)
    found = fresh.retrieve({"n": 1, "dt": 0.1})
    assert found is not None
    assert _utc(found.created_at)
    assert before <= found.created_at <= after
    assert found.created_at == record.created_at
    (swept,) = fresh.sweep([{"n": 1, "dt": 0.1}])
    assert _utc(swept.created_at)
    (listed,) = fresh.find()
    assert _utc(listed.created_at)


# ---------------------------------------------------------------- register


def test_register_indexes_an_existing_file(
    store: Store[SimResult], runner: CountingRunner, tmp_path: Path
) -> None:
    produced = tmp_path / "elsewhere" / "made-by-hand.dat"
    produced.parent.mkdir()
    produced.write_text("external")
    record = store.register({"n": 4, "dt": 0.4}, produced, source="cluster")
    assert record.result_file == str(produced.resolve())
    assert record.custom_data == {"source": "cluster"}
    assert runner.count == 0
    assert store.run_or_retrieve({"n": 4, "dt": 0.4}).result_file == str(produced.resolve())
    assert runner.count == 0
    assert produced.read_text() == "external"


def test_register_a_missing_file_raises(
    store: Store[SimResult], tmp_path: Path, results_dir: Path
) -> None:
    with pytest.raises(FileNotFoundError):
        store.register({"n": 4, "dt": 0.4}, tmp_path / "absent.h5")
    assert store.retrieve({"n": 4, "dt": 0.4}) is None
    assert files_under(results_dir) == []


# ---------------------------------------------------------------- delete


def test_delete_returns_whether_a_row_was_removed(
    store: Store[SimResult], runner: CountingRunner
) -> None:
    record = store.run_or_retrieve({"n": 1, "dt": 0.1})
    assert store.delete({"n": 1, "dt": 0.1}) is True
    assert store.retrieve({"n": 1, "dt": 0.1}) is None
    assert Path(record.result_file).is_file()  # kept unless remove_file
    assert store.delete({"n": 1, "dt": 0.1}) is False
    assert store.delete({"n": 2, "dt": 0.1}) is False
    store.run_or_retrieve({"n": 1, "dt": 0.1})
    assert runner.count == 2


def test_delete_with_remove_file(store: Store[SimResult]) -> None:
    record = store.run_or_retrieve({"n": 1, "dt": 0.1})
    assert store.delete({"n": 1, "dt": 0.1}, remove_file=True) is True
    assert not Path(record.result_file).exists()


def test_delete_by_explicit_id(store: Store[SimResult]) -> None:
    store.run_or_retrieve({"id": "run-1", "n": 1, "dt": 0.1})
    assert store.delete({"id": "run-1"}) is True
    assert store.retrieve({"id": "run-1"}) is None


def test_delete_removes_the_manifest_so_ingest_does_not_resurrect(
    make_store: StoreFactory, runner: CountingRunner, results_dir: Path, tmp_path: Path
) -> None:
    store = make_store(runner, SimResult)
    kept = store.run_or_retrieve({"n": 1, "dt": 0.1})
    gone = store.run_or_retrieve({"n": 2, "dt": 0.1})
    assert manifest_path(store.results_dir, gone.id).is_file()
    store.delete({"n": 2, "dt": 0.1})
    assert not manifest_path(store.results_dir, gone.id).exists()
    assert Path(gone.result_file).is_file()
    assert store.ingest() == 0
    assert store.retrieve({"n": 2, "dt": 0.1}) is None
    rebuilt = make_store(runner, SimResult, db_url=f"sqlite:///{tmp_path / 'rebuilt.sqlite3'}")
    assert rebuilt.ingest() == 1
    assert rebuilt.retrieve({"n": 2, "dt": 0.1}) is None
    found = rebuilt.retrieve({"n": 1, "dt": 0.1})
    assert found is not None
    assert found.id == kept.id


# ---------------------------------------------------------------- patch and detached records


def test_patch_persists(make_store: StoreFactory, runner: CountingRunner) -> None:
    store = make_store(runner, SimResult)
    store.run_or_retrieve({"n": 1, "dt": 0.1}, a=1, b=2)
    patched = store.patch({"n": 1, "dt": 0.1}, {"custom_data": {"b": None, "c": 3}})
    assert "b" not in patched.custom_data
    assert (patched.custom_data["a"], patched.custom_data["c"]) == (1, 3)
    seen = make_store(runner, SimResult).retrieve({"n": 1, "dt": 0.1})
    assert seen is not None
    assert seen.custom_data == patched.custom_data
    assert "b" not in seen.custom_data
    store.patch({"n": 1, "dt": 0.1}, {"custom_data": {}})
    cleared = make_store(runner, SimResult).retrieve({"n": 1, "dt": 0.1})
    assert cleared is not None
    assert cleared.custom_data == {}


def test_patch_refuses_the_id_and_parameters(store: Store[SimResult]) -> None:
    store.run_or_retrieve({"n": 1, "dt": 0.1}, a=1)
    for data in ({"id": "x"}, {"n": 2}):
        with pytest.raises(ParameterError):
            store.patch({"n": 1, "dt": 0.1}, data)
    with pytest.raises(KeyError):
        store.patch({"n": 9, "dt": 0.1}, {"custom_data": {"a": 2}})
    stored = store.retrieve({"n": 1, "dt": 0.1})
    assert stored is not None
    assert stored.custom_data["a"] == 1


def test_records_are_detached_and_readable(store: Store[SimResult], tmp_path: Path) -> None:
    produced = tmp_path / "made.dat"
    produced.write_text("x")
    records = [
        store.run_or_retrieve({"n": 1, "dt": 0.1}, tag="t"),
        store.run_or_retrieve({"n": 1, "dt": 0.1}),
        store.run({"n": 2, "dt": 0.1}),
        store.retrieve({"n": 2, "dt": 0.1}),
        store.register({"n": 3, "dt": 0.1}, produced),
        store.patch({"n": 1, "dt": 0.1}, {"custom_data": {"seen": True}}),
        *store.sweep([{"n": 1, "dt": 0.1}, {"n": 4, "dt": 0.1}]),
    ]
    for record in records:
        assert record is not None
        state = sqlalchemy.inspect(record)
        assert state.detached
        assert isinstance(record.n, int)
        assert isinstance(record.dt, float)
        assert isinstance(record.custom_data, dict)
        assert isinstance(record.result_file, str)
        assert _utc(record.created_at)
