"""Fixtures of the chaos suite: a seeded random source, a private PostgreSQL, the tally.

The seed is ``ENTROPIC_CHAOS_SEED`` (an integer) when set, else a fixed one, so a failure can be
replayed: each test's seed is printed in its report when it fails.
"""

from __future__ import annotations

import os
import random
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import _chaos

SEED = int(os.environ.get("ENTROPIC_CHAOS_SEED", "20261201"))

#: Counts across the suite: kills that hit a live process and were survived, cases tried, lost.
TALLY: Counter[str] = Counter()


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    """A random source seeded from the suite's seed and the test's name."""
    seed = f"{SEED}:{request.node.nodeid}"
    request.node.user_properties.append(("chaos seed", SEED))
    return random.Random(seed)


@pytest.fixture
def tally() -> Counter[str]:
    """Where a test adds what it counted (``kills``, ``cases``, ``lost``, ...)."""
    return TALLY


@pytest.fixture(scope="module")
def private_pg() -> Iterator[_chaos.PrivatePostgres]:
    """A PostgreSQL server this module starts, stops and restarts as it likes."""
    with _chaos.private_postgres() as server:
        yield server


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TALLY:
        shown = ", ".join(f"{key} {value}" for key, value in sorted(TALLY.items()))
        terminalreporter.write_line(f"chaos (seed {SEED}): {shown}")
