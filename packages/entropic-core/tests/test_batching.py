"""The batch writer when the database refuses a whole transaction, not one of its rows."""

from __future__ import annotations

from typing import Any

import pytest

from entropic._batching import BatchWriter
from entropic.errors import CommitError


def test_a_refused_release_ends_in_commit_error_not_recursion() -> None:
    """Every commit fails (a missing internal table, say): close raises CommitError at once."""
    attempts: list[tuple[int, int]] = []
    rejected: list[str] = []

    def commit(rows: list[dict[str, Any]], released: list[str]) -> None:
        attempts.append((len(rows), len(released)))
        raise ValueError("the database refuses this transaction")

    writer = BatchWriter(
        commit, interval=60, size=100, reject=lambda row, _exc: rejected.append(row["id"])
    )
    writer.add(row={"id": "a"})
    writer.add(row={"id": "b"})
    with pytest.raises(CommitError) as caught:
        writer.close()
    assert not isinstance(caught.value.__cause__, RecursionError)
    assert len(attempts) < 10
