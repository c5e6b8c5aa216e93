"""Load test: 4 processes x 2,000 parameter sets with a trivial runner, on SQLite and PostgreSQL.

Not a timed test: it proves that nothing is lost and nothing runs twice under load. The
benchmarks (``nox -s bench``) call :func:`run_load` to report its runs per second.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _manywriters as mw
from sqlalchemy import func, select

from entropic import Store

SWEEPER = str(Path(__file__).parent / "_sweeper.py")


def run_load(
    db_url: str, workdir: Path, processes: int = 4, per_process: int = 2000
) -> dict[str, Any]:
    """Run the load and check it; return the figures.

    Process ``i`` sweeps the parameter sets from ``i * per_process / 2`` on, ``per_process`` of
    them, so neighbours overlap by half and every set but the outer halves is asked for twice.
    """
    table = mw.new_table_name()
    step = per_process // 2
    distinct = step * (processes - 1) + per_process
    try:
        start = time.perf_counter()
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    SWEEPER,
                    db_url,
                    table,
                    str(workdir / "results"),
                    str(workdir / "calls.log"),
                    str(i * step),
                    str(i * step + per_process),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(processes)
        ]
        outputs = [p.communicate(timeout=600) for p in procs]
        wall = time.perf_counter() - start
        for p, (out, err) in zip(procs, outputs, strict=True):
            assert p.returncode == 0, err
            assert len(out.split()) == per_process
        counts = mw.call_counts(workdir / "calls.log")
        assert len(counts) == distinct, "a parameter set was lost"
        assert set(counts.values()) == {1}, "a parameter set ran twice"
        store = Store(mw.record_call, mw.point_model(table), workdir / "results", ".txt", db_url)
        with store.engine.connect() as conn:
            rows = conn.execute(select(func.count()).select_from(store.result_cls.__table__))
            assert rows.scalar_one() == distinct
        for params in mw.points(0, distinct):
            record = store.retrieve(params)
            assert record is not None
            assert Path(record.result_file).stat().st_size == len(mw.content_for(params))
        store.close()
        return {
            "processes": processes,
            "requested": processes * per_process,
            "runs": distinct,
            "wall_seconds": wall,
            "runs_per_second": distinct / wall,
        }
    finally:
        if not db_url.startswith("sqlite"):
            mw.drop_table(db_url, table)


def test_load(shared_db_url: str, tmp_path: Path) -> None:
    figures = run_load(shared_db_url, tmp_path)
    assert figures["runs"] == 5000
