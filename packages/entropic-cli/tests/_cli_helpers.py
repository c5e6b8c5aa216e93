"""Models and runners for the CLI tests, importable as ``_cli_helpers:NAME``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from entropic import Base, Mapped, mapped_column


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


NOT_CALLABLE = 42
