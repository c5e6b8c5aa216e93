"""What every benchmark implementation shares: the workload, the key scheme, timing, the CLI.

This module uses the standard library only, so it can be imported both in the environment with
our packages and in the separate one with the published entropic 2.3.0 (whose import name is
ours too, so the two never share an environment).

Each implementation module (``bench_ours.py``, ``bench_legacy.py``) is also a script::

    python bench_ours.py IMPL ACTION --dir DIR [--n N] [--calls C] [--warmup W]
                         [--workload trivial|10ms] [--rounds R]

which performs one measurement in a fresh process and prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "ACTIONS",
    "HIT_POINTS",
    "PAYLOAD",
    "Implementation",
    "TimedRunner",
    "key",
    "main",
    "median_call_seconds",
    "point",
    "points",
]

#: What a measurement script can be asked to do.
ACTIONS = ("prepare", "hit", "sweep", "misses", "memory", "dask", "cleanup", "info")

_METHODS = ("rk4", "euler", "leapfrog")

#: How many cached points a hit measurement cycles through (the first ones).
HIT_POINTS = 1000

#: What the runner writes: a 64-byte result.
PAYLOAD = b"%063d\n" % 0


def point(i: int) -> dict[str, Any]:
    """The ``i``-th parameter set of every workload: four columns, distinct for each ``i``."""
    return {"n": i, "dt": 0.001 * (1 + i % 97), "method": _METHODS[i % 3], "seed": i % 11}


def points(start: int, stop: int) -> Iterator[dict[str, Any]]:
    """The parameter sets ``start`` to ``stop - 1``, generated one at a time."""
    return (point(i) for i in range(start, stop))


def _normal(value: Any) -> Any:
    if type(value) is float:
        return round(value, 12)
    return value


def key(params: Mapping[str, Any]) -> str:
    """The run id of a flat parameter set, by the scheme entropic keeps since 2.x.

    Floats rounded to 12 decimal places, keys sorted, compact JSON, SHA-256, first 16 hex digits.
    The raw floor hashes with this; the prepare steps check it against each library's own key.
    """
    body = {k: _normal(params[k]) for k in sorted(params)}
    text = json.dumps(body, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class TimedRunner:
    """A trivial runner that writes a 64-byte result file and adds up its own time.

    Args:
        allow: Whether a call is expected. A runner built with ``allow=False`` raises, so a
            measurement of cache hits cannot silently measure runs.
    """

    def __init__(self, allow: bool = True) -> None:
        self.allow = allow
        self.calls = 0
        self.seconds = 0.0

    def __call__(self, params: dict[str, Any]) -> None:
        """Write the result file named by ``params["result_file"]``."""
        start = time.perf_counter()
        if not self.allow:
            raise AssertionError(f"the runner was called for a cached point: {params!r}")
        Path(params["result_file"]).write_bytes(PAYLOAD)
        self.calls += 1
        self.seconds += time.perf_counter() - start

    def reset(self) -> None:
        """Forget the calls so far (after a warm-up)."""
        self.calls = 0
        self.seconds = 0.0


def median_call_seconds(
    call: Callable[[dict[str, Any]], object],
    params: list[dict[str, Any]],
    calls: int,
    warmup: int,
) -> float:
    """Time ``call`` on each of ``calls`` requests (cycling through ``params``); the median.

    The first ``warmup`` calls are made but not timed.
    """
    clock = time.perf_counter_ns
    size = len(params)
    for i in range(warmup):
        call(params[i % size])
    times = []
    for i in range(calls):
        p = params[i % size]
        start = clock()
        call(p)
        times.append(clock() - start)
    return statistics.median(times) / 1e9


class Implementation(Protocol):
    """One way of caching runs, measured on the shared workloads.

    Every method works in ``workdir``, which ``prepare`` filled with the cached points
    ``0 .. n - 1`` (``misses`` and ``memory`` make their own stores inside it).
    """

    def prepare(self, workdir: Path, n: int) -> dict[str, Any]:
        """Create a store holding the points ``0 .. n - 1`` as finished runs."""
        ...

    def hit(
        self, workdir: Path, calls: int, warmup: int, spread: int = HIT_POINTS
    ) -> dict[str, Any]:
        """Median seconds of one cache hit, cycling through the first ``spread`` points."""
        ...

    def sweep(self, workdir: Path, n: int) -> dict[str, Any]:
        """Seconds to sweep over the cached points ``0 .. n - 1``."""
        ...

    def misses(self, workdir: Path, n: int) -> dict[str, Any]:
        """Wall and runner seconds of a serial sweep over ``n`` new points."""
        ...


def main(factories: Mapping[str, Callable[[], Any]], info: Callable[[], dict[str, Any]]) -> None:
    """Parse the command line, run one measurement, print its JSON.

    Args:
        factories: Implementation name to a function building it.
        info: Returns this environment's versions (the ``info`` action).
    """
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("impl", choices=sorted(factories))
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--workload", default="trivial", help="the Dask runner: trivial or 10ms")
    parser.add_argument("--rounds", type=int, default=1, help="alternating Dask rounds")
    args = parser.parse_args()
    if args.action == "info":
        print(json.dumps(info()))
        return
    impl = factories[args.impl]()
    workdir: Path = args.dir
    workdir.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any]
    if args.action == "prepare":
        out = impl.prepare(workdir, args.n)
    elif args.action == "hit":
        out = impl.hit(workdir, args.calls, args.warmup)
    elif args.action == "sweep":
        out = impl.sweep(workdir, args.n)
    elif args.action == "misses":
        out = impl.misses(workdir, args.n)
    elif args.action == "dask":
        out = impl.dask(workdir, args.n, args.workload, args.rounds)
    elif args.action == "cleanup":
        out = impl.cleanup(workdir)
    else:
        out = impl.memory(workdir, args.n)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
