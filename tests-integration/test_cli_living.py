"""The CLI's commands for living with a store: migrate add-param, merge, relocate."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import _manywriters as mw
from click.testing import CliRunner
from sqlalchemy import create_engine

from entropic import Store, reflect_model
from entropic_cli.main import cli


def _runner(params: dict[str, Any]) -> None:
    Path(params["result_file"]).write_text(mw.content_for(params))


def _never(params: dict[str, Any]) -> None:
    raise AssertionError(f"nothing should run, but {params['id']} did")


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_migrate_add_param(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db'}"
    table = mw.new_table_name()
    store = Store(_runner, mw.point_model(table), tmp_path / "results", ".txt", url)
    store.sweep(mw.points(0, 8))
    store.close()
    base = ["--db", url, "--results-dir", str(tmp_path / "results")]
    result = _invoke(*base, "migrate", "add-param", "temperature=300.5", "--yes")
    assert result.exit_code == 0, result.output
    assert "re-keyed 8 run(s)" in result.output
    engine = create_engine(url)
    migrated = Store(_never, reflect_model(engine, table), tmp_path / "results", ".txt", url)
    for params in mw.points(0, 8):
        record = migrated.run_or_retrieve({**params, "temperature": 300.5})
        assert Path(record.result_file).read_text() == mw.content_for(params)
    again = _invoke(*base, "migrate", "add-param", "temperature=1", "--yes")
    assert again.exit_code == 1
    assert "already has a column" in again.output


def test_merge_and_relocate(tmp_path: Path) -> None:
    table = mw.new_table_name()
    here_url = f"sqlite:///{tmp_path / 'here.db'}"
    there_url = f"sqlite:///{tmp_path / 'there.db'}"
    Store(_runner, mw.point_model(table), tmp_path / "here", ".txt", here_url).sweep(
        mw.points(0, 4)
    )
    there = Store(_runner, mw.point_model(table), tmp_path / "there", ".txt", there_url)
    there.sweep(mw.points(2, 6))
    there.run_or_retrieve({"id": "same", "n": 1, "x": 1.0, "label": "there"})
    Store(_runner, mw.point_model(table), tmp_path / "here", ".txt", here_url).run_or_retrieve(
        {"id": "same", "n": 2, "x": 1.0, "label": "here"}
    )
    base = ["--db", here_url, "--results-dir", str(tmp_path / "here")]
    result = _invoke(*base, "merge", there_url, str(tmp_path / "there"))
    assert result.exit_code == 1
    assert "copied 2 run(s); 2 already present; 1 conflict(s)" in result.output
    assert "conflict same" in result.output
    shutil.move(tmp_path / "here", tmp_path / "moved")
    moved = _invoke(
        "--db",
        here_url,
        "--results-dir",
        str(tmp_path / "moved"),
        "relocate",
        str(tmp_path / "here"),
        str(tmp_path / "moved"),
    )
    assert moved.exit_code == 0, moved.output
    assert "rewrote 7 path(s)" in moved.output
    check = Store(_never, mw.point_model(table), tmp_path / "moved", ".txt", here_url)
    for params in mw.points(0, 6):
        assert Path(check.retrieve(params).result_file).read_text() == mw.content_for(params)
