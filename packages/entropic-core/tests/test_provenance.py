"""Provenance: describing a runner, git, what a Store records, and what the policies cost."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Table, inspect, text

from entropic import Base, CodeChangedWarning, Mapped, Store, provenance
from entropic._freshness import _RowMaker, provenance_row
from entropic._provenance import ProvenanceSource, describe_runner, git_state
from entropic.manifests import manifest_path, read_manifest


class ProvPoint(Base):
    __tablename__ = "prov_points"

    n: Mapped[int]


def write(params: dict[str, Any]) -> None:
    Path(params["result_file"]).write_text(str(params["n"]))


class CallableRunner:
    def __call__(self, params: dict[str, Any]) -> None:
        write(params)


def _store(tmp_path: Path, runner: Any = write, **options: Any) -> Store[ProvPoint]:
    return Store(
        runner,
        ProvPoint,
        tmp_path / "results",
        ".txt",
        f"sqlite:///{tmp_path}/db.sqlite3",
        **options,
    )


def test_describe_a_function_a_partial_an_object_a_builtin_and_exec_code() -> None:
    plain = describe_runner(write, None)
    assert plain["runner"] == f"{__name__}:write"
    assert plain["source_kind"] == "source"
    assert plain["code"] == f"source:{plain['source_hash'][:16]}"
    assert plain["module_hash"] is not None
    assert describe_runner(functools.partial(write), None)["source_hash"] == plain["source_hash"]
    assert describe_runner(CallableRunner(), None)["source_kind"] == "class source"
    assert describe_runner(print, None)["code"] is None
    namespace: dict[str, Any] = {}
    exec("def made(params):\n    return params['n']\n", namespace)  # as a REPL would
    assert describe_runner(namespace["made"], None)["source_kind"] == "bytecode"
    assert describe_runner(print, "7")["code"] == "version:7"  # a version needs no source


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_state_of_a_work_tree_clean_and_dirty(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    assert git_state(tmp_path) == {"git_commit": None, "git_dirty": None}  # not a repository
    git("init", "-q")
    git("config", "user.email", "t@example.org")
    git("config", "user.name", "t")
    (tmp_path / "runner.py").write_text("x = 1\n")
    git("add", "runner.py")
    git("commit", "-q", "-m", "one")
    clean = git_state(tmp_path)
    assert len(clean["git_commit"]) == 40
    assert clean["git_dirty"] is False
    (tmp_path / "runner.py").write_text("x = 2\n")
    assert git_state(tmp_path)["git_dirty"] is True


def test_a_run_records_provenance_in_its_manifest_and_table_not_in_the_users(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path, runner_version="4")
    record = store.run_or_retrieve({"n": 1})
    manifest = read_manifest(manifest_path(store.results_dir, record.id), store.results_dir)
    assert manifest.provenance is not None
    assert manifest.provenance["code"] == "version:4"
    assert manifest.provenance["version"] == "4"
    assert manifest.provenance["python"]
    recorded = provenance.provenance_of(store.engine, "prov_points", record.id)
    assert recorded is not None
    assert recorded["runner"] == manifest.provenance["runner"]
    assert recorded["pid"] == manifest.provenance["pid"]
    columns = {c["name"] for c in inspect(store.engine).get_columns("prov_points")}
    assert columns == {"id", "result_file", "created_at", "custom_data", "n"}
    assert store.delete({"n": 1})
    assert provenance.provenance_of(store.engine, "prov_points", record.id) is None
    store.close()


def test_provenance_is_gathered_once_per_store(tmp_path: Path) -> None:
    source = ProvenanceSource(write, None)
    assert source.static() is source.static()
    store = _store(tmp_path)
    store.sweep([{"n": n} for n in range(3)])
    with store.engine.connect() as conn:
        details = [
            json.loads(d) for d in conn.scalars(text("SELECT detail FROM entropic_provenance"))
        ]
    assert len({d["pid"] for d in details}) == 1
    assert len({d["started_at"] for d in details}) == 3  # what differs per run is per run
    store.close()


def test_reuse_never_reads_the_provenance_table_on_a_hit(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.sweep([{"n": n} for n in range(3)])
    store.close()
    with _store(tmp_path).engine.begin() as conn:
        conn.execute(text("DROP TABLE entropic_provenance"))
    reuse = Store(None, ProvPoint, tmp_path / "results", ".txt", f"sqlite:///{tmp_path}/db.sqlite3")
    with reuse.engine.begin() as conn:  # the Store created it again: drop it once more
        conn.execute(text("DROP TABLE entropic_provenance"))
    assert reuse.run_or_retrieve({"n": 1}).n == 1
    assert len(reuse.sweep([{"n": n} for n in range(3)])) == 3
    reuse.close()


def test_warn_and_rerun_in_one_process(tmp_path: Path) -> None:
    _store(tmp_path).sweep([{"n": n} for n in range(3)])
    warn = _store(tmp_path, runner=CallableRunner(), on_code_change="warn")
    with pytest.warns(CodeChangedWarning, match="^2 of 2 results were made by other code"):
        warn.sweep([{"n": n} for n in range(2)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn.sweep([{"n": 5}])  # a miss, then current: no warning
    warn.close()
    rerun = _store(tmp_path, runner=CallableRunner(), on_code_change="rerun")
    first = rerun.retrieve({"n": 0})
    assert first is not None
    again = rerun.run_or_retrieve({"n": 0})
    assert again.id == first.id
    assert again.created_at > first.created_at
    current = provenance.runner_code(CallableRunner())
    table = ProvPoint.__table__
    assert isinstance(table, Table)
    groups = provenance.code_groups(rerun.engine, table, current)
    assert {g.code: g.runs for g in groups} == {current: 2, provenance.runner_code(write): 2}
    rerun.close()


def test_policy_and_version_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="on_code_change must be one of reuse, warn, rerun"):
        _store(tmp_path, on_code_change="ignore")
    with pytest.raises(ValueError, match="runner_version"):
        _store(tmp_path, runner_version="")


# ---------------------------------------------------------------- rows built with a shared part


_shared_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
)
_shared = st.fixed_dictionaries(
    {"origin": st.sampled_from(["run", "ingest"]), "code": st.none() | st.text(max_size=30)},
    optional={
        "runner": st.text(max_size=30),
        "version": st.none() | st.text(max_size=10),
        "git_dirty": st.none() | st.booleans(),
        "blessed_from": st.text(max_size=10),
        "blessed_at": st.just("2026-12-02T07:00:00+00:00"),
        "extra": st.dictionaries(st.text(max_size=5), _shared_values, max_size=3),
    },
)
_own = st.fixed_dictionaries(
    {},
    optional={
        "host": st.text(max_size=20),
        "pid": st.integers(min_value=1, max_value=2**22) | st.booleans(),
        "started_at": st.just("2026-12-02T07:00:00.123456+00:00"),
        "finished_at": st.sampled_from(["2026-12-02T07:00:01+00:00", "not a time"]),
    },
)


@given(
    st.lists(st.tuples(st.integers(0, 2), _own), min_size=1, max_size=8),
    st.lists(_shared, min_size=3, max_size=3),
)
def test_provenance_rows_with_a_shared_part_are_the_plain_rows(
    runs: list[tuple[int, dict[str, Any]]], shared: list[dict[str, Any]]
) -> None:
    # the writer converts what a Store's runs share once; each row must still be exactly the row
    # of that run's whole provenance, whichever shared part comes next
    make = _RowMaker("t")
    for i, (which, own) in enumerate(runs):
        whole = {**shared[which], **own}
        fast, plain = make(f"r{i}", whole), provenance_row("t", f"r{i}", whole)
        assert json.loads(fast.pop("detail")) == json.loads(plain.pop("detail"))
        assert fast == plain
