"""entropic ingest: indexing manifests without rows, rebuilding a lost table."""

from __future__ import annotations

import json
from pathlib import Path

from _cli_helpers import POINTS, Invoke, StoreFiles, delete_rows


def test_ingest_indexes_manifests_without_rows(invoke: Invoke, store: StoreFiles) -> None:
    with store.open() as s:
        before = {r.id: r for r in s}
    delete_rows(store, *store.ids[:3])
    result = invoke("ingest")
    assert result.stdout == "indexed 3 run(s) into table 'cli_points'\n"
    with store.open() as s:
        after = {r.id: r for r in s}
    assert set(after) == set(before)
    for run_id in store.ids[:3]:
        old, new = before[run_id], after[run_id]
        assert (new.n, new.x, new.label, new.flag) == (old.n, old.x, old.label, old.flag)
        assert new.created_at == old.created_at
        assert new.custom_data == old.custom_data
        assert new.result_file == old.result_file
    assert invoke("ingest").stdout.startswith("indexed 0 run(s)")
    invoke("verify")


def test_ingest_rebuilds_a_lost_database_from_manifests(
    invoke: Invoke, store: StoreFiles, tmp_path: Path
) -> None:
    with store.open() as s:
        before = {r.id: r for r in s}
    fresh = f"sqlite:///{tmp_path / 'rebuilt.sqlite3'}"
    result = invoke("ingest", code=1, ENTROPIC_DB_URL=fresh)
    assert result.stderr == f"Error: no database at {tmp_path / 'rebuilt.sqlite3'}\n"
    (tmp_path / "rebuilt.sqlite3").touch()
    result = invoke("ingest", code=1, ENTROPIC_DB_URL=fresh)
    assert "to rebuild one from the manifests, name it with --table NAME" in result.stderr
    (tmp_path / "rebuilt.sqlite3").unlink()
    result = invoke("--table", "cli_points", "ingest", ENTROPIC_DB_URL=fresh)
    assert "indexed 6 run(s)" in result.stdout
    assert "guessed from the manifests" in result.stderr
    rows = json.loads(invoke("ls", "--format", "json", ENTROPIC_DB_URL=fresh).stdout)
    assert {r["id"] for r in rows} == set(before)
    for row in rows:
        old = before[row["id"]]
        assert (row["n"], row["x"], row["label"], row["flag"]) == (
            old.n,
            old.x,
            old.label,
            old.flag,
        )
    # the rebuilt store serves the model's code: every point is a hit
    from _cli_helpers import Point, write_point

    from entropic import Store

    with Store(write_point, Point, store.results_dir, ".txt", fresh) as again:
        assert [r.id for r in again.sweep(POINTS)] == store.ids


def test_ingest_with_the_model_creates_its_table(
    invoke: Invoke, store: StoreFiles, tmp_path: Path
) -> None:
    fresh = f"sqlite:///{tmp_path / 'rebuilt.sqlite3'}"
    result = invoke("ingest", "--model", "_cli_helpers:Point", ENTROPIC_DB_URL=fresh)
    assert "indexed 6 run(s)" in result.stdout
    assert "guessed" not in result.stderr
    info = json.loads(invoke("info", "--format", "json", ENTROPIC_DB_URL=fresh).stdout)
    assert {c["name"]: c["type"] for c in info["columns"]}["flag"] == "BOOLEAN"


def test_ingest_warns_about_manifests_it_skips(invoke: Invoke, store: StoreFiles) -> None:
    delete_rows(store, store.ids[0])
    (store.results_dir / f"{store.ids[0]}.txt").unlink()
    result = invoke("ingest")
    assert "indexed 0 run(s)" in result.stdout
    assert "warning: skipping manifest" in result.stderr
