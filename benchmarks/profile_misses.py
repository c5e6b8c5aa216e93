"""Where a serial sweep of misses spends its time, stage by stage, process after process.

Run in an environment with entropic-core installed (``nox -s bench`` makes one)::

    python benchmarks/profile_misses.py [--n 1000] [--processes 6] [--postgres]
        [--inline-commit] [--switch-interval SECONDS]

Each process sweeps ``n`` new points in a fresh store (the 64-byte runner of the bench) and
reports the store's own cost per run, the time each stage took (claims, lookups, performing a
run and its parts, the commits on the batch writer's thread, the final commit), and how the
gaps between two finished runs are spread: a sweep that is fast in one process and slow in the
next shows here which stage moved. ``--inline-commit`` commits each batch in the sweep's own
thread instead of the background writer's, ``--switch-interval`` changes how long a thread may
hold the GIL while another waits (``sys.setswitchinterval``): both are experiments, to see
whether the time goes to two threads taking turns. The stages are timed by wrapping the Store's
collaborators, which this script reaches into on purpose.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

STAGES = {
    "claims taken": ("entropic._claims", "ClaimBook", "claim_many"),
    "claims released": ("entropic._claims", "ClaimBook", "release"),
    "lookups (IN)": ("entropic._records", "Records", "fetch"),
    "perform: whole run": ("entropic.executors", None, "perform"),
    "perform: scratch folder": ("entropic.running", None, "thread_folder"),
    "perform: manifest": ("entropic.running", None, "write_manifest"),
    "rows committed (upsert + release)": ("entropic._writing", "Writer", "persist"),
    "record built from a row": ("entropic._records", "Records", "from_row"),
    "final commit (close)": ("entropic._batching", "BatchWriter", "close"),
}


def _wrap(
    seconds: dict[str, float], calls: dict[str, int], label: str, where: Any, name: str
) -> None:
    original = getattr(where, name)
    main = threading.main_thread()

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            suffix = "" if threading.current_thread() is main else " [writer thread]"
            seconds[label + suffix] += time.perf_counter() - start
            calls[label + suffix] += 1

    setattr(where, name, timed)


class _InlineWriter:
    """A BatchWriter without its thread: commits in ``add`` once ``size`` rows wait."""

    def __init__(self, commit: Any, *, interval: float, size: int, **_: Any) -> None:
        self._commit, self._size = commit, size
        self._rows: list[Any] = []
        self._released: list[str] = []

    def add(self, row: Any = None, release: str | None = None) -> None:
        if row is not None:
            self._rows.append(row)
        if release is not None:
            self._released.append(release)
        if len(self._rows) >= self._size:
            self.close()

    def touch(self) -> None:
        """Nothing to wake: the next add or close commits."""

    def close(self, patience: float = 0.0) -> None:
        rows, released, self._rows, self._released = self._rows, self._released, [], []
        if rows or released:
            self._commit(rows, released)


def child(args: argparse.Namespace) -> dict[str, Any]:
    """One process: one sweep of misses in a fresh store, timed stage by stage."""
    import importlib

    from bench_common import TimedRunner, points
    from bench_ours import Ours, OursPostgres

    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    if args.inline_commit:
        importlib.import_module("entropic._sweeping").BatchWriter = _InlineWriter
    seconds: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    for label, (module, cls, name) in STAGES.items():
        where = importlib.import_module(module)
        _wrap(seconds, calls, label, getattr(where, cls) if cls else where, name)
    gaps: list[float] = []
    last = [0.0]
    runner = TimedRunner()

    def run(params: dict[str, Any]) -> None:
        now = time.perf_counter()
        if last[0]:
            gaps.append(now - last[0])
        last[0] = now
        runner(params)

    bench = OursPostgres() if args.postgres else Ours()
    folder = Path(args.dir)
    store = bench.store(folder, run)  # type: ignore[arg-type]
    try:
        store.sweep(list(points(10**9, 10**9 + 20)))  # warm-up, on other points
        runner.reset()
        seconds.clear()
        calls.clear()
        gaps.clear()
        last[0] = 0.0
        start = time.perf_counter()
        store.sweep(list(points(0, args.n)))
        wall = time.perf_counter() - start
    finally:
        store.close()
        bench.done(folder)
    gaps.sort()
    return {
        "own_ms": (wall - runner.seconds) / args.n * 1e3,
        "wall_ms": wall / args.n * 1e3,
        "runner_ms": runner.seconds / args.n * 1e3,
        "stages_ms_per_run": {k: v / args.n * 1e3 for k, v in seconds.items()},
        "calls": dict(calls),
        "gap_ms": {
            "median": statistics.median(gaps) * 1e3,
            "p90": gaps[int(len(gaps) * 0.9)] * 1e3,
            "max": gaps[-1] * 1e3,
            "over 1 ms": sum(g > 1e-3 for g in gaps),
        },
    }


def main() -> None:
    """Start the processes one after the other and print what each one measured."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=6)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--inline-commit", action="store_true")
    parser.add_argument("--switch-interval", type=float, default=0.0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    forwarded = [a for a in sys.argv[1:] if a != "--child"]
    with tempfile.TemporaryDirectory(prefix="entropic-misses-") as scratch:
        for i in range(args.processes):
            folder = Path(scratch) / f"p{i}"
            command = [sys.executable, __file__, *forwarded, "--child", "--dir", str(folder)]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            out = json.loads(done.stdout.strip().splitlines()[-1])
            print(
                f"process {i + 1}: own cost {out['own_ms']:.3f} ms per run (wall "
                f"{out['wall_ms']:.3f}, runner {out['runner_ms']:.3f}); gaps between runs: "
                + ", ".join(f"{k} {v:.3f}" for k, v in out["gap_ms"].items() if k != "over 1 ms")
                + f" ms, {out['gap_ms']['over 1 ms']} over 1 ms"
            )
            for label, ms in sorted(out["stages_ms_per_run"].items(), key=lambda kv: -kv[1]):
                print(f"    {label:<50} {ms:7.4f} ms per run  ({out['calls'][label]} calls)")


if __name__ == "__main__":
    main()
