"""Our Store and the raw floor (sqlite3 + hashlib), measured on the shared workloads.

Run in the environment that has our packages: ``python bench_ours.py {ours,raw} ACTION ...``
(see :mod:`bench_common`). ``raw`` is the floor the ratios are taken against: the same key
scheme, the same table, and nothing but ``SELECT * FROM t WHERE id = ?`` (chunked ``IN`` for
sweeps) through the standard library's sqlite3, returning plain row tuples.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import platform
import resource
import sqlite3
import sys
import time
import tracemalloc
import uuid
from itertools import islice
from pathlib import Path
from typing import Any, Final

import sqlalchemy
from sqlalchemy import Table, insert

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import HIT_POINTS, TimedRunner, key, main, median_call_seconds, point, points

import entropic
from entropic import Base, Mapped, Store, hash_params

__all__ = ["BenchRun", "Ours", "RawFloor"]

#: Points per INSERT batch when filling a store, and per IN query in the raw sweep.
FILL_CHUNK: Final = 10_000
LOOKUP_CHUNK: Final = 500
#: Points traced with tracemalloc to learn the size of one record.
SAMPLE: Final = 50_000


class BenchRun(Base):
    """The benchmark's model: four parameter columns."""

    __tablename__ = "bench_runs"

    n: Mapped[int]
    dt: Mapped[float]
    method: Mapped[str]
    seed: Mapped[int]


def _rss_bytes() -> int:
    """This process's resident set size now."""
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _maxrss_bytes() -> int:
    """This process's peak resident set size (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Ours:
    """entropic (this repository) through its public API."""

    @staticmethod
    def store(workdir: Path, runner: TimedRunner) -> Store[BenchRun]:
        """Open the Store kept in ``workdir``."""
        return Store(
            runner,
            BenchRun,
            results_dir=workdir / "results",
            file_suffix=".txt",
            db_url=f"sqlite:///{workdir / 'store.sqlite3'}",
        )

    def prepare(self, workdir: Path, n: int) -> dict[str, Any]:
        """Fill the table directly (setup, not measured): one row per point, as a sweep would.

        The first row goes in through SQLAlchemy with the model's column types; the others copy
        its stored form through sqlite3, which is many times faster for a million rows.
        """
        if hash_params(point(1)) != key(point(1)):
            raise AssertionError("the benchmark's key scheme differs from entropic's")
        store = self.store(workdir, TimedRunner(allow=False))
        table = BenchRun.__table__
        assert isinstance(table, Table)
        results = store.results_dir
        start = time.perf_counter()
        first = point(0)
        with store.engine.begin() as conn:
            conn.execute(
                insert(table),
                {
                    **first,
                    "id": key(first),
                    "result_file": str(results / f"{key(first)}.txt"),
                    "created_at": dt.datetime.now(dt.UTC),
                    "custom_data": {},
                },
            )
        store.close()
        conn3 = sqlite3.connect(workdir / "store.sqlite3")
        cursor = conn3.execute(f"SELECT * FROM {table.name}")
        names = [d[0] for d in cursor.description]
        template = dict(zip(names, cursor.fetchone(), strict=True))
        sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({','.join('?' * len(names))})"
        generator = points(1, n)
        while chunk := list(islice(generator, FILL_CHUNK)):
            rows = []
            for p in chunk:
                run_id = key(p)
                row = {**template, **p, "id": run_id, "result_file": str(results / f"{run_id}.txt")}
                rows.append(tuple(row[name] for name in names))
            conn3.executemany(sql, rows)
        conn3.commit()
        conn3.close()
        return {"n": n, "seconds": time.perf_counter() - start}

    def hit(
        self, workdir: Path, calls: int, warmup: int, spread: int = HIT_POINTS
    ) -> dict[str, Any]:
        """Median seconds of ``Store.run_or_retrieve`` on a cached point."""
        store = self.store(workdir, TimedRunner(allow=False))
        params = [point(i) for i in range(spread)]
        seconds = median_call_seconds(store.run_or_retrieve, params, calls, warmup)
        store.close()
        return {"seconds": seconds, "calls": calls}

    def sweep(self, workdir: Path, n: int) -> dict[str, Any]:
        """Seconds of ``Store.sweep`` over ``n`` cached points (a list built beforehand)."""
        runner = TimedRunner(allow=False)
        store = self.store(workdir, runner)
        store.sweep(list(points(0, min(n, 100))))  # warm-up
        params = list(points(0, n))
        start = time.perf_counter()
        records = store.sweep(params)
        seconds = time.perf_counter() - start
        if len(records) != n or records[-1].n != n - 1:
            raise AssertionError(f"the sweep returned {len(records)} records for {n} points")
        store.close()
        return {"seconds": seconds, "n": n}

    def misses(self, workdir: Path, n: int) -> dict[str, Any]:
        """A serial sweep over ``n`` new points with a trivial runner, in a fresh store."""
        runner = TimedRunner()
        store = self.store(workdir / f"misses-{uuid.uuid4().hex[:8]}", runner)
        store.sweep(list(points(10**9, 10**9 + 20)))  # warm-up, on other points
        runner.reset()
        params = list(points(0, n))
        start = time.perf_counter()
        records = store.sweep(params)
        wall = time.perf_counter() - start
        if len(records) != n or runner.calls != n:
            raise AssertionError(f"{runner.calls} runs for {n} misses")
        store.close()
        return {"wall": wall, "runner": runner.seconds, "n": n}

    def memory(self, workdir: Path, n: int) -> dict[str, Any]:
        """Memory of a sweep over a generator of ``n`` cached points.

        First the whole sweep, untraced: ``peak_rss`` is how far the process's peak resident
        set rose above what it held before the sweep. Then, to know what the records themselves
        take, tracemalloc follows a sweep over the first ``SAMPLE`` points: ``record_bytes`` is
        what stays allocated per record once it returns, ``traced_ratio`` its peak over that.
        For scale, ``input_bytes`` is what one parameter dict of the generator takes.
        """
        store = self.store(workdir, TimedRunner(allow=False))
        store.sweep(points(0, min(n, 100)))  # warm-up
        gc.collect()
        before = _rss_bytes()
        start = time.perf_counter()
        records = store.sweep(points(0, n))
        seconds = time.perf_counter() - start
        peak = _maxrss_bytes()
        after = _rss_bytes()
        if len(records) != n:
            raise AssertionError(f"the sweep returned {len(records)} records for {n} points")
        del records
        gc.collect()
        sample = min(n, SAMPLE)
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        records = store.sweep(points(0, sample))
        current, traced_peak = tracemalloc.get_traced_memory()
        inputs = list(points(0, sample))
        input_bytes = tracemalloc.get_traced_memory()[0] - current
        del inputs, records
        tracemalloc.stop()
        store.close()
        record_bytes = (current - base) / sample
        return {
            "n": n,
            "seconds": seconds,
            "rss_before": before,
            "peak_rss": peak - before,
            "rss_after": after - before,
            "record_bytes": record_bytes,
            "input_bytes": input_bytes / sample,
            "traced_ratio": (traced_peak - base) / (current - base),
            "sample": sample,
        }


_COLUMNS = "id, result_file, created_at, custom_data, n, dt, method, seed"


class RawFloor:
    """The floor: sqlite3 and hashlib, returning row tuples, nothing else."""

    @staticmethod
    def connect(workdir: Path) -> sqlite3.Connection:
        """Open the floor's database file in ``workdir``."""
        conn = sqlite3.connect(workdir / "raw.sqlite3")
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    @staticmethod
    def _create(conn: sqlite3.Connection) -> None:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS runs (id VARCHAR(128) PRIMARY KEY, result_file TEXT NOT "
            "NULL, created_at TEXT NOT NULL, custom_data TEXT NOT NULL, n INTEGER NOT NULL, "
            "dt REAL NOT NULL, method TEXT NOT NULL, seed INTEGER NOT NULL)"
        )

    @staticmethod
    def _row(p: dict[str, Any], run_id: str, result_file: str, now: str) -> tuple[Any, ...]:
        return (run_id, result_file, now, "{}", p["n"], p["dt"], p["method"], p["seed"])

    def prepare(self, workdir: Path, n: int) -> dict[str, Any]:
        """Create and fill the table (setup, not measured)."""
        conn = self.connect(workdir)
        self._create(conn)
        results = workdir / "results"
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
        start = time.perf_counter()
        generator = points(0, n)
        while chunk := list(islice(generator, FILL_CHUNK)):
            rows = []
            for p in chunk:
                run_id = key(p)
                rows.append(self._row(p, run_id, str(results / f"{run_id}.txt"), now))
            conn.executemany(f"INSERT INTO runs ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)", rows)
        conn.commit()
        conn.close()
        return {"n": n, "seconds": time.perf_counter() - start}

    def hit(
        self, workdir: Path, calls: int, warmup: int, spread: int = HIT_POINTS
    ) -> dict[str, Any]:
        """Median seconds of hashing one point and fetching its row."""
        conn = self.connect(workdir)
        sql = "SELECT * FROM runs WHERE id = ?"

        def lookup(p: dict[str, Any]) -> Any:
            row = conn.execute(sql, (key(p),)).fetchone()
            if row is None:
                raise AssertionError(f"no row for {p!r}")
            return row

        params = [point(i) for i in range(spread)]
        seconds = median_call_seconds(lookup, params, calls, warmup)
        conn.close()
        return {"seconds": seconds, "calls": calls}

    @staticmethod
    def lookup_many(conn: sqlite3.Connection, params: list[dict[str, Any]]) -> list[Any]:
        """Hash every point, fetch the rows in chunked ``IN`` queries, return them in order."""
        out: list[Any] = []
        for start in range(0, len(params), LOOKUP_CHUNK):
            keys = [key(p) for p in params[start : start + LOOKUP_CHUNK]]
            marks = ",".join("?" * len(keys))
            found = conn.execute(f"SELECT * FROM runs WHERE id IN ({marks})", keys).fetchall()
            by_id = {row[0]: row for row in found}
            out.extend(by_id[k] for k in keys)
        return out

    def sweep(self, workdir: Path, n: int) -> dict[str, Any]:
        """Seconds to look up ``n`` cached points."""
        conn = self.connect(workdir)
        self.lookup_many(conn, list(points(0, min(n, 100))))  # warm-up
        params = list(points(0, n))
        start = time.perf_counter()
        rows = self.lookup_many(conn, params)
        seconds = time.perf_counter() - start
        if len(rows) != n:
            raise AssertionError(f"{len(rows)} rows for {n} points")
        conn.close()
        return {"seconds": seconds, "n": n}

    def misses(self, workdir: Path, n: int) -> dict[str, Any]:
        """The floor of a miss with the same guarantees as a store's.

        The runner writes to a temporary name that is then moved into place; a small JSON
        manifest is written beside it; rows are inserted and committed every 256 runs.
        """
        folder = workdir / f"misses-{uuid.uuid4().hex[:8]}"
        results = folder / "results"
        results.mkdir(parents=True)
        conn = self.connect(folder)
        self._create(conn)
        runner = TimedRunner()
        params = list(points(0, n))
        start = time.perf_counter()
        rows = []
        for p in params:
            run_id = key(p)
            final = results / f"{run_id}.txt"
            scratch = results / f".{run_id}.tmp.txt"
            runner({**p, "result_file": str(scratch)})
            os.replace(scratch, final)
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
            (results / f".{run_id}.json").write_text(
                json.dumps({"id": run_id, "params": p, "result_file": str(final), "at": now})
            )
            rows.append(self._row(p, run_id, str(final), now))
            if len(rows) == 256:
                conn.executemany(f"INSERT INTO runs ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)", rows)
                conn.commit()
                rows = []
        conn.executemany(f"INSERT INTO runs ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)", rows)
        conn.commit()
        wall = time.perf_counter() - start
        conn.close()
        return {"wall": wall, "runner": runner.seconds, "n": n}


def info() -> dict[str, Any]:
    """Versions in this environment."""
    return {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "entropic-core": entropic.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "entropic_from": str(Path(entropic.__file__).parent),
    }


if __name__ == "__main__":
    main({"ours": Ours, "raw": RawFloor}, info)
