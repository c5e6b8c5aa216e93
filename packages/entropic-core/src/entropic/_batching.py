"""Committing a sweep's finished runs in batches, from a background thread.

Runs finish in the sweep's thread (or arrive there from workers); a writer thread commits them at
least every ``interval`` seconds, or sooner once ``size`` have piled up. Committing off the
sweep's thread means finished runs reach the database even while the next runner call is still
going, so a sweep that is killed loses only the runs in flight and the last moments' work.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from entropic._db import is_outage, outage_began, outage_ended
from entropic.errors import CommitError, DatabaseUnavailableError

__all__ = ["BatchWriter"]

logger = logging.getLogger(__name__)

Commit = Callable[[list[dict[str, Any]], list[str]], None]


#: First pause before committing again while the database is unreachable...
FIRST_BACKOFF: Final = 0.1
#: ...doubling up to this.
MOST_BACKOFF: Final = 30.0
#: How long the final commit keeps trying through an outage before giving up.
FINAL_PATIENCE: Final = 60.0


class BatchWriter:
    """Collects finished rows and released ids and commits them in batches.

    A batch the database refuses because of one of its rows is committed again a row at a time,
    so every good row is stored; each row refused on its own goes to ``reject``. While the
    database cannot be reached, commits are retried with an exponential backoff, with one
    warning when the outage starts and one when it ends.

    Args:
        commit: Called with the rows to store and the ids whose claims to drop, in one
            transaction. Called from one thread at a time.
        interval: Longest time a finished run waits before it is committed.
        size: Commit as soon as this many rows are waiting.
        reject: Called with a row the database refuses, and the error; its claim is released.
    """

    def __init__(
        self,
        commit: Commit,
        *,
        interval: float,
        size: int,
        reject: Callable[[dict[str, Any], Exception], None] | None = None,
    ) -> None:
        self._commit = commit
        self._reject = reject
        self._interval = interval
        self._size = size
        self._cond = threading.Condition()
        self._rows: list[dict[str, Any]] = []
        self._released: list[str] = []
        self._closing = False
        self._touched = False
        self._backoff = 0.0
        self._outage_since: float | None = None
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

    def touch(self) -> None:
        """Commit at the next interval even when nothing finished (to record progress)."""
        with self._cond:
            self._touched = True

    def _take(self) -> tuple[list[dict[str, Any]], list[str]]:
        rows, released = self._rows, self._released
        self._rows, self._released = [], []
        return rows, released

    def _put_back(self, rows: list[dict[str, Any]], released: list[str]) -> None:
        with self._cond:
            self._rows[:0] = rows
            self._released[:0] = released

    def _store(self, rows: list[dict[str, Any]], released: list[str]) -> bool:
        """Commit, isolating bad rows; return False (rows put back) during an outage."""
        try:
            self._commit(rows, released)
        except Exception as exc:
            if is_outage(exc) or isinstance(exc, DatabaseUnavailableError):
                self._put_back(rows, released)
                outage_began(exc)
                self._outage_since = self._outage_since or time.monotonic()
                self._backoff = min(max(self._backoff * 2, FIRST_BACKOFF), MOST_BACKOFF)
                return False
            if not rows:
                raise  # only claims to release: there is no row to set apart
            if len(rows) == 1 and not released:
                if self._reject is not None:
                    self._reject(rows[0], exc)
                    return self._store([], [rows[0]["id"]])
                raise
            logger.info(
                "a batch of %d rows was refused (%s); storing them one by one", len(rows), exc
            )
            pending_release = list(released)
            for row in rows:
                if not self._store([row], []):
                    self._put_back([], pending_release)
                    return False
            return self._store([], pending_release) if pending_release else True
        if self._outage_since is not None:
            outage_ended()
            self._outage_since = None
        self._backoff = 0.0
        return True

    def _loop(self) -> None:
        while True:
            with self._cond:
                wait = self._backoff or self._interval
                if self._backoff:
                    self._cond.wait_for(lambda: self._closing, wait)
                else:
                    self._cond.wait_for(
                        lambda: self._closing or len(self._rows) >= self._size, wait
                    )
                if self._closing:
                    return
                rows, released = self._take()
                touched, self._touched = self._touched, False
            if not rows and not released and not touched:
                continue
            try:
                self._store(rows, released)
            except Exception:  # keep the rows for the final commit in close()
                logger.warning("committing %d finished runs failed; will retry", len(rows))
                self._put_back(rows, released)

    def close(self, patience: float = FINAL_PATIENCE) -> None:
        """Stop the thread and commit whatever is left, in the calling thread.

        Through an outage the final commit keeps trying for ``patience`` seconds (less when
        the sweep is already giving up because the database is gone).

        Raises:
            CommitError: The final commit failed; the runs it held are on disk, and the next
                sweep (or ``ingest()``) indexes them.
        """
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join()
        give_up = time.monotonic() + patience
        while True:
            rows, released = self._take()
            if not rows and not released:
                return
            try:
                if self._store(rows, released):
                    continue
            except Exception as exc:
                raise CommitError(
                    f"the last commit failed ({type(exc).__name__}: {exc}): {len(rows)} "
                    "finished runs are on disk with their manifests but not in the database; "
                    "the next sweep, or store.ingest(), indexes them",
                    len(rows),
                ) from exc
            if time.monotonic() + self._backoff > give_up:
                unstored = len(self._rows)
                raise CommitError(
                    f"the database could not be reached for a while: {unstored} "
                    "finished runs are on disk with their manifests but not in the database; "
                    "the next sweep, or store.ingest(), indexes them",
                    unstored,
                )
            time.sleep(self._backoff)
