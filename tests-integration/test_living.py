"""Living with a store: queries, pandas, schema drift, a new parameter, merging, moving."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import _manywriters as mw
import pytest
from sqlalchemy import create_engine, func, select, text

from entropic import HashCollisionError, ParameterError, SchemaError, Store
from entropic._internal import id_map_table

MIGRATOR = str(Path(__file__).parent / "_migrator.py")


class Counter:
    """A runner that writes the test content and counts its calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, params: dict[str, Any]) -> None:
        self.calls.append(params["id"])
        Path(params["result_file"]).write_text(mw.content_for(params))


def _filled(db_url: str, table: str, tmp_path: Path, n: int) -> tuple[Store[Any], Counter]:
    runner = Counter()
    store = Store(runner, mw.point_model(table), tmp_path / "results", ".txt", db_url)
    store.sweep(mw.points(0, n))
    return store, runner


def _rename_table(db_url: str, old: str, new: str) -> None:
    eng = create_engine(db_url)
    with eng.begin() as conn:
        quote = conn.dialect.identifier_preparer.quote
        conn.execute(text(f"ALTER TABLE {quote(old)} RENAME TO {quote(new)}"))
    eng.dispose()


def test_queries_and_pandas(db_url: str, table_name: str, tmp_path: Path) -> None:
    store, _ = _filled(db_url, table_name, tmp_path, 30)
    model = store.result_cls
    assert store.count() == len(store) == 30
    assert [r.n for r in store.find(n=7)] == [7]
    assert store.count(where=model.n < 10) == 10
    assert sorted(r.n for r in store.find(model.n >= 25, label="p27")) == [27]
    assert sorted(r.n for r in store.iter_records()) == list(range(30))
    with pytest.raises(ParameterError, match="nope"):
        store.find(nope=1)
    frame = store.to_pandas(where=model.n < 5)
    assert sorted(frame["n"]) == [0, 1, 2, 3, 4]
    assert set(store.result_cls.__table__.columns.keys()) == set(frame.columns)
    assert str(frame["created_at"].dt.tz) == "UTC"
    assert all(isinstance(c, dict) for c in frame["custom_data"])


def test_to_pandas_without_pandas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(
        Counter(),
        mw.point_model("nopandas"),
        tmp_path / "r",
        ".txt",
        f"sqlite:///{tmp_path / 'db'}",
    )
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"entropic-core\[pandas\]"):
        store.to_pandas()


def _heated(db_url: str, table: str, tmp_path: Path, n: int) -> tuple[str, Counter]:
    """A store of ``n`` runs made before ``temperature`` existed, now under the heated model."""
    _filled(db_url, table, tmp_path, n)
    heated = f"{table}_h"
    _rename_table(db_url, table, heated)
    if not db_url.startswith("sqlite"):
        mw.drop_table(db_url, table)
    return heated, Counter()


def test_schema_drift_is_reported_not_crashed(db_url: str, table_name: str, tmp_path: Path) -> None:
    heated, runner = _heated(db_url, table_name, tmp_path, 5)
    try:
        store = Store(runner, mw.heated_model(heated), tmp_path / "results", ".txt", db_url)
        params = {**mw.points(0, 1)[0], "temperature": 300.0}
        for call in (
            lambda: store.run_or_retrieve(params),
            lambda: store.retrieve(params),
            lambda: store.sweep([params]),
            lambda: store.count(),
            lambda: store.find(n=1),
        ):
            with pytest.raises(SchemaError, match="temperature") as caught:
                call()
            assert "add_parameter" in str(caught.value)
        assert runner.calls == []
    finally:
        if not db_url.startswith("sqlite"):
            mw.drop_table(db_url, heated)


def test_table_with_extra_columns_is_reported(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db'}"
    table = mw.new_table_name()
    Store(Counter(), mw.heated_model(table), tmp_path / "results", ".txt", url)
    _rename_table(url, table, f"{table}_lean")
    store = Store(Counter(), mw.point_model(f"{table}_lean"), tmp_path / "results", ".txt", url)
    with pytest.raises(SchemaError, match=r"temperature.*lacks"):
        store.run_or_retrieve(mw.points(0, 1)[0])


def test_add_parameter_rekeys_old_runs(db_url: str, table_name: str, tmp_path: Path) -> None:
    heated, runner = _heated(db_url, table_name, tmp_path, 12)
    try:
        old = Store(
            Counter(),
            mw.point_model(f"{table_name}_old"),
            tmp_path / "x",
            ".txt",
            f"sqlite:///{tmp_path / 'keys.db'}",
        )
        old_ids = {old.key(p): p for p in mw.points(0, 12)}
        store = Store(runner, mw.heated_model(heated), tmp_path / "results", ".txt", db_url)
        assert store.add_parameter("temperature", 300.0) == 12
        for params in mw.points(0, 12):
            given = store.run_or_retrieve({**params, "temperature": 300.0})
            left_out = store.run_or_retrieve(params)
            assert given.id == left_out.id
            assert given.temperature == 300.0
            assert Path(given.result_file).read_text() == mw.content_for(params)
        assert runner.calls == []
        for old_id in old_ids:
            assert not store.result_path(old_id).exists()
            assert not (tmp_path / "results" / f".{old_id}.entropic.json").exists()
        with store.engine.connect() as conn:
            mapped = conn.execute(
                select(id_map_table.c.old_id, id_map_table.c.new_id).where(
                    id_map_table.c.table_name == heated
                )
            ).all()
        assert {o for o, _ in mapped} == set(old_ids)
        store.run_or_retrieve({**mw.points(0, 1)[0], "temperature": 310.0})
        assert len(runner.calls) == 1
        # the manifests were rewritten too: a lost database comes back with the new keys
        rebuilt = Store(
            runner,
            mw.heated_model(heated),
            tmp_path / "results",
            ".txt",
            f"sqlite:///{tmp_path / 'rebuilt.db'}",
        )
        assert rebuilt.ingest() == 13
    finally:
        if not db_url.startswith("sqlite"):
            mw.drop_table(db_url, heated)


def test_add_parameter_killed_then_completed(
    shared_db_url: str, table_name: str, tmp_path: Path
) -> None:
    heated, runner = _heated(shared_db_url, table_name, tmp_path, 1200)
    marker = tmp_path / "marker"
    try:
        proc = subprocess.Popen(
            [
                sys.executable,
                MIGRATOR,
                shared_db_url,
                heated,
                str(tmp_path / "results"),
                str(marker),
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            mw.wait_until(marker.exists, timeout=120)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=60)
        assert marker.read_text() == "500/1200"
        store = Store(runner, mw.heated_model(heated), tmp_path / "results", ".txt", shared_db_url)
        with pytest.raises(SchemaError, match="did not finish"):
            store.run_or_retrieve({**mw.points(0, 1)[0], "temperature": 300.0})
        assert store.add_parameter("temperature", 300.0) == 700
        with store.engine.connect() as conn:
            rows = conn.execute(
                select(func.count()).select_from(store.result_cls.__table__)
            ).scalar_one()
            mapped = conn.execute(
                select(func.count())
                .select_from(id_map_table)
                .where(id_map_table.c.table_name == heated)
            ).scalar_one()
        assert rows == 1200
        assert mapped == 1200
        for params in mw.points(0, 1200):
            record = store.run_or_retrieve({**params, "temperature": 300.0})
            assert Path(record.result_file).read_text() == mw.content_for(params)
        assert runner.calls == []
    finally:
        if not shared_db_url.startswith("sqlite"):
            mw.drop_table(shared_db_url, heated)


def test_add_parameter_after_crash_between_file_and_row(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db'}"
    table = mw.new_table_name()
    heated, runner = _heated(url, table, tmp_path, 6)
    store = Store(runner, mw.heated_model(heated), tmp_path / "results", ".txt", url)
    lean = Store(
        Counter(),
        mw.point_model(f"{table}_keys"),
        tmp_path / "k",
        ".txt",
        f"sqlite:///{tmp_path / 'keys.db'}",
    )
    # as if a first attempt died after moving two files but before updating their rows
    for params in mw.points(0, 2):
        old_id = lean.key(params)
        new_id = store.key({**params, "temperature": 300.0})
        store.result_path(old_id).rename(store.result_path(new_id))
    assert store.add_parameter("temperature", 300.0) == 6
    for params in mw.points(0, 6):
        record = store.retrieve({**params, "temperature": 300.0})
        assert record is not None
        assert Path(record.result_file).read_text() == mw.content_for(params)


def test_add_parameter_needs_the_column_in_the_model(tmp_path: Path) -> None:
    store, _ = _filled(f"sqlite:///{tmp_path / 'db'}", mw.new_table_name(), tmp_path, 1)
    with pytest.raises(ParameterError, match="temperature"):
        store.add_parameter("temperature", 1.0)


def test_merge(db_url: str, table_name: str, tmp_path: Path) -> None:
    here = Store(Counter(), mw.point_model(table_name), tmp_path / "here", ".txt", db_url)
    there = Store(
        Counter(),
        mw.point_model(table_name),
        tmp_path / "there",
        ".txt",
        f"sqlite:///{tmp_path / 'there.db'}",
    )
    here.sweep(mw.points(0, 10))
    there.sweep(mw.points(5, 15))
    here.run_or_retrieve({"id": "shared", "n": 1, "x": 1.0, "label": "here"})
    there.run_or_retrieve({"id": "shared", "n": 2, "x": 1.0, "label": "there"})
    report = here.merge(f"sqlite:///{tmp_path / 'there.db'}", tmp_path / "there")
    assert len(report.copied) == 5
    assert len(report.present) == 5
    assert list(report.conflicts) == ["shared"]
    assert "label" in report.conflicts["shared"]
    assert here.retrieve({"id": "shared"}).label == "here"  # never overwritten
    for params in mw.points(0, 15):
        record = here.retrieve(params)
        assert record is not None
        assert Path(record.result_file).parent == tmp_path / "here"
        assert Path(record.result_file).read_text() == mw.content_for(params)
    again = here.merge(f"sqlite:///{tmp_path / 'there.db'}", tmp_path / "there")
    assert again.copied == []
    with pytest.raises(HashCollisionError):
        here.run_or_retrieve({"id": "shared", "n": 2, "x": 1.0, "label": "there"})


def test_relocate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db'}"
    store = Store(Counter(), mw.point_model(mw.new_table_name()), tmp_path / "old", ".txt", url)
    store.sweep(mw.points(0, 4))
    shutil.move(tmp_path / "old", tmp_path / "new")
    assert store.relocate(tmp_path / "old", tmp_path / "new") == 4
    for params in mw.points(0, 4):
        assert Path(store.retrieve(params).result_file).read_text() == mw.content_for(params)


def test_a_store_opened_before_add_parameter_refuses_to_write(
    db_url: str, table_name: str, tmp_path: Path
) -> None:
    """Another process adds a parameter: the Store opened with the old model writes nothing."""
    store, runner = _filled(db_url, table_name, tmp_path, 5)
    try:
        before = len(runner.calls)
        subprocess.run(
            [sys.executable, MIGRATOR, db_url, table_name, str(tmp_path / "results"), "-"],
            check=True,
            timeout=120,
        )
        fresh = mw.points(50, 51)[0]
        for write in (
            lambda: store.run_or_retrieve(fresh),
            lambda: store.run(fresh),
            lambda: store.sweep([fresh]),
        ):
            with pytest.raises(SchemaError, match=table_name):
                write()
        assert len(runner.calls) == before  # refused before anything ran
    finally:
        store.close()
        mw.drop_table(db_url, table_name)
