"""What users would compare us with: entropic 2.3.0 (published), signac and joblib.Memory.

Run ONLY in the separate environment that ``nox -s bench`` makes for them: the published
entropic 2.3.0 has our import name, so it never shares an environment with our packages.
``python bench_legacy.py {entropic230,signac,joblib} ACTION ...`` (see :mod:`bench_common`).

Each library is driven through its public API only:

- entropic 2.3.0: ``Store.run_or_retrieve`` and ``Store.sweep`` (also with a Dask client, in
  ``legacy_dask.py``);
- signac: ``project.open_job(statepoint)``, ``job in project`` and ``job.isfile(name)``;
- joblib: a ``Memory.cache``-decorated function that writes the result file and returns its path.
"""

from __future__ import annotations

import datetime as dt
import platform
import sqlite3
import sys
import time
import uuid
from importlib import metadata
from itertools import islice
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import HIT_POINTS, TimedRunner, key, main, median_call_seconds, point, points

__all__ = ["Entropic230", "JoblibMemory", "Signac", "simulate"]

_MODELS: dict[str, Any] = {}


def _model() -> Any:
    """entropic 2.3.0's model of the workload (built on first use, in the right environment)."""
    if "run" not in _MODELS:
        from sqlalchemy import Float, Integer, String

        from entropic import Base, mapped_column  # the published 2.3.0 in this environment

        # Columns spelled out: string annotations (this module's __future__ import) would need
        # Mapped at module level, and this module must not import entropic at import time.
        class OldRun(Base):  # type: ignore[misc,valid-type,unused-ignore]
            __tablename__ = "bench_runs"

            n = mapped_column(Integer, nullable=False)
            dt = mapped_column(Float, nullable=False)
            method = mapped_column(String, nullable=False)
            seed = mapped_column(Integer, nullable=False)

        _MODELS["run"] = OldRun
    return _MODELS["run"]


class Entropic230:
    """The published entropic 2.3.0."""

    @staticmethod
    def store(workdir: Path, runner: TimedRunner) -> Any:
        """Open the 2.3.0 Store kept in ``workdir``."""
        from entropic import Store

        return Store(
            runner,
            _model(),
            results_dir=workdir / "results",
            file_suffix=".txt",
            db_url=f"sqlite:///{workdir / 'store.sqlite3'}",
        )

    def prepare(self, workdir: Path, n: int) -> dict[str, Any]:
        """Fill the table directly (setup, not measured)."""
        from sqlalchemy import create_engine, insert

        store = self.store(workdir, TimedRunner(allow=False))
        if store._hash_params(point(1)) != key(point(1)):
            raise AssertionError("the benchmark's key scheme differs from entropic 2.3.0's")
        engine = create_engine(f"sqlite:///{workdir / 'store.sqlite3'}")
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        start = time.perf_counter()
        generator = points(0, n)
        with engine.begin() as conn:
            while chunk := list(islice(generator, 10_000)):
                rows = []
                for p in chunk:
                    run_id = key(p)
                    rows.append(
                        {
                            **p,
                            "id": run_id,
                            "result_file": str(store.results_dir / f"{run_id}.txt"),
                            "created_at": now,
                            "custom_data": {},
                        }
                    )
                conn.execute(insert(_model().__table__), rows)
        engine.dispose()
        return {"n": n, "seconds": time.perf_counter() - start}

    def hit(
        self, workdir: Path, calls: int, warmup: int, spread: int = HIT_POINTS
    ) -> dict[str, Any]:
        """Median seconds of ``Store.run_or_retrieve`` on a cached point."""
        store = self.store(workdir, TimedRunner(allow=False))
        params = [point(i) for i in range(spread)]
        return {
            "seconds": median_call_seconds(store.run_or_retrieve, params, calls, warmup),
            "calls": calls,
        }

    def sweep(self, workdir: Path, n: int) -> dict[str, Any]:
        """Seconds of ``Store.sweep`` over ``n`` cached points."""
        store = self.store(workdir, TimedRunner(allow=False))
        store.sweep(list(points(0, min(n, 100))))  # warm-up
        params = list(points(0, n))
        start = time.perf_counter()
        records = store.sweep(params)
        seconds = time.perf_counter() - start
        if len(records) != n:
            raise AssertionError(f"the sweep returned {len(records)} records for {n} points")
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
        return {"wall": wall, "runner": runner.seconds, "n": n}

    def dask(self, workdir: Path, n: int, workload: str, rounds: int) -> dict[str, Any]:
        """Raw ``client.map`` and 2.3.0's Dask sweep of ``n`` new runs, in turns."""
        import legacy_dask  # imports dask and entropic 2.3.0: only for this action

        return legacy_dask.measure(workdir, n, workload, rounds)


class Signac:
    """signac: one job per state point, the result as a file in the job's folder."""

    RESULT = "result.txt"

    @staticmethod
    def project(workdir: Path) -> Any:
        """Open (or create) the signac project in ``workdir``."""
        import signac  # type: ignore[import-not-found,unused-ignore]

        return signac.init_project(path=str(workdir / "signac"))

    def prepare(self, workdir: Path, n: int) -> dict[str, Any]:
        """Initialise ``n`` jobs and write each one's result file (setup, not measured)."""
        project = self.project(workdir)
        start = time.perf_counter()
        for p in points(0, n):
            job = project.open_job(p)
            job.init()
            Path(job.fn(self.RESULT)).write_text("ok")
        return {"n": n, "seconds": time.perf_counter() - start}

    def _lookup(self, project: Any) -> Any:
        result = self.RESULT

        def lookup(p: dict[str, Any]) -> Any:
            job = project.open_job(p)
            if job not in project or not job.isfile(result):
                raise AssertionError(f"no finished job for {p!r}")
            return job

        return lookup

    def hit(
        self, workdir: Path, calls: int, warmup: int, spread: int = HIT_POINTS
    ) -> dict[str, Any]:
        """Median seconds of open_job, membership and isfile on a finished job."""
        lookup = self._lookup(self.project(workdir))
        params = [point(i) for i in range(spread)]
        return {"seconds": median_call_seconds(lookup, params, calls, warmup), "calls": calls}

    def sweep(self, workdir: Path, n: int) -> dict[str, Any]:
        """Seconds to look up ``n`` finished jobs, one after another."""
        lookup = self._lookup(self.project(workdir))
        for p in points(0, min(n, 100)):  # warm-up
            lookup(p)
        params = list(points(0, n))
        start = time.perf_counter()
        jobs = [lookup(p) for p in params]
        seconds = time.perf_counter() - start
        if len(jobs) != n:
            raise AssertionError(f"{len(jobs)} jobs for {n} points")
        return {"seconds": seconds, "n": n}

    def misses(self, workdir: Path, n: int) -> dict[str, Any]:
        """Initialise and run ``n`` new jobs serially, skipping finished ones as users do."""
        project = self.project(workdir / f"misses-{uuid.uuid4().hex[:8]}")
        runner = TimedRunner()
        result = self.RESULT

        def run(p: dict[str, Any]) -> None:
            job = project.open_job(p)
            if job in project and job.isfile(result):
                return
            job.init()
            runner({**p, "result_file": job.fn(result)})

        for p in points(10**9, 10**9 + 20):  # warm-up, on other points
            run(p)
        runner.reset()
        params = list(points(0, n))
        start = time.perf_counter()
        for p in params:
            run(p)
        wall = time.perf_counter() - start
        if runner.calls != n:
            raise AssertionError(f"{runner.calls} runs for {n} misses")
        return {"wall": wall, "runner": runner.seconds, "n": n}


#: The runner joblib's cached function calls; set by each measurement.
_RUNNER: list[TimedRunner] = [TimedRunner(allow=False)]


def simulate(n: int, dt: float, method: str, seed: int, results: str) -> str:
    """The function joblib.Memory caches: writes the result file, returns its path."""
    params = {"n": n, "dt": dt, "method": method, "seed": seed}
    path = str(Path(results) / f"{key(params)}.txt")
    _RUNNER[0]({**params, "result_file": path})
    return path


class JoblibMemory:
    """joblib.Memory caching a function that writes the result file and returns its path."""

    @staticmethod
    def cached(workdir: Path) -> tuple[Any, str]:
        """The cached function backed by ``workdir``, and the results folder it writes to."""
        from joblib import Memory  # type: ignore[import-not-found,unused-ignore]

        results = workdir / "results"
        results.mkdir(parents=True, exist_ok=True)
        memory = Memory(str(workdir / "joblib"), verbose=0)
        return memory.cache(simulate), str(results)

    def prepare(self, workdir: Path, n: int) -> dict[str, Any]:
        """Call the cached function once for each of ``n`` points (setup, not measured)."""
        _RUNNER[0] = TimedRunner()
        func, results = self.cached(workdir)
        start = time.perf_counter()
        for p in points(0, n):
            func(**p, results=results)
        return {"n": n, "seconds": time.perf_counter() - start}

    def hit(
        self, workdir: Path, calls: int, warmup: int, spread: int = HIT_POINTS
    ) -> dict[str, Any]:
        """Median seconds of a call answered from joblib's cache."""
        _RUNNER[0] = TimedRunner(allow=False)
        func, results = self.cached(workdir)
        params = [point(i) for i in range(spread)]
        seconds = median_call_seconds(lambda p: func(**p, results=results), params, calls, warmup)
        return {"seconds": seconds, "calls": calls}

    def sweep(self, workdir: Path, n: int) -> dict[str, Any]:
        """Seconds to call the cached function on ``n`` cached points."""
        _RUNNER[0] = TimedRunner(allow=False)
        func, results = self.cached(workdir)
        for p in points(0, min(n, 100)):  # warm-up
            func(**p, results=results)
        params = list(points(0, n))
        start = time.perf_counter()
        paths = [func(**p, results=results) for p in params]
        seconds = time.perf_counter() - start
        if len(paths) != n:
            raise AssertionError(f"{len(paths)} results for {n} points")
        return {"seconds": seconds, "n": n}

    def misses(self, workdir: Path, n: int) -> dict[str, Any]:
        """Call the cached function on ``n`` new points, in a fresh cache."""
        runner = TimedRunner()
        _RUNNER[0] = runner
        func, results = self.cached(workdir / f"misses-{uuid.uuid4().hex[:8]}")
        for p in points(10**9, 10**9 + 20):  # warm-up, on other points
            func(**p, results=results)
        runner.reset()
        params = list(points(0, n))
        start = time.perf_counter()
        for p in params:
            func(**p, results=results)
        wall = time.perf_counter() - start
        if runner.calls != n:
            raise AssertionError(f"{runner.calls} runs for {n} misses")
        return {"wall": wall, "runner": runner.seconds, "n": n}


def info() -> dict[str, Any]:
    """Versions in this environment."""
    names = ("entropic", "signac", "joblib", "dask", "distributed")
    versions = {name: metadata.version(name) for name in names}
    versions["sqlalchemy"] = metadata.version("SQLAlchemy")
    return {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version, **versions}


if __name__ == "__main__":
    main({"entropic230": Entropic230, "signac": Signac, "joblib": JoblibMemory}, info)
