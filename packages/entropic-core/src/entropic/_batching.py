"""Committing a sweep's finished runs in batches, from a background thread.

Runs finish in the sweep's thread (or arrive there from workers); a writer thread commits them at
least every ``interval`` seconds, or sooner once ``size`` have piled up. Committing off the
sweep's thread means finished runs reach the database even while the next runner call is still
going, so a sweep that is killed loses only the runs in flight and the last moments' work.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["BatchWriter"]

logger = logging.getLogger(__name__)

Commit = Callable[[list[dict[str, Any]], list[str]], None]


class BatchWriter:
    """Collects finished rows and released ids and commits them in batches.

    Args:
        commit: Called with the rows to store and the ids whose claims to drop, in one
            transaction. Called from one thread at a time.
        interval: Longest time a finished run waits before it is committed.
        size: Commit as soon as this many rows are waiting.
    """

    def __init__(self, commit: Commit, *, interval: float, size: int) -> None:
        self._commit = commit
        self._interval = interval
        self._size = size
        self._cond = threading.Condition()
        self._rows: list[dict[str, Any]] = []
        self._released: list[str] = []
        self._closing = False
        self._thread = threading.Thread(
            target=self._loop, name="entropic-batch-writer", daemon=True
        )
        self._thread.start()

    def add(self, row: dict[str, Any] | None = None, release: str | None = None) -> None:
        """Queue a finished row, or an id whose claim to drop (a failed run)."""
        with self._cond:
            if row is not None:
                self._rows.append(row)
            if release is not None:
                self._released.append(release)
            if len(self._rows) >= self._size:
                self._cond.notify()

    def _take(self) -> tuple[list[dict[str, Any]], list[str]]:
        rows, released = self._rows, self._released
        self._rows, self._released = [], []
        return rows, released

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(
                    lambda: self._closing or len(self._rows) >= self._size, self._interval
                )
                if self._closing:
                    return
                rows, released = self._take()
            if not rows and not released:
                continue
            try:
                self._commit(rows, released)
            except Exception:  # keep the rows for the final commit in close()
                logger.warning("committing %d finished runs failed; will retry", len(rows))
                with self._cond:
                    self._rows[:0] = rows
                    self._released[:0] = released

    def close(self) -> None:
        """Stop the thread and commit whatever is left, in the calling thread.

        Raises:
            Exception: The final commit failed (the rows are not stored).
        """
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join()
        rows, released = self._take()
        if rows or released:
            self._commit(rows, released)
