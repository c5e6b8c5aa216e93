"""One Store test suite on every dialect: SQLite, PostgreSQL (psycopg 3), MariaDB (PyMySQL)."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import _manywriters as mw
import pytest
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.orm import Session

from entropic import HashCollisionError, ParameterError, Store, SweepError, expand_grid


def _runner(params: dict[str, Any]) -> None:
    if params["label"] == "boom":
        raise RuntimeError("boom")
    Path(params["result_file"]).write_text(mw.content_for(params))


def _store(db_url: str, table_name: str, tmp_path: Path) -> Store[Any]:
    return Store(_runner, mw.point_model(table_name), tmp_path / "results", ".txt", db_url)


def test_run_hit_and_types(db_url: str, table_name: str, tmp_path: Path) -> None:
    store = _store(db_url, table_name, tmp_path)
    when = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    params = {
        "n": 3,
        "x": 0.1 + 0.2,
        "label": "a" * 1000,  # a Mapped[str] without a length holds long text on MariaDB too
        "mode": mw.Mode.SLOW,
        "shape": (2, 3),
        "when": when,
    }
    first = store.run_or_retrieve(params, note="hello")
    again = Store(_runner, mw.point_model(table_name), tmp_path / "results", ".txt", db_url)
    hit = again.run_or_retrieve({**params, "x": 0.3, "mode": "slow", "shape": [2, 3]})
    assert hit.id == first.id
    assert hit.created_at.tzinfo is not None
    assert hit.created_at.utcoffset() == dt.timedelta(0)
    assert abs(hit.created_at - first.created_at) < dt.timedelta(milliseconds=1)
    assert hit.custom_data["note"] == "hello"
    assert hit.mode is mw.Mode.SLOW
    assert hit.shape == [2, 3]
    assert hit.label == "a" * 1000
    assert Path(hit.result_file).read_text() == mw.content_for(params)
    stored_when = hit.when if hit.when.tzinfo else hit.when.replace(tzinfo=dt.UTC)
    assert stored_when == when


def test_id_and_result_file_columns_have_lengths(
    db_url: str, table_name: str, tmp_path: Path
) -> None:
    store = _store(db_url, table_name, tmp_path)
    columns = {c["name"]: c for c in sa_inspect(store.engine).get_columns(table_name)}
    assert columns["id"]["type"].length == 128
    assert columns["result_file"]["type"].length >= 255
    assert columns["custom_data"]["nullable"] is False


def test_custom_data_changes_in_place_persist(db_url: str, table_name: str, tmp_path: Path) -> None:
    store = _store(db_url, table_name, tmp_path)
    model = mw.point_model(table_name)
    record = store.run_or_retrieve({"n": 1, "x": 1.0, "label": "a"})
    with Session(store.engine) as session:
        loaded = session.get(model, record.id)
        assert loaded is not None
        loaded.custom_data["reviewed"] = True  # an in-place change, not an assignment
        session.commit()
    with Session(store.engine) as session:
        loaded = session.scalars(select(model).where(model.id == record.id)).one()
        assert loaded.custom_data["reviewed"] is True
    patched = store.patch({"n": 1, "x": 1.0, "label": "a"}, {"custom_data": {"reviewed": None}})
    assert "reviewed" not in patched.custom_data
    assert "reviewed" not in store.retrieve({"n": 1, "x": 1.0, "label": "a"}).custom_data


def test_collision_guard(db_url: str, table_name: str, tmp_path: Path) -> None:
    store = _store(db_url, table_name, tmp_path)
    store.run_or_retrieve({"n": 1, "x": 1e-13, "label": "a"})
    with pytest.raises(HashCollisionError, match="12 decimal"):
        store.run_or_retrieve({"n": 1, "x": 2e-13, "label": "a"})


def test_sweep_failures_ingest_and_delete(db_url: str, table_name: str, tmp_path: Path) -> None:
    store = _store(db_url, table_name, tmp_path)
    grid = expand_grid({"n": [1, 2, 3], "x": [0.5], "label": ["ok", "boom"]})
    with pytest.raises(SweepError) as caught:
        store.sweep(grid)
    assert len(caught.value.exceptions) == 3
    assert str(caught.value).startswith("3 of 6 runs failed (3 stored)")
    records = store.sweep(grid[::2])
    assert [r.n for r in records] == [1, 2, 3]
    # a lost table is rebuilt from the manifests
    mw.drop_table(db_url, table_name) if not db_url.startswith("sqlite") else None
    fresh_url = db_url if not db_url.startswith("sqlite") else f"sqlite:///{tmp_path / 'new.db'}"
    rebuilt = Store(_runner, mw.point_model(table_name), tmp_path / "results", ".txt", fresh_url)
    assert rebuilt.ingest() == 3
    assert rebuilt.retrieve(grid[0]) is not None
    assert rebuilt.delete(grid[0], remove_file=True) is True
    assert rebuilt.ingest() == 0


def test_non_finite_floats_are_stored_or_refused_before_running(
    db_url: str, table_name: str, tmp_path: Path
) -> None:
    store = _store(db_url, table_name, tmp_path)
    dialect = store.engine.dialect.name
    for value in (math.nan, math.inf, -math.inf):
        params = {"n": 1, "x": value, "label": "edge"}
        refused = dialect == "mysql" or (dialect == "sqlite" and math.isnan(value))
        if refused:
            with pytest.raises(ParameterError, match="cannot hold exactly"):
                store.run_or_retrieve(params)
            assert store.retrieve(params) is None
            continue
        first = store.run_or_retrieve(params)
        again = store.run_or_retrieve(params)  # a hit: NaN equals NaN for the collision guard
        assert again.id == first.id
        assert again.x == value or (math.isnan(value) and math.isnan(again.x))
    ran = {p.name for p in (tmp_path / "results").glob("*.txt")}
    assert ran == {r.id + ".txt" for r in store.find()}
