"""entropic with a runner that writes CSV, using nothing but the standard library.

    python csv_example.py          # sweep a random walk over a few step counts and seeds
    python csv_example.py --tiny   # a two-point sweep

Any file format works: the Store only needs the runner to write one file at
``params["result_file"]``; ``file_suffix`` names it. The records go to ``csv_example.sqlite3``
and the files to ``csv-results/`` in the current directory.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from typing import Any

from entropic import Base, Mapped, Store, expand_grid


class RandomWalk(Base):
    """A one-dimensional random walk: how many steps, how big, and which random seed."""

    __tablename__ = "random_walk"

    steps: Mapped[int]
    step_size: Mapped[float]
    seed: Mapped[int]


def walk(params: dict[str, Any]) -> None:
    """The runner: write the walk as CSV rows of (step, position)."""
    rng = random.Random(params["seed"])
    position = 0.0
    with open(params["result_file"], "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "position"])
        writer.writerow([0, position])
        for step in range(1, params["steps"] + 1):
            position += rng.choice((-1.0, 1.0)) * params["step_size"]
            writer.writerow([step, position])


def final_position(path: str) -> float:
    """Read a result back: the last position of the walk."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return float(rows[-1]["position"])


def main(argv: list[str] | None = None) -> int:
    """Run the sweep and print one line per parameter set."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="sweep two points only")
    args = parser.parse_args(argv)
    grid: dict[str, list[Any]] = {
        "steps": [100] if args.tiny else [100, 1000],
        "step_size": [0.5] if args.tiny else [0.5, 1.0],
        "seed": [1, 2] if args.tiny else [1, 2, 3],
    }
    store = Store(
        walk,
        RandomWalk,
        results_dir="csv-results",
        file_suffix=".csv",
        db_url="sqlite:///csv_example.sqlite3",
    )
    with store:
        records = store.sweep(expand_grid(grid))
        for record in records:
            print(
                f"{record.id}  steps={record.steps:<5} step_size={record.step_size:<4} "
                f"seed={record.seed}  final position {final_position(record.result_file):+.1f}"
            )
        print(f"{len(records)} parameter sets, {len(store)} rows stored")
    return 0


if __name__ == "__main__":
    sys.exit(main())
