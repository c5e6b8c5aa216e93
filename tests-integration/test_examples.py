"""The scripts in examples/ run on a tiny grid, store what they say, and hit the cache next time."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TIMEOUT = 180


def _run(
    script: str, *args: str, cwd: Path, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run an example in ``cwd`` with this interpreter; fail with its output if it fails."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    if check and done.returncode != 0:
        pytest.fail(f"{script} {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return done


def _rows(db: Path, table: str) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(f"SELECT id, result_file FROM {table} ORDER BY id").fetchall()
    conn.close()
    return [(str(i), str(f)) for i, f in rows]


def _stamps(folder: Path) -> dict[str, int]:
    """Each file's modification time, to tell whether a second run rewrote anything."""
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.is_file()}


def test_lotka_volterra_runs_then_hits_the_cache(tmp_path: Path) -> None:
    h5py = pytest.importorskip("h5py")
    first = _run("lotka_volterra.py", "--grid-size", "tiny", cwd=tmp_path)
    assert "2 parameter sets: 2 ran, 0 came from the cache" in first.stdout

    rows = _rows(tmp_path / "lotka_volterra.sqlite3", "predator_prey")
    assert len(rows) == 2
    results = tmp_path / "lv-results"
    for run_id, result_file in rows:
        assert Path(result_file) == results / f"{run_id}.h5"
        assert (results / f".{run_id}.entropic.json").is_file()
        with h5py.File(result_file, "r") as f:
            assert f["t"].shape == f["prey"].shape == f["predator"].shape == (501,)
            assert f.attrs["steps"] == 500
            assert f.attrs["peak_prey"] == pytest.approx(f["prey"][:].max())
            assert f["prey"][0] == 10.0
    before = _stamps(results)

    again = _run("lotka_volterra.py", "--grid-size", "tiny", "--expect-cached", cwd=tmp_path)
    assert "0 ran, 2 came from the cache" in again.stdout
    assert "every point was a cache hit" in again.stdout
    assert _stamps(results) == before

    summary = _run("lotka_volterra.py", "--summary", cwd=tmp_path)
    assert "2 rows in table 'predator_prey'" in summary.stdout
    for run_id, _ in rows:
        assert run_id in summary.stdout
    assert "2 HDF5 files" in summary.stdout
    assert "2 manifests" in summary.stdout


def test_lotka_volterra_expect_cached_fails_on_an_empty_store(tmp_path: Path) -> None:
    pytest.importorskip("h5py")
    done = _run(
        "lotka_volterra.py", "--grid-size", "tiny", "--expect-cached", cwd=tmp_path, check=False
    )
    assert done.returncode == 1
    assert "expected every point to be cached, but the runner was called 2 time(s)" in done.stderr


def test_csv_example_writes_csv_and_reuses_it(tmp_path: Path) -> None:
    first = _run("csv_example.py", "--tiny", cwd=tmp_path)
    assert "2 parameter sets, 2 rows stored" in first.stdout
    rows = _rows(tmp_path / "csv_example.sqlite3", "random_walk")
    assert len(rows) == 2
    results = tmp_path / "csv-results"
    for run_id, result_file in rows:
        assert Path(result_file) == results / f"{run_id}.csv"
        lines = Path(result_file).read_text().splitlines()
        assert lines[0] == "step,position"
        assert len(lines) == 102  # header, step 0, then 100 steps
        manifest = json.loads((results / f".{run_id}.entropic.json").read_text())
        assert manifest["id"] == run_id
        assert manifest["params"]["steps"] == 100
    before = _stamps(results)

    again = _run("csv_example.py", "--tiny", cwd=tmp_path)
    assert again.stdout == first.stdout
    assert _stamps(results) == before
    assert _rows(tmp_path / "csv_example.sqlite3", "random_walk") == rows


@pytest.mark.slow
def test_dask_example_runs_on_a_local_cluster(tmp_path: Path) -> None:
    pytest.importorskip("entropic_dask")
    first = _run("dask_example.py", "--tiny", "--workers", "2", cwd=tmp_path)
    assert "4 parameter sets: 4 ran on the cluster, 0 cached" in first.stdout
    rows = _rows(tmp_path / "dask_example.sqlite3", "logistic_map")
    assert len(rows) == 4
    for run_id, result_file in rows:
        assert Path(result_file) == tmp_path / "dask-results" / f"{run_id}.npy"
        assert Path(result_file).stat().st_size > 2000 * 8
    before = _stamps(tmp_path / "dask-results")

    again = _run("dask_example.py", "--tiny", "--workers", "1", cwd=tmp_path)
    assert "4 parameter sets: 0 ran on the cluster, 4 cached" in again.stdout
    assert _stamps(tmp_path / "dask-results") == before
