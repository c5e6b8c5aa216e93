"""Where a sweep over cached points spends its time, stage by stage, against the raw floor.

Run in an environment with entropic-core installed (``nox -s bench`` makes one)::

    python benchmarks/profile_sweep.py [--n 100000] [--dir DIR]

It fills a store and a raw sqlite3 table with ``n`` cached points (as ``bench_ours.py prepare``
does), then times, per point, each stage a sweep goes through: checking and hashing the
parameters, the chunked ``IN`` queries with value conversion, building the records, and the
collision check; then whole sweeps, ours and the floor's. For a call graph of the same sweep,
run it under a sampling profiler, e.g. ``pyinstrument benchmarks/profile_sweep.py``.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import TimedRunner, points
from bench_floors import RawFloor
from bench_ours import Ours

from entropic._collision import check_hit

T = TypeVar("T")


def _per_point(label: str, n: int, work: Callable[[], T]) -> T:
    start = time.perf_counter()
    out = work()
    print(f"  {label:<40} {(time.perf_counter() - start) * 1e6 / n:6.2f} µs per point")
    return out


def _stages(store: Any, params: list[dict[str, Any]]) -> None:
    n = len(params)
    gc.disable()
    try:
        # the Store's collaborators, reached into on purpose: this script times each stage
        schema, records = store._schema, store._records
        checked = _per_point(
            "check and hash the parameters",
            n,
            lambda: [schema.request(p, complete=True) for p in params],
        )
        ids = [c.key for c in checked]
        rows, convert = _per_point("IN queries", n, lambda: records.reader.many(ids))
        built = _per_point(
            "convert the values, build the records",
            n,
            lambda: [records.make(r, convert) for r in rows],
        )
        by_id = {r.id: r for r in built}
        _per_point("collision check", n, lambda: [check_hit(by_id[c.key], c) for c in checked])
    finally:
        gc.enable()


def main() -> None:
    """Prepare, then print the per-point cost of each stage."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    n: int = args.n
    workdir: Path = args.dir or Path(tempfile.mkdtemp(prefix="entropic-profile-"))
    ours, raw = Ours(), RawFloor()
    if not (workdir / "ours" / "store.sqlite3").exists():
        for folder in ("ours", "raw"):
            (workdir / folder).mkdir(parents=True, exist_ok=True)
        ours.prepare(workdir / "ours", n)
        raw.prepare(workdir / "raw", n)
    store = ours.store(workdir / "ours", TimedRunner(allow=False))
    params = list(points(0, n))
    store.sweep(params[:100])  # warm-up: statements prepared, mappers configured

    print(f"stages of a sweep over {n:,} cached points (garbage collector paused):")
    _stages(store, params)
    gc.collect()

    print("whole sweeps:")
    _per_point("Store.sweep", n, lambda: store.sweep(params))
    conn = RawFloor.connect(workdir / "raw")
    _per_point("raw floor (hashlib + sqlite3)", n, lambda: RawFloor.lookup_many(conn, params))
    conn.close()
    store.close()
    print(f"(stores kept in {workdir})")


if __name__ == "__main__":
    main()
