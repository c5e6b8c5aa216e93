"""entropic verify and entropic gc: finding and cleaning what does not match."""

from __future__ import annotations

import json
import os
import re
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


def test_a_run_whose_id_another_table_holds_is_unindexed_not_an_orphan(
    invoke: Invoke, store: StoreFiles, tmp_path: Path
) -> None:
    """The same id in another table must not make gc delete a file ingest would index."""
    from _cli_helpers import Other, write_other

    from entropic import Store

    with store.open() as s:
        lost = s.run({"id": "shared-1", "n": 5, "x": 0.5, "label": "odd"})
    with Store(write_other, Other, tmp_path / "other", ".dat", store.db_url) as other:
        other.run({"id": "shared-1", "k": 1})
    delete_rows(store, "shared-1")
    args = ("--table", "cli_points")
    found = _problems(lambda *a, code=0: invoke(*args, *a, code=code), code=1)
    assert found == {"unindexed-manifest": {manifest_path(store.results_dir, "shared-1").name}}
    assert "nothing to remove" in invoke(*args, "gc", "--yes").stdout
    assert Path(lost.result_file).is_file()
    assert "indexed 1 run(s)" in invoke(*args, "ingest").stdout
    invoke(*args, "verify")


def test_a_corrupt_manifest_is_reported_and_its_result_file_kept(
    invoke: Invoke, store: StoreFiles
) -> None:
    run_id = store.ids[0]
    delete_rows(store, run_id)
    manifest = manifest_path(store.results_dir, run_id)
    manifest.write_text("{ not json")
    items = json.loads(invoke("verify", "--format", "json", code=1).stdout)
    assert [(i["problem"], i["id"], i["removable"]) for i in items] == [
        ("bad-manifest", run_id, False)
    ]
    assert "nothing to remove" in invoke("gc", "--yes").stdout
    assert (store.results_dir / f"{run_id}.txt").is_file()
    assert manifest.is_file()


def test_a_moved_folder_is_named_and_gc_refuses_without_force(
    invoke: Invoke, store: StoreFiles, tmp_path: Path
) -> None:
    old = store.results_dir
    new = tmp_path / "moved"
    os.rename(old, new)
    gone = invoke("verify", code=1, ENTROPIC_RESULTS_DIR="")
    assert f"no results directory at {old} (recorded for table 'cli_points')" in gone.stderr
    assert f"entropic relocate {old} NEW" in gone.stderr
    moved = {"ENTROPIC_RESULTS_DIR": str(new)}
    result = invoke("verify", code=1, **moved)
    assert f"run 'entropic relocate {old} {new}'" in result.stderr
    kinds = {
        i["problem"]
        for i in json.loads(invoke("verify", "--format", "json", code=1, **moved).stdout)
    }
    assert kinds == {"moved-folder", "missing-file"}  # no orphan-file
    refused = invoke("gc", "--yes", code=1, **moved)
    assert "looks moved" in refused.stderr
    assert f"entropic relocate {old} {new}" in refused.stderr
    assert len(list(new.glob("*.txt"))) == len(POINTS)
    assert "nothing to remove" in invoke("gc", "--yes", "--force", **moved).stdout
    assert len(list(new.glob("*.txt"))) == len(POINTS)
    assert invoke("relocate", str(old), str(new), ENTROPIC_RESULTS_DIR="").stdout == (
        f"rewrote {len(POINTS)} path(s)\n"
    )
    invoke("verify", ENTROPIC_RESULTS_DIR="")  # the record now names the new folder


def test_gc_moves_into_a_dated_trash_folder_and_empty_trash_empties_it(
    invoke: Invoke, store: StoreFiles, damaged: dict[str, str]
) -> None:
    results = store.results_dir
    result = invoke("gc", "--yes")
    match = re.search(r"they are in (\.entropic-trash/\S+),", result.stdout)
    assert match is not None, result.stdout
    trash = results / match.group(1)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d{6}", trash.name)
    assert (trash / "stray.dat").read_text() == "not a result"  # restorable by hand
    assert (trash / damaged["stale"]).is_file()
    assert (trash / ".entropic-tmp" / damaged["dead"] / "half.txt").is_file()
    assert set(_problems(invoke, code=1)) == {"missing-file", "empty-file", "unindexed-manifest"}
    assert "would empty" in invoke("gc", "--empty-trash", "--dry-run").stdout
    assert trash.is_dir()
    assert invoke("gc", "--empty-trash", "--yes").stdout == "deleted 5 file(s) from the trash\n"
    assert not (results / ".entropic-trash").exists()
    assert invoke("gc", "--empty-trash").stdout == "the trash is empty\n"


def test_gc_purge_deletes_for_good(
    invoke: Invoke, store: StoreFiles, damaged: dict[str, str]
) -> None:
    result = invoke("gc", "--purge", "--yes")
    assert "removed 5 item(s)" in result.stdout
    assert "trash" not in result.stdout
    assert not (store.results_dir / "stray.dat").exists()
    assert not (store.results_dir / ".entropic-trash").exists()


def test_gc_without_a_terminal_or_yes_says_to_pass_yes(
    invoke: Invoke, store: StoreFiles, damaged: dict[str, str]
) -> None:
    result = invoke("gc", code=1)  # standard input is empty and not a terminal
    assert "Aborted!" not in result.output
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: there is no terminal to answer on, so nothing was done; "
        "pass --yes to go ahead without asking"
    )
    assert (store.results_dir / "stray.dat").exists()
    result = invoke("rm", store.ids[0], code=1)
    assert "pass --yes" in result.stderr
