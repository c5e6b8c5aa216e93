"""Fixtures for the CLI tests: a CliRunner around ``entropic`` and real stores on SQLite."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from entropic_cli.main import cli

sys.path.insert(0, str(Path(__file__).parent))

from _cli_helpers import POINTS, StoreFiles


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    """A CliRunner whose environment holds no ENTROPIC_* settings; the cwd is ``tmp_path``."""
    for name in ("ENTROPIC_DB_URL", "ENTROPIC_RESULTS_DIR", "ENTROPIC_TABLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return CliRunner()


@pytest.fixture
def store(tmp_path: Path) -> StoreFiles:
    """A SQLite store holding :data:`POINTS`, each with a small text file."""
    files = StoreFiles(f"sqlite:///{tmp_path / 'store.sqlite3'}", tmp_path / "results")
    with files.open() as s:
        files.ids = [r.id for r in s.sweep(POINTS)]
    return files


@pytest.fixture
def invoke(runner: CliRunner, store: StoreFiles) -> Callable[..., Result]:
    """Run ``entropic ARGS`` on :func:`store`; check the exit code (0 unless ``code=``).

    Exceptions propagate (``catch_exceptions=False``): the command must turn every failure into
    an exit code itself.
    """

    def run(*args: str, code: int = 0, input: str | None = None, **env: Any) -> Result:
        result = runner.invoke(
            cli, list(args), env={**store.env, **env}, input=input, catch_exceptions=False
        )
        assert result.exit_code == code, (result.exit_code, result.output)
        return result

    return run
