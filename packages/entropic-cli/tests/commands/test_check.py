"""entropic verify and entropic gc: finding and cleaning what does not match."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _cli_helpers import POINTS, Invoke, StoreFiles, delete_rows
from sqlalchemy import create_engine, text

from entropic.manifests import manifest_path


def _problems(invoke: Invoke, code: int) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for item in json.loads(invoke("verify", "--format", "json", code=code).stdout):
        found.setdefault(item["problem"], set()).add(Path(item["path"]).name)
    return found


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=60)
    return child.pid


@pytest.fixture
def damaged(store: StoreFiles) -> dict[str, str]:
    """One instance of every problem verify knows, by name of the file concerned."""
    results = store.results_dir
    missing, empty, unindexed, stale = store.ids[:4]
    (results / f"{missing}.txt").unlink()
    (results / f"{empty}.txt").write_bytes(b"")
    delete_rows(store, unindexed, stale)
    (results / f"{stale}.txt").unlink()
    (results / "stray.dat").write_text("not a result")
    (results / ".hidden").write_text("never touched")
    (results / "folder").mkdir()
    scratch = results / ".entropic-tmp"
    dead = scratch / f"{socket.gethostname()}-{_dead_pid()}-1-abcd1234"
    dead.mkdir(parents=True)
    (dead / "half.txt").write_text("half")
    (scratch / "loose.tmp").write_text("x")
    alive = scratch / f"{socket.gethostname()}-{os.getpid()}-1-abcd1234"
    alive.mkdir()
    foreign_fresh = scratch / "elsewhere-17-1-abcd1234"
    foreign_fresh.mkdir()
    foreign_old = scratch / "faraway-17-1-abcd1234"
    foreign_old.mkdir()
    (foreign_old / "old.txt").write_text("old")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(foreign_old / "old.txt", (two_days_ago, two_days_ago))
    os.utime(foreign_old, (two_days_ago, two_days_ago))
    return {
        "missing": f"{missing}.txt",
        "empty": f"{empty}.txt",
        "unindexed": manifest_path(results, unindexed).name,
        "unindexed_file": f"{unindexed}.txt",
        "stale": manifest_path(results, stale).name,
        "dead": dead.name,
        "alive": alive.name,
        "foreign_fresh": foreign_fresh.name,
        "foreign_old": foreign_old.name,
    }


def test_verify_is_quiet_and_succeeds_on_a_sound_store(invoke: Invoke) -> None:
    result = invoke("verify")
    assert result.stdout == f"ok: {len(POINTS)} rows checked, no problems\n"
    assert json.loads(invoke("verify", "--format", "json").stdout) == []


def test_verify_reports_every_kind_of_problem(invoke: Invoke, damaged: dict[str, str]) -> None:
    found = _problems(invoke, code=1)
    assert found == {
        "missing-file": {damaged["missing"]},
        "empty-file": {damaged["empty"]},
        "unindexed-manifest": {damaged["unindexed"]},
        "stale-manifest": {damaged["stale"]},
        "orphan-file": {"stray.dat"},
        "leftover": {damaged["dead"], "loose.tmp", damaged["foreign_old"]},
    }
    result = invoke("verify", code=1)
    assert "orphan-file" in result.stdout
    assert "stray.dat" in result.stdout
    assert result.stderr == (
        "8 problem(s) in 4 rows: 1 missing-file, 1 empty-file, 1 orphan-file, "
        "1 unindexed-manifest, 1 stale-manifest, 3 leftover\n"
    )


def test_gc_dry_run_lists_and_removes_nothing(
    invoke: Invoke, store: StoreFiles, damaged: dict[str, str]
) -> None:
    before = sorted(p.relative_to(store.results_dir) for p in store.results_dir.rglob("*"))
    out = invoke("gc", "--dry-run").stdout
    assert "would remove" in out
    assert "stray.dat" in out
    assert damaged["stale"] in out
    assert damaged["unindexed"] not in out
    after = sorted(p.relative_to(store.results_dir) for p in store.results_dir.rglob("*"))
    assert after == before


def test_gc_asks_and_stops_on_no(
    invoke: Invoke, store: StoreFiles, damaged: dict[str, str]
) -> None:
    result = invoke("gc", input="n\n", code=1)
    assert "Remove 5 item(s)" in result.output
    assert (store.results_dir / "stray.dat").exists()


def test_gc_removes_orphans_stale_manifests_and_leftovers_only(
    invoke: Invoke, store: StoreFiles, damaged: dict[str, str]
) -> None:
    result = invoke("gc", input="y\n")
    assert "removed 5 item(s)" in result.stdout
    assert "entropic ingest" in result.stderr  # the unindexed manifest is kept
    results = store.results_dir
    scratch = results / ".entropic-tmp"
    assert not (results / "stray.dat").exists()
    assert not (results / damaged["stale"]).exists()
    assert not (scratch / damaged["dead"]).exists()
    assert not (scratch / "loose.tmp").exists()
    assert not (scratch / damaged["foreign_old"]).exists()
    # kept: rows, an ingestable run, hidden files, folders and scratch folders in use
    assert (results / damaged["unindexed"]).exists()
    assert (results / damaged["unindexed_file"]).exists()
    assert (results / damaged["empty"]).exists()
    assert (results / ".hidden").exists()
    assert (results / "folder").is_dir()
    assert (scratch / damaged["alive"]).is_dir()
    assert (scratch / damaged["foreign_fresh"]).is_dir()
    assert set(_problems(invoke, code=1)) == {"missing-file", "empty-file", "unindexed-manifest"}
    with store.open() as s:
        assert len(s) == len(POINTS) - 2  # gc never removes rows


def test_gc_yes_does_not_ask(invoke: Invoke, store: StoreFiles, damaged: dict[str, str]) -> None:
    result = invoke("gc", "--yes")
    assert "[y/N]" not in result.output
    assert not (store.results_dir / "stray.dat").exists()
    assert invoke("gc", "--yes").stdout.endswith("nothing to remove\n")


def test_verify_leaves_runs_in_flight_alone(invoke: Invoke, store: StoreFiles) -> None:
    """A run whose file exists but whose row is not written yet holds a claim: not an orphan."""
    run_id = store.ids[0]
    delete_rows(store, run_id)
    engine = create_engine(store.db_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO entropic_claims (table_name, run_id, owner, expires_at) "
                "VALUES ('cli_points', :i, 'elsewhere:1:abc', '2999-01-01 00:00:00')"
            ),
            {"i": run_id},
        )
    engine.dispose()
    manifest_path(store.results_dir, run_id).unlink()
    invoke("verify")


def test_verify_counts_rows_of_other_tables_sharing_the_folder(
    invoke: Invoke, store: StoreFiles
) -> None:
    from _cli_helpers import Other, write_other

    from entropic import Store

    with Store(write_other, Other, store.results_dir, ".dat", store.db_url) as other:
        other.sweep([{"k": 1}, {"k": 2}])
    invoke("--table", "cli_points", "verify")
    invoke("--table", "cli_others", "verify")


def test_verify_gc_and_ingest_need_the_results_dir(invoke: Invoke, tmp_path: Path) -> None:
    for command in ("verify", "gc", "ingest"):
        result = invoke(command, code=1, ENTROPIC_RESULTS_DIR=str(tmp_path / "nowhere"))
        assert result.stderr == f"Error: no results directory at {tmp_path / 'nowhere'}\n"
