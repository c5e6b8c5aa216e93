"""Fixtures for the integration tests: database URLs on real servers, throw-away tables."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import _manywriters as mw


def _server_or_skip(kind: str) -> str:
    url = mw.SERVER_URLS[kind]
    problem = mw.reachable(url)
    if problem is not None:
        message = f"{kind} server not reachable at {url}: {problem}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set, so this fails instead of skipping)")
        pytest.skip(message)
    return url


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL for each dialect the Store is tested on."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    return _server_or_skip(request.param)


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The databases several processes share in the many-writers tests."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    return _server_or_skip(request.param)


@pytest.fixture
def table_name(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh table name; the table and entropic's notes about it are removed afterwards."""
    name = mw.new_table_name()
    yield name
    for fixture in ("db_url", "shared_db_url"):
        if fixture in request.fixturenames:
            url = request.getfixturevalue(fixture)
            if not url.startswith("sqlite"):
                mw.drop_table(url, name)
