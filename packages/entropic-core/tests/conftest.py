"""Fixtures for entropic-core's tests: a fresh SQLite store per test and a counting runner."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _core_models import CountingRunner, SimResult, StoreFactory

from entropic import Base, Store


@pytest.fixture
def runner() -> CountingRunner:
    """A runner that writes its parameters as JSON and counts its calls."""
    return CountingRunner()


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    """The results directory of the test's stores (not created: the Store does that)."""
    return tmp_path / "results"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A SQLite database file of the test's own."""
    return f"sqlite:///{tmp_path / 'store.sqlite3'}"


@pytest.fixture
def make_store(results_dir: Path, db_url: str) -> Iterator[StoreFactory]:
    """Build stores on the test's database and results directory; all are closed afterwards.

    Call it as ``make_store(runner, model, **overrides)``; overrides take ``results_dir``,
    ``file_suffix`` and ``db_url``.
    """
    made: list[Store[Any]] = []

    def build(runner: Callable[[dict[str, Any]], None], model: type[Base], **kw: Any) -> Store[Any]:
        kw.setdefault("results_dir", results_dir)
        kw.setdefault("file_suffix", ".json")
        kw.setdefault("db_url", db_url)
        store: Store[Any] = Store(runner, model, **kw)
        made.append(store)
        return store

    yield build
    for store in made:
        store.close()


@pytest.fixture
def store(make_store: StoreFactory, runner: CountingRunner) -> Store[SimResult]:
    """A fresh SQLite store of :class:`SimResult` with the counting runner, JSON results."""
    return make_store(runner, SimResult)
