"""Models and runners for the CLI tests, importable as ``_cli_helpers:NAME``."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import Result
from sqlalchemy import create_engine, text

from entropic import Base, Mapped, Store, mapped_column


class Point(Base):
    """The model of most CLI tests."""

    __tablename__ = "cli_points"

    n: Mapped[int]
    x: Mapped[float]
    label: Mapped[str]
    flag: Mapped[bool] = mapped_column(default=False)


class Other(Base):
    """A second entropic table, for the several-tables case."""

    __tablename__ = "cli_others"

    k: Mapped[int]


class Grade(enum.IntEnum):
    """An enum parameter whose values are not its names."""

    LOW = 1
    HIGH = 3


class Graded(Base):
    """Parameters that reflection alone cannot type: an enum and a JSON list."""

    __tablename__ = "cli_graded"

    level: Mapped[Grade]
    tags: Mapped[list[Any] | None] = mapped_column(default=None)


def write_graded(params: dict[str, Any]) -> None:
    """The runner of :class:`Graded`."""
    Path(params["result_file"]).write_text(f"level={params['level']}\n")


def content(params: dict[str, Any]) -> str:
    """What :func:`write_point` writes for ``params``."""
    return f"n={params['n']} x={params['x']!r} label={params['label']}\n"


def write_point(params: dict[str, Any]) -> None:
    """A runner: one small text file."""
    Path(params["result_file"]).write_text(content(params))


def write_other(params: dict[str, Any]) -> None:
    """The runner of :class:`Other`."""
    Path(params["result_file"]).write_text(f"k={params['k']}\n")


def fail_on_three(params: dict[str, Any]) -> None:
    """A runner that fails for ``n == 3`` and writes every other point."""
    if params["n"] == 3:
        raise ValueError("three is not allowed")
    write_point(params)


def fail_first_on_two(params: dict[str, Any]) -> None:
    """A runner whose first attempt at each point with ``n == 2`` fails; later ones write.

    The attempts are counted in ``attempts-<id>.txt`` in the working directory (a test's own).
    """
    if params["n"] == 2:
        tally = Path(f"attempts-{params['id']}.txt")
        tried = int(tally.read_text()) if tally.exists() else 0
        tally.write_text(str(tried + 1))
        if not tried:
            raise RuntimeError("two fails the first time")
    write_point(params)


class _Unpicklable:
    """A runner that works in this process but cannot be sent to a Dask worker."""

    def __call__(self, params: dict[str, Any]) -> None:
        write_point(params)

    def __reduce__(self) -> Any:
        raise TypeError("this runner stays in its process")


#: :func:`write_point`, but not picklable: a Dask cluster cannot take its runs.
UNPICKLABLE = _Unpicklable()

NOT_CALLABLE = 42


#: The points of the standard store: n in 1..3, x in 0.5/1.5, two labels.
POINTS = [
    {"n": n, "x": x, "label": "even" if n % 2 == 0 else "odd", "flag": n == 2}
    for n in (1, 2, 3)
    for x in (0.5, 1.5)
]


@dataclass
class StoreFiles:
    """A store made with :class:`entropic.Store`, as the CLI sees it."""

    db_url: str
    results_dir: Path
    ids: list[str] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        """Environment variables pointing the CLI at this store."""
        return {"ENTROPIC_DB_URL": self.db_url, "ENTROPIC_RESULTS_DIR": str(self.results_dir)}

    def open(self) -> Store[Point]:
        """The store, opened with the model's code."""
        return Store(write_point, Point, self.results_dir, ".txt", self.db_url)


Invoke = Callable[..., Result]


def delete_rows(store: StoreFiles, *ids: str) -> None:
    """Delete rows of ``cli_points`` behind the Store's back (as a lost row would be)."""
    engine = create_engine(store.db_url)
    with engine.begin() as conn:
        for run_id in ids:
            conn.execute(text("DELETE FROM cli_points WHERE id = :i"), {"i": run_id})
    engine.dispose()
