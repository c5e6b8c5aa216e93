"""A parameter sweep of the Lotka-Volterra predator-prey model, cached by entropic.

    python lotka_volterra.py                  # run the sweep (only what is not stored yet)
    python lotka_volterra.py --expect-cached  # run it again; fail unless every point is cached
    python lotka_volterra.py --summary        # print what the store holds

Each point of the grid integrates

    d(prey)/dt     = alpha * prey - beta * prey * predator
    d(predator)/dt = delta * prey * predator - gamma * predator

with a fixed-step fourth-order Runge-Kutta scheme written in NumPy, and writes the time series to
an HDF5 file. entropic keys every parameter set by a hash, calls the runner only for keys it has
not stored, and records one row per run in a SQLite file in the current directory
(``lotka_volterra.sqlite3``); the HDF5 files go to ``lv-results/``.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import h5py
import numpy as np

from entropic import Base, Mapped, Store, expand_grid

DB_URL = "sqlite:///lotka_volterra.sqlite3"
RESULTS_DIR = "lv-results"


class PredatorPrey(Base):
    """One run of the model: its parameters are the columns, and together they are the key."""

    __tablename__ = "predator_prey"

    alpha: Mapped[float]  # prey birth rate
    beta: Mapped[float]  # rate at which predators eat prey
    gamma: Mapped[float]  # predator death rate
    delta: Mapped[float]  # predator growth per prey eaten
    prey0: Mapped[float]  # initial populations
    predator0: Mapped[float]
    t_end: Mapped[float]  # length of the simulation
    steps: Mapped[int]  # number of Runge-Kutta steps


def integrate(params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Integrate the model with classical RK4; return the times and the (steps + 1, 2) states."""
    alpha, beta = params["alpha"], params["beta"]
    gamma, delta = params["gamma"], params["delta"]
    steps = params["steps"]
    dt = params["t_end"] / steps

    def rate(state: np.ndarray) -> np.ndarray:
        prey, predator = state
        return np.array(
            [alpha * prey - beta * prey * predator, delta * prey * predator - gamma * predator]
        )

    states = np.empty((steps + 1, 2))
    states[0] = params["prey0"], params["predator0"]
    for i in range(steps):
        y = states[i]
        k1 = rate(y)
        k2 = rate(y + 0.5 * dt * k1)
        k3 = rate(y + 0.5 * dt * k2)
        k4 = rate(y + dt * k3)
        states[i + 1] = y + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return np.linspace(0.0, params["t_end"], steps + 1), states


def simulate(params: dict[str, Any]) -> None:
    """The runner: integrate one parameter set and write it to ``params["result_file"]``.

    entropic hands the runner a copy of the parameters plus ``id`` and ``result_file``: a
    temporary path that is moved into place once the runner returns, so a crash never leaves a
    half-written file behind.
    """
    t, states = integrate(params)
    with h5py.File(params["result_file"], "w") as f:
        f.create_dataset("t", data=t, compression="gzip")
        f.create_dataset("prey", data=states[:, 0], compression="gzip")
        f.create_dataset("predator", data=states[:, 1], compression="gzip")
        for name in ("alpha", "beta", "gamma", "delta", "prey0", "predator0", "t_end", "steps"):
            f.attrs[name] = params[name]
        f.attrs["peak_prey"] = float(states[:, 0].max())
        f.attrs["peak_predator"] = float(states[:, 1].max())


#: The sweeps this script knows: ``small`` is the demo's 24 points, ``tiny`` suits tests.
GRIDS: dict[str, dict[str, list[Any]]] = {
    "small": {
        "alpha": [0.8, 1.0, 1.2],
        "beta": [0.3, 0.4],
        "gamma": [1.0, 1.5],
        "delta": [0.1, 0.2],
        "prey0": [10.0],
        "predator0": [5.0],
        "t_end": [30.0],
        "steps": [3000],
    },
    "tiny": {
        "alpha": [1.0],
        "beta": [0.3, 0.4],
        "gamma": [1.5],
        "delta": [0.1],
        "prey0": [10.0],
        "predator0": [5.0],
        "t_end": [10.0],
        "steps": [500],
    },
}


class CountingRunner:
    """Wraps the runner to count how often the Store really calls it."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, params: dict[str, Any]) -> None:
        self.calls += 1
        simulate(params)


def sweep(grid_size: str, *, expect_cached: bool) -> int:
    """Run (or retrieve) every point of the grid; return the exit status."""
    runner = CountingRunner()
    params = expand_grid(GRIDS[grid_size])
    start = time.perf_counter()
    with Store(runner, PredatorPrey, results_dir=RESULTS_DIR, db_url=DB_URL) as store:
        records = store.sweep(params, progress=not expect_cached)
    elapsed = time.perf_counter() - start
    cached = len(records) - runner.calls
    print(
        f"{len(records)} parameter sets: {runner.calls} ran, {cached} came from the cache "
        f"({elapsed:.2f} s)"
    )
    if expect_cached:
        if runner.calls:
            print(
                f"error: expected every point to be cached, but the runner was called "
                f"{runner.calls} time(s)",
                file=sys.stderr,
            )
            return 1
        print("every point was a cache hit: the runner was not called")
    return 0


def summary() -> int:
    """Print what the store holds: one line per row, then the files on disk."""
    with Store(simulate, PredatorPrey, results_dir=RESULTS_DIR, db_url=DB_URL) as store:
        records = sorted(store, key=lambda r: (r.alpha, r.beta, r.gamma, r.delta))
        results_dir = store.results_dir
    print(f"{len(records)} rows in table {PredatorPrey.__tablename__!r} ({DB_URL})")
    print(f"{'id':16}  {'alpha':>5} {'beta':>5} {'gamma':>5} {'delta':>5}  {'peak prey':>9}  run")
    for record in records:
        with h5py.File(record.result_file, "r") as f:
            peak = float(f.attrs["peak_prey"])
        seconds = record.custom_data["elapsed_seconds"]
        print(
            f"{record.id:16}  {record.alpha:5.2f} {record.beta:5.2f} {record.gamma:5.2f} "
            f"{record.delta:5.2f}  {peak:9.2f}  {seconds:.2f} s"
        )
    results = sorted(results_dir.glob("*.h5"))
    manifests = sorted(results_dir.glob(".*.entropic.json"))
    size = sum(p.stat().st_size for p in results)
    print(
        f"on disk: {len(results)} HDF5 files ({size / 1024:.0f} KiB) and {len(manifests)} "
        f"manifests in {results_dir}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and do what it asks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--expect-cached",
        action="store_true",
        help="run the sweep again and fail unless every point comes from the cache",
    )
    action.add_argument("--summary", action="store_true", help="print what the store holds")
    parser.add_argument(
        "--grid-size", choices=sorted(GRIDS), default="small", help="which grid to sweep"
    )
    args = parser.parse_args(argv)
    if args.summary:
        return summary()
    return sweep(args.grid_size, expect_cached=args.expect_cached)


if __name__ == "__main__":
    sys.exit(main())
