"""The facade's own promises: code written for entropic 2.x, a Store without a runner, the facts
a Store records, deleting in an order that never lets ingest bring a run back."""

from __future__ import annotations

from pathlib import Path

import pytest
from _core_models import CountingRunner, SimResult, StoreFactory
from sqlalchemy import select

from entropic import Store
from entropic._internal import meta_table


def test_delete_by_hash_wins_over_params(store: Store[SimResult]) -> None:
    kept = store.run_or_retrieve({"n": 1, "dt": 0.1})
    gone = store.run_or_retrieve({"n": 2, "dt": 0.1})
    assert store.delete({"n": 1, "dt": 0.1}, hash=gone.id) is True
    assert store.retrieve({"n": 2, "dt": 0.1}) is None
    assert store.retrieve({"n": 1, "dt": 0.1}) is not None
    assert store.delete(hash=kept.id, remove_file=True) is True
    assert not Path(kept.result_file).exists()
    assert store.delete(hash=kept.id) is False


def test_delete_needs_params_or_hash(store: Store[SimResult]) -> None:
    with pytest.raises(ValueError, match="params or hash"):
        store.delete()


def test_list_is_find_under_its_old_name(store: Store[SimResult]) -> None:
    store.sweep([{"n": n, "dt": 0.1} for n in range(4)])
    assert [r.id for r in store.list(n=2)] == [r.id for r in store.find(n=2)]
    assert [r.id for r in store.list(SimResult.n < 2)] == [
        r.id for r in store.find(SimResult.n < 2)
    ]


def test_delete_removes_the_manifest_before_the_row(
    store: Store[SimResult], runner: CountingRunner
) -> None:
    record = store.run_or_retrieve({"n": 3, "dt": 0.1})
    manifest = store.results_dir / f".{record.id}.entropic.json"
    assert manifest.is_file()
    # a manifest that cannot be removed (here a directory has taken its name): the delete stops
    # before the row, so the run is still complete
    manifest.unlink()
    (manifest / "blocker").mkdir(parents=True)
    with pytest.raises(OSError):
        store.delete({"n": 3, "dt": 0.1})
    (manifest / "blocker").rmdir()
    manifest.rmdir()
    store.patch({"n": 3, "dt": 0.1}, {"custom_data": {}})  # nothing to rewrite: no manifest
    assert store.retrieve({"n": 3, "dt": 0.1}) is not None  # still complete
    assert Path(record.result_file).exists()
    assert store.delete({"n": 3, "dt": 0.1}) is True
    assert not manifest.exists()
    assert store.ingest() == 0  # nothing to bring back


def test_delete_never_removes_a_file_outside_results_dir(
    store: Store[SimResult], tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    store.register({"n": 9, "dt": 0.1}, victim)
    assert store.delete({"n": 9, "dt": 0.1}, remove_file=True) is True
    assert victim.read_text() == "keep me"


def test_delete_many_removes_manifest_row_and_file(store: Store[SimResult]) -> None:
    records = store.sweep([{"n": n, "dt": 0.2} for n in range(5)])
    rows, files = store.delete_many(
        [r.id for r in records[:3]] + ["0123456789abcdef"], remove_file=True
    )
    assert (rows, files) == (3, 3)
    assert store.count() == 2
    for record in records[:3]:
        assert not Path(record.result_file).exists()
        assert not (store.results_dir / f".{record.id}.entropic.json").exists()


def test_a_store_without_a_runner_inspects_and_runs_nothing(
    store: Store[SimResult], results_dir: Path, db_url: str, tmp_path: Path
) -> None:
    stored = store.run_or_retrieve({"n": 1, "dt": 0.5})
    with Store(None, SimResult, results_dir, ".json", db_url) as inspector:
        assert inspector.runner is None
        assert [r.id for r in inspector.find()] == [stored.id]
        assert inspector.run_or_retrieve({"n": 1, "dt": 0.5}).id == stored.id  # a hit is fine
        assert [r.id for r in inspector.sweep([{"n": 1, "dt": 0.5}])] == [stored.id]
        for call in (
            lambda: inspector.run_or_retrieve({"n": 2, "dt": 0.5}),
            lambda: inspector.run({"n": 1, "dt": 0.5}),
            lambda: inspector.sweep([{"n": 2, "dt": 0.5}]),
        ):
            with pytest.raises(TypeError, match="without a runner"):
                call()
    elsewhere = tmp_path / "not-made"
    with Store(None, SimResult, elsewhere, ".json", db_url):
        pass
    assert not elsewhere.exists()  # an inspecting Store creates nothing


def test_the_store_records_its_results_dir_and_suffix(
    make_store: StoreFactory, runner: CountingRunner, results_dir: Path, tmp_path: Path
) -> None:
    store = make_store(runner, SimResult, file_suffix=".dat")
    with store.engine.connect() as conn:
        facts = dict(
            conn.execute(
                select(meta_table.c.key, meta_table.c.value).where(
                    meta_table.c.table_name == "core_sim_results"
                )
            ).all()
        )
    assert facts["results_dir"] == str(results_dir.resolve())
    assert facts["file_suffix"] == ".dat"


def test_a_suffix_too_long_for_file_names_is_refused(
    make_store: StoreFactory, runner: CountingRunner
) -> None:
    with pytest.raises(ValueError, match="file system's limit"):
        make_store(runner, SimResult, file_suffix="." + "x" * 200)
    with pytest.raises(ValueError, match="file name ending"):
        make_store(runner, SimResult, file_suffix="a/b")
