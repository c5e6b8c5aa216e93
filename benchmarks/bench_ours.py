"""Our Store on SQLite and on PostgreSQL, and the raw floors, measured on the shared workloads.

Run in the environment that has our packages (see :mod:`bench_common`)::

    python bench_ours.py {ours,raw,ours-pg,raw-pg} ACTION ...

``ours`` and ``ours-pg`` are this repository's Store through its public API, on a SQLite file and
on the PostgreSQL server of :data:`bench_floors.POSTGRES_URL` (each measurement in a schema of its
own); ``raw`` and ``raw-pg`` are the floors of :mod:`bench_floors` the ratios are taken against.
"""

from __future__ import annotations

import datetime as dt
import gc
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
from bench_floors import RawFloor, RawPostgres, drop_schema, postgres_url, schema_for

import entropic
from entropic import Base, Mapped, Store, hash_params

__all__ = ["BenchRun", "Ours", "OursPostgres"]

#: Points per INSERT batch when filling a store.
FILL_CHUNK: Final = 10_000
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

    def db_url(self, workdir: Path) -> str:
        """The database of the Store kept in ``workdir``."""
        return f"sqlite:///{workdir / 'store.sqlite3'}"

    def store(self, workdir: Path, runner: TimedRunner) -> Store[BenchRun]:
        """Open the Store kept in ``workdir``."""
        return Store(
            runner,
            BenchRun,
            results_dir=workdir / "results",
            file_suffix=".txt",
            db_url=self.db_url(workdir),
        )

    def done(self, workdir: Path) -> None:
        """Forget a store made for one measurement (nothing to do for a SQLite file)."""

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
        folder = workdir / f"misses-{uuid.uuid4().hex[:8]}"
        store = self.store(folder, runner)
        try:
            store.sweep(list(points(10**9, 10**9 + 20)))  # warm-up, on other points
            runner.reset()
            params = list(points(0, n))
            start = time.perf_counter()
            records = store.sweep(params)
            wall = time.perf_counter() - start
            if len(records) != n or runner.calls != n:
                raise AssertionError(f"{runner.calls} runs for {n} misses")
        finally:
            store.close()
            self.done(folder)
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


class OursPostgres(Ours):
    """Our Store on PostgreSQL, in a schema of its own per measurement folder."""

    def db_url(self, workdir: Path) -> str:
        """The server, seen through the schema of ``workdir`` (created here)."""
        schema = schema_for(workdir)
        RawPostgres.connect(workdir).close()  # creates the schema
        return postgres_url(schema)

    def done(self, workdir: Path) -> None:
        """Drop the schema of a store made for one measurement."""
        drop_schema(schema_for(workdir))

    def cleanup(self, workdir: Path) -> dict[str, Any]:
        """Drop the schema of the store kept in ``workdir``."""
        self.done(workdir)
        return {"dropped": schema_for(workdir)}

    def prepare(self, workdir: Path, n: int) -> dict[str, Any]:
        """Fill the table through SQLAlchemy Core (setup, not measured), as a sweep would."""
        if hash_params(point(1)) != key(point(1)):
            raise AssertionError("the benchmark's key scheme differs from entropic's")
        store = self.store(workdir, TimedRunner(allow=False))
        table = BenchRun.__table__
        assert isinstance(table, Table)
        results, now = store.results_dir, dt.datetime.now(dt.UTC)
        start = time.perf_counter()
        generator = points(0, n)
        with store.engine.begin() as conn:
            while chunk := list(islice(generator, FILL_CHUNK)):
                rows = []
                for p in chunk:
                    run_id = key(p)
                    rows.append(
                        {
                            **p,
                            "id": run_id,
                            "result_file": str(results / f"{run_id}.txt"),
                            "created_at": now,
                            "custom_data": {},
                        }
                    )
                conn.execute(insert(table), rows)
            conn.exec_driver_sql(f"ANALYZE {table.name}")
        store.close()
        return {"n": n, "seconds": time.perf_counter() - start}


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
    main({"ours": Ours, "raw": RawFloor, "ours-pg": OursPostgres, "raw-pg": RawPostgres}, info)
