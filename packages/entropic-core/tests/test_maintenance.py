"""entropic.maintenance and entropic.inspection: verify, gc, the trash and opening a store."""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, create_engine, text

from entropic import Base, Mapped, Store
from entropic import maintenance as mt
from entropic.errors import SchemaError
from entropic.inspection import (
    Condition,
    NoStoreError,
    claims_in_flight,
    connect,
    count_present,
    ids_with_prefix,
    select_records,
)
from entropic.manifests import manifest_id, manifest_path


class MaintA(Base):
    """The table most of these tests look after."""

    __tablename__ = "core_maint_a"

    n: Mapped[int]


class MaintB(Base):
    """A second table in the same database."""

    __tablename__ = "core_maint_b"

    n: Mapped[int]


def write(params: dict[str, Any]) -> None:
    """A runner: one small text file."""
    Path(params["result_file"]).write_text(f"n={params['n']}\n")


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _delete_row(db_url: str, table: str, run_id: str) -> None:
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text(f"DELETE FROM {table} WHERE id = :i"), {"i": run_id})
    engine.dispose()


def _kinds(problems: list[mt.Problem]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for problem in problems:
        found.setdefault(problem.kind, set()).add(problem.path.name)
    return found


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The results directory of table A."""
    return tmp_path / "results"


@pytest.fixture
def store_a(folder: Path, db_url: str) -> Iterator[Store[MaintA]]:
    """Table A with four runs, ``.txt`` files."""
    with Store(write, MaintA, folder, ".txt", db_url) as store:
        store.sweep([{"n": n} for n in range(4)])
        yield store


def _check(store: Store[Any]) -> mt.Checkup:
    return mt.check(store.engine, _table(store.result_cls), store.results_dir, store.file_suffix)


def test_a_sound_store_has_no_problems(store_a: Store[MaintA]) -> None:
    checkup = _check(store_a)
    assert (checkup.problems, checkup.rows, checkup.moved) == ([], 4, None)
    assert store_a.verify() == []


def test_an_unindexed_run_is_never_an_orphan_when_another_table_has_its_id(
    store_a: Store[MaintA], db_url: str, tmp_path: Path
) -> None:
    """The same id in another table (another folder) does not make A's lost run an orphan."""
    record = store_a.run({"id": "shared-1", "n": 10})
    with Store(write, MaintB, tmp_path / "elsewhere", ".dat", db_url) as other:
        other.run({"id": "shared-1", "n": 20})
    _delete_row(db_url, "core_maint_a", "shared-1")
    problems = store_a.verify()
    assert _kinds(problems) == {"unindexed-manifest": {manifest_path(Path(), "shared-1").name}}
    assert problems[0].detail == "entropic ingest"
    report = store_a.gc()
    assert report.removed == []
    assert Path(record.result_file).is_file()
    assert store_a.ingest() == 1
    assert store_a.verify() == []


def test_a_file_a_manifest_names_is_kept_whatever_its_name(
    store_a: Store[MaintA], db_url: str
) -> None:
    """A registered result whose name does not start with its id: its manifest protects it."""
    outside_name = store_a.results_dir / "hand-made.out"
    outside_name.write_text("made by hand")
    record = store_a.register({"n": 99}, outside_name)
    _delete_row(db_url, "core_maint_a", record.id)
    assert _kinds(store_a.verify()) == {
        "unindexed-manifest": {manifest_path(Path(), record.id).name}
    }
    store_a.gc(purge=True)
    assert outside_name.is_file()


def test_a_corrupt_manifest_is_reported_and_its_result_kept(
    store_a: Store[MaintA], db_url: str
) -> None:
    victim = store_a.find(n=2)[0]
    _delete_row(db_url, "core_maint_a", victim.id)
    manifest = manifest_path(store_a.results_dir, victim.id)
    manifest.write_text("{not json")
    problems = store_a.verify()
    assert _kinds(problems) == {"bad-manifest": {manifest.name}}
    assert problems[0].id == victim.id
    assert "JSONDecodeError" in str(problems[0].detail)
    report = store_a.gc(purge=True)
    assert report.removed == []
    assert [p.kind for p in report.kept] == ["bad-manifest"]
    assert Path(victim.result_file).is_file()
    assert manifest.is_file()


def test_a_manifest_naming_another_id_is_bad(store_a: Store[MaintA], db_url: str) -> None:
    first, second = store_a.find()[:2]
    _delete_row(db_url, "core_maint_a", first.id)
    moved = manifest_path(store_a.results_dir, first.id)
    moved.write_bytes(manifest_path(store_a.results_dir, second.id).read_bytes())
    problems = store_a.verify()
    assert _kinds(problems) == {"bad-manifest": {moved.name}}
    assert problems[0].detail == f"its content names id {second.id!r}"
    assert store_a.gc().removed == []
    assert Path(first.result_file).is_file()


def test_a_moved_folder_names_relocate_and_gc_refuses(
    store_a: Store[MaintA], folder: Path, tmp_path: Path, db_url: str
) -> None:
    (folder / "stray.dat").write_text("not a result")
    store_a.close()
    new = tmp_path / "moved"
    os.rename(folder, new)
    with mt.open_store(db_url, "core_maint_a", results_dir=new) as moved:
        checkup = _check(moved)
        assert checkup.moved == (str(folder), str(new))
        first = checkup.problems[0]
        assert (first.kind, first.detail) == ("moved-folder", f"entropic relocate {folder} {new}")
        kinds = _kinds(checkup.problems)
        assert set(kinds) == {"moved-folder", "missing-file", "orphan-file"}
        assert kinds["orphan-file"] == {"stray.dat"}  # a real orphan is still one
        with pytest.raises(mt.GcRefusedError, match="entropic relocate"):
            moved.gc()
        assert (new / "stray.dat").is_file()
        assert moved.relocate(str(folder), str(new)) == 4
        assert _kinds(moved.verify()) == {"orphan-file": {"stray.dat"}}
        moved.gc(force=True)
        assert moved.verify() == []
        assert len(list(new.glob("*.txt"))) == 4


def test_gc_with_force_still_keeps_every_file_a_manifest_names(
    store_a: Store[MaintA], folder: Path, tmp_path: Path, db_url: str
) -> None:
    store_a.close()
    new = tmp_path / "moved"
    os.rename(folder, new)
    with mt.open_store(db_url, "core_maint_a", results_dir=new) as moved:
        report = moved.gc(force=True, purge=True)
    assert report.removed == []
    assert len(list(new.glob("*.txt"))) == 4


def test_gc_moves_to_a_dated_trash_folder_and_empty_trash_deletes(
    store_a: Store[MaintA], folder: Path, db_url: str
) -> None:
    victim = store_a.find(n=1)[0]
    _delete_row(db_url, "core_maint_a", victim.id)
    Path(victim.result_file).unlink()  # its manifest is now stale
    (folder / "stray.dat").write_text("not a result")
    leftover = folder / ".entropic-tmp" / "gone-host-1-2-abcd1234"
    leftover.mkdir(parents=True)
    (leftover / "half.txt").write_text("half")
    old = 1_000_000_000.0
    os.utime(leftover / "half.txt", (old, old))
    os.utime(leftover, (old, old))
    dry = store_a.gc(dry_run=True)
    assert dry.dry_run
    assert dry.trash is None
    assert {p.kind for p in dry.removed} == {"stale-manifest", "orphan-file", "leftover"}
    assert (folder / "stray.dat").is_file()
    report = store_a.gc()
    assert report.trash is not None
    assert report.trash.parent == folder / mt.TRASH_DIR_NAME
    stamp = dt.datetime.strptime(report.trash.name, "%Y-%m-%dT%H%M%S").replace(tzinfo=dt.UTC)
    assert abs(dt.datetime.now(dt.UTC) - stamp) < dt.timedelta(minutes=5)
    assert (report.trash / "stray.dat").read_text() == "not a result"
    assert (report.trash / manifest_path(Path(), victim.id).name).is_file()
    assert (report.trash / ".entropic-tmp" / leftover.name / "half.txt").is_file()
    assert report.freed_bytes == sum(p.size or 0 for p in report.removed) > 0
    assert store_a.verify() == []  # the trash is never scanned as results
    again = store_a.gc()
    assert again.trash != report.trash or again.removed == []
    assert store_a.empty_trash() == 3
    assert not (folder / mt.TRASH_DIR_NAME).exists()
    assert store_a.empty_trash() == 0


def test_gc_purge_deletes_for_good(store_a: Store[MaintA], folder: Path) -> None:
    (folder / "stray.dat").write_text("x")
    report = store_a.gc(purge=True)
    assert [p.path.name for p in report.removed] == ["stray.dat"]
    assert report.trash is None
    assert not (folder / "stray.dat").exists()
    assert not (folder / mt.TRASH_DIR_NAME).exists()


def test_gc_only_removes_what_was_confirmed(store_a: Store[MaintA], folder: Path) -> None:
    (folder / "one.dat").write_text("1")
    (folder / "two.dat").write_text("2")
    table = _table(MaintA)
    report = mt.collect_garbage(
        store_a.engine, table, folder, ".txt", purge=True, only=[folder / "one.dat"]
    )
    assert [p.path.name for p in report.removed] == ["one.dat"]
    assert (folder / "two.dat").is_file()


def test_open_store_uses_what_the_store_recorded(
    store_a: Store[MaintA], folder: Path, db_url: str, tmp_path: Path, monkeypatch: Any
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with mt.open_store(db_url) as opened:
        assert opened.runner is None
        assert (opened.results_dir, opened.file_suffix) == (folder, ".txt")
        assert len(opened) == 4
        assert opened.retrieve({"id": store_a.find(n=0)[0].id}) is not None
    assert not (elsewhere / "results").exists()


def test_open_store_warns_about_a_results_dir_that_differs(
    store_a: Store[MaintA], db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    other = tmp_path / "other"
    with (
        caplog.at_level(logging.WARNING, logger="entropic"),
        mt.open_store(db_url, "core_maint_a", results_dir=other) as opened,
    ):
        assert opened.results_dir == other
    assert re.search(r"results directory .*other differs from .*results", caplog.text)


def test_open_store_needs_a_table_name_among_several(
    store_a: Store[MaintA], db_url: str, tmp_path: Path
) -> None:
    with Store(write, MaintB, tmp_path / "b", ".dat", db_url):
        pass
    with pytest.raises(SchemaError, match="core_maint_a, core_maint_b"):
        mt.open_store(db_url)
    with pytest.raises(NoStoreError, match="no database at"):
        mt.open_store(f"sqlite:///{tmp_path / 'none.sqlite3'}")
    assert not (tmp_path / "none.sqlite3").exists()


def test_inspection_selects_with_comparisons_and_prefixes(
    store_a: Store[MaintA], db_url: str
) -> None:
    engine = connect(db_url)
    table = _table(MaintA)
    try:

        def ns(*conditions: Condition) -> list[int]:
            rows = select_records(engine, table, conditions, order_by=[("n", False)])
            return [r["n"] for r in rows]

        assert ns(Condition("n", ">=", 2)) == [2, 3]
        assert ns(Condition("n", "<", 2)) == [0, 1]
        assert ns(Condition("n", "!=", 1), Condition("n", "<=", 2)) == [0, 2]
        assert ns(Condition("n", "=", 3)) == [3]
        assert ns(Condition("n", ">", 3)) == []
        with pytest.raises(ValueError, match="unknown comparison"):
            Condition("n", "~", 1)
        ids = sorted(r.id for r in store_a.find())
        assert ids_with_prefix(engine, table, "") == ids
        assert ids_with_prefix(engine, table, ids[0]) == [ids[0]]
        assert count_present(engine, table, [*ids, "feedfacefeedface", ids[0]]) == 4
        assert claims_in_flight(engine, table.name) == set()
    finally:
        engine.dispose()


def test_manifest_id_reads_the_name_only(tmp_path: Path) -> None:
    assert manifest_id(manifest_path(tmp_path, "abc-1")) == "abc-1"
    assert manifest_id(tmp_path / "abc.txt") is None
    assert manifest_id(tmp_path / ".entropic.json") is None


def test_a_manifest_naming_a_file_outside_the_results_dir_is_bad(
    store_a: Store[MaintA], db_url: str, tmp_path: Path
) -> None:
    victim = store_a.find(n=3)[0]
    _delete_row(db_url, "core_maint_a", victim.id)
    manifest = manifest_path(store_a.results_dir, victim.id)
    outside = tmp_path / "precious.txt"
    outside.write_text("not entropic's")
    body = manifest.read_text().replace(Path(victim.result_file).name, "../precious.txt")
    manifest.write_text(body)
    problems = store_a.verify()
    assert [p.kind for p in problems] == ["bad-manifest"]
    assert "outside the results directory" in str(problems[0].detail)
    store_a.gc(purge=True)
    assert outside.is_file()
    assert Path(victim.result_file).is_file()
