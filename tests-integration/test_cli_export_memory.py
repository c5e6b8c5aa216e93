"""``entropic export`` streams: its peak memory does not grow with the number of rows exported.

Each export runs as a process of its own, started by a fresh, small Python process that reports
the peak resident set size of its one child (``RUSAGE_CHILDREN``). The go-between matters: on
Linux a child's peak starts from its parent's size at the fork, so an export started straight
from the test process would report the test's memory. The store is filled with a bulk insert
into the model's table, and the same table is exported at ``SMALL`` rows and again at ten times
as many. Memory is asserted, never time.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import _manywriters as mw
import pytest
from sqlalchemy import Table, delete

from entropic import Store
from entropic._internal import provenance_table

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="needs the resource module to read a child's peak memory"
)

#: Rows of the smaller export; the larger one has ten times as many.
SMALL = 2000
#: Text every row carries (label and custom_data), so that holding a row costs at least this.
PAYLOAD = 3000
#: How much higher the larger export's peak may be, in bytes: room for what is bounded but not
#: full at the smaller size (SQLite's page cache takes up to 2 MiB per connection, and
#: --provenance reads through a second one), far below what holding the extra rows would take
#: (over 50 MiB).
ALLOWED_GROWTH = 8 * 2**20

#: The export command, as the installed script runs it.
COMMAND = [sys.executable, "-c", "from entropic_cli.main import main; main()"]
#: Runs its arguments as a command and prints that child's peak resident set size.
PEAK_OF_CHILD = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:])\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(code)\n"
)


def _fill(store: Store[Any], table: Table, start: int, stop: int) -> None:
    """Rows ``start`` to ``stop`` and the provenance of each, inserted in bulk."""
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    ids = [f"{i:016x}" for i in range(start, stop)]
    rows = [
        {
            "id": run_id,
            "n": i,
            "x": i / 7,
            "label": f"{i:08d}" + "l" * 192,
            "mode": None,
            "shape": None,
            "when": None,
            "result_file": f"/nowhere/{run_id}.txt",
            "created_at": now,
            "custom_data": {"note": "c" * (PAYLOAD - 200)},
        }
        for i, run_id in enumerate(ids, start)
    ]
    recorded = {"runner": "sim:run", "version": "1", "host": "node-1", "pid": 1234}
    detail = json.dumps({**recorded, "python": "3.11", "git_commit": "0" * 40})
    made = [
        {
            "table_name": table.name,
            "run_id": run_id,
            "origin": "run",
            "code": "version:1",
            "runner": "sim:run",
            "version": "1",
            "host": "node-1",
            "pid": 1234,
            "finished_at": now,
            "detail": detail,
        }
        for run_id in ids
    ]
    with store.engine.begin() as conn:
        conn.execute(table.insert(), rows)
        conn.execute(provenance_table.insert(), made)


def _peak_export(db_url: str, table: str, tmp_path: Path, args: list[str], target: Path) -> int:
    """Run ``entropic export ARGS -o TARGET`` in a process of its own; its peak RSS in bytes."""
    command = [*COMMAND, "--db", db_url, "--table", table]
    command += ["--results-dir", str(tmp_path / "results"), "export", *args, "-o", str(target)]
    done = subprocess.run(
        [sys.executable, "-c", PEAK_OF_CHILD, *command],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    peak = int(done.stdout.splitlines()[-1])
    # Linux reports KiB, macOS bytes
    return peak if sys.platform == "darwin" else peak * 1024


def _count(fmt: str, target: Path) -> int:
    with target.open(encoding="utf-8", newline="") as stream:
        if fmt == "json":
            return len(json.load(stream))
        if fmt == "csv":
            return sum(1 for _ in csv.reader(stream)) - 1  # the header
        return sum(1 for _ in stream)


#: The exports measured: each format, and the provenance (CSV: read a chunk at a time).
EXPORTS = {
    "csv-provenance": ["--format", "csv", "--provenance"],
    "json": ["--format", "json"],
    "jsonl": ["--format", "jsonl"],
}


def _peaks(db_url: str, table: str, tmp_path: Path, rows: int) -> dict[str, int]:
    """The peak of each of :data:`EXPORTS` (run side by side); each output is checked whole."""
    targets = {name: tmp_path / f"{name}-{rows}.out" for name in EXPORTS}
    with ThreadPoolExecutor(len(EXPORTS)) as pool:
        futures = {
            name: pool.submit(_peak_export, db_url, table, tmp_path, args, targets[name])
            for name, args in EXPORTS.items()
        }
        peaks = {name: future.result() for name, future in futures.items()}
    for name, target in targets.items():
        assert _count(EXPORTS[name][1], target) == rows, name
    return peaks


@pytest.mark.slow
def test_export_memory_does_not_grow_with_the_rows(
    db_url: str, table_name: str, tmp_path: Path
) -> None:
    model = mw.point_model(table_name)
    table = model.__table__
    assert isinstance(table, Table)
    large = 10 * SMALL
    with Store(lambda p: None, model, tmp_path / "results", ".txt", db_url) as store:
        try:
            _fill(store, table, 0, SMALL)
            small = _peaks(db_url, table_name, tmp_path, SMALL)
            _fill(store, table, SMALL, large)
            big = _peaks(db_url, table_name, tmp_path, large)
            with (tmp_path / f"csv-provenance-{large}.out").open(newline="") as stream:
                hosts = {r["provenance.host"] for r in csv.DictReader(stream)}
            assert hosts == {"node-1"}  # every row's provenance was exported
        finally:
            with store.engine.begin() as conn:
                conn.execute(
                    delete(provenance_table).where(provenance_table.c.table_name == table_name)
                )
    extra = large - SMALL
    held = extra * PAYLOAD  # what holding the extra rows would take at the very least
    mib = 2**20
    grown = {name: big[name] - small[name] for name in EXPORTS}
    too_much = {name: g for name, g in grown.items() if g >= ALLOWED_GROWTH}
    assert not too_much, (
        f"exporting {extra:,} more rows raised the peak by "
        + ", ".join(
            f"{g / mib:.1f} MiB ({name}, from {small[name] / mib:.1f})"
            for name, g in too_much.items()
        )
        + f"; holding the rows would take over {held / mib:.1f} MiB"
    )
