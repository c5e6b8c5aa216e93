"""What provenance and the code-change policies cost: a hit, a cached sweep, a sweep of misses.

Run with the interpreter of an environment that has entropic-core::

    python benchmarks/bench_provenance.py [--policy reuse|warn|rerun] [--n 10000]
        [--calls 20000] [--rounds 5]

One process measures one policy on a fresh SQLite store in a temporary folder:

- ``misses``: seconds of one sweep over ``--n`` new points (a runner that writes 64 bytes);
- ``hit``: median microseconds of ``run_or_retrieve`` on a stored point (cycling over 1,000);
- ``sweep``: median seconds of a sweep over the ``--n`` stored points (``--rounds`` rounds).

It prints one JSON object. ``--policy`` is left out of the Store's arguments for ``reuse``, so
the same script measures an entropic from before the policies existed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import PAYLOAD, point

from entropic import Base, Mapped, Store


class ProvRun(Base):
    """The benchmark's model: four parameter columns, as the other benchmarks have."""

    __tablename__ = "prov_runs"

    n: Mapped[int]
    dt: Mapped[float]
    method: Mapped[str]
    seed: Mapped[int]


def write_payload(params: dict[str, Any]) -> None:
    """The runner: a 64-byte result file."""
    with open(params["result_file"], "wb") as f:
        f.write(PAYLOAD)


def measure_provenance(config: Any, workdir: Path) -> list[Any]:
    """The rows ``bench_run.py`` adds: each policy's hit and cached sweep, alternating rounds.

    Each round runs every policy once, in its own process, in turn; the figures are the medians
    over the rounds, with the spread.
    """
    import subprocess

    from bench_measuring import Row

    quick = getattr(config, "small", 10_000) < 10_000
    n, calls, rounds = (2_000, 4_000, 2) if quick else (10_000, 20_000, 3)
    policies = ("reuse", "warn", "rerun")
    found: dict[str, list[dict[str, Any]]] = {p: [] for p in policies}
    for _ in range(rounds):
        for policy in policies:
            done = subprocess.run(
                [sys.executable, __file__, "--policy", policy, "--n", str(n),
                 "--calls", str(calls), "--rounds", "3"],
                capture_output=True, text=True, check=True, cwd=workdir, timeout=900,
            )  # fmt: skip
            found[policy].append(json.loads(done.stdout.strip().splitlines()[-1]))
    hit = Row("hit, on_code_change reuse (warn, rerun in notes), SQLite", "us")
    sweep = Row(f"cached sweep of {n:,}, on_code_change reuse (warn, rerun in notes), SQLite", "s")
    for row, key in ((hit, "hit_us"), (sweep, "sweep_seconds")):
        medians = {p: statistics.median(f[key] for f in found[p]) for p in policies}
        row.values["ours"] = medians["reuse"]
        row.runs["ours"] = [f[key] for f in found["reuse"]]
        shown = ", ".join(
            f"{p} {medians[p]:.4g} ({medians[p] / medians['reuse']:.2f}x)" for p in policies[1:]
        )
        row.notes.append(f"{shown}; reuse reads no provenance on a hit")
    return [hit, sweep]


def main() -> int:
    """Measure one policy and print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", choices=["reuse", "warn", "rerun"], default="reuse")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    extra: dict[str, Any] = {} if args.policy == "reuse" else {"on_code_change": args.policy}
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(
            write_payload,
            ProvRun,
            results_dir=Path(tmp) / "results",
            file_suffix=".txt",
            db_url=f"sqlite:///{tmp}/store.sqlite3",
            **extra,
        )
        params = [point(i) for i in range(args.n)]
        start = time.perf_counter()
        store.sweep(params)
        misses = time.perf_counter() - start
        hits = params[:1000]
        for p in hits[:200]:
            store.run_or_retrieve(p)
        samples = []
        per_sample = max(1, args.calls // 20)
        for r in range(20):
            begin = time.perf_counter()
            for i in range(per_sample):
                store.run_or_retrieve(hits[(r * per_sample + i) % len(hits)])
            samples.append((time.perf_counter() - begin) / per_sample)
        sweeps = []
        for _ in range(args.rounds):
            begin = time.perf_counter()
            store.sweep(params)
            sweeps.append(time.perf_counter() - begin)
        store.close()
    print(
        json.dumps(
            {
                "policy": args.policy,
                "n": args.n,
                "misses_seconds": round(misses, 3),
                "hit_us": round(statistics.median(samples) * 1e6, 2),
                "sweep_seconds": round(statistics.median(sweeps), 4),
                "sweep_spread": [round(min(sweeps), 4), round(max(sweeps), 4)],
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
