"""What one benchmark run measures: the command line, the sizes, the contenders' names.

:func:`parse` turns ``bench_run.py``'s arguments into the options and a :class:`Config`; the rest
of the bench reads the sizes from the config only.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "HERE",
    "LEGACY_ENV",
    "LEGACY_SCRIPT",
    "NAMES",
    "OURS_ENV",
    "OURS_SCRIPT",
    "ROOT",
    "Config",
    "parse",
]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OURS_SCRIPT = HERE / "bench_ours.py"
LEGACY_SCRIPT = HERE / "bench_legacy.py"

#: Display names of the table's columns, in table order. On PostgreSQL rows, "ours" is our
#: Store on the server (``ours-pg``) and "raw" the psycopg floor (``raw-pg``).
NAMES = {
    "ours": "entropic (ours)",
    "raw": "raw floor",
    "entropic230": "entropic 2.3.0",
    "signac": "signac",
    "joblib": "joblib.Memory",
}
#: Implementations measured in the environment with our packages, and in the legacy one.
OURS_ENV = ("ours", "raw", "ours-pg", "raw-pg")
LEGACY_ENV = ("entropic230", "signac", "joblib")


@dataclass
class Config:
    """Sizes of one benchmark run."""

    repeats: int = 5
    hit_calls: int = 2000
    hit_warmup: int = 200
    small: int = 10_000
    large: int = 100_000
    misses: int = 1000
    memory_n: int = 1_000_000
    export_rows: int = 1_000_000
    load_processes: int = 4
    load_per_process: int = 2000
    dask_sizes: tuple[int, ...] = (2000,)
    dask_rounds: int = 3
    postgres: bool = True

    @classmethod
    def quick(cls) -> Config:
        """A smoke run: tiny sizes, two rounds."""
        return cls(
            repeats=2,
            hit_calls=200,
            hit_warmup=20,
            small=1000,
            large=5000,
            misses=100,
            memory_n=20_000,
            export_rows=20_000,
            load_processes=2,
            load_per_process=200,
            dask_sizes=(100,),
            dask_rounds=2,
        )


def _parser(description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--legacy-python", help="interpreter of the entropic 2.3.0 environment")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a smoke run")
    parser.add_argument("--repeats", type=int, help="alternating rounds per timing (5)")
    parser.add_argument("--memory-n", type=int, help="size of the generator sweep (1,000,000)")
    parser.add_argument("--misses", type=int, help="runs per serial sweep of misses (1,000)")
    parser.add_argument(
        "--export-rows", type=int, help="rows of the store 'entropic export' writes (1,000,000)"
    )
    parser.add_argument(
        "--no-postgres",
        action="store_true",
        help="skip the PostgreSQL rows (ENTROPIC_BENCH_POSTGRES_URL names the server)",
    )
    parser.add_argument(
        "--dask-sizes",
        help="comma-separated run counts of the Dask sweeps (2000; the full set: 2000,20000)",
    )
    parser.add_argument("--dask-rounds", type=int, help="alternating rounds per Dask timing (3)")
    parser.add_argument("--dask-only", action="store_true", help="run the Dask benchmark only")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    return parser


def parse(
    argv: Sequence[str] | None, description: str | None = None
) -> tuple[argparse.Namespace, Config]:
    """The options of ``bench_run.py`` and the sizes they select."""
    args = _parser(description).parse_args(argv)
    config = Config.quick() if args.quick else Config()
    if args.repeats:
        config.repeats = args.repeats
    if args.memory_n:
        config.memory_n = args.memory_n
    if args.misses:
        config.misses = args.misses
    if args.export_rows is not None:
        config.export_rows = args.export_rows
    if args.no_postgres:
        config.postgres = False
    if args.dask_sizes:
        config.dask_sizes = tuple(int(n) for n in args.dask_sizes.split(",") if n)
    if args.dask_rounds:
        config.dask_rounds = args.dask_rounds
    return args, config
