"""A sweep's failed runs: tried again (``sweep(..., retries=N)``), skipped, or given up on.

A run whose runner raised waits for a backoff (``backoff`` seconds, doubling with each attempt up
to :data:`MOST_BACKOFF`) and is tried again, up to ``retries`` times, before it counts as failed.
The sweep keeps its claim meanwhile, so no other process starts it. With ``skip_failed``, runs
whose current failure already has ``retries + 1`` attempts are not started at all.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections.abc import Mapping
from typing import Any, Final

from entropic._journal import SweepLog
from entropic._params import Request
from entropic.errors import FailedBeforeError, FailedRun, SweepError
from entropic.running import RunOutcome, RunTask

__all__ = ["RetryQueue", "SweepFailures"]

logger = logging.getLogger(__name__)

#: The longest pause before an attempt.
MOST_BACKOFF: Final = 60.0


class RetryQueue:
    """The runs of one sweep waiting to be tried again.

    Args:
        retries: How many times a failed run is tried again (0: never).
        backoff: The pause before the first retry, in seconds; each later one doubles it.
    """

    def __init__(self, retries: int, backoff: float) -> None:
        self.retries = retries
        self.backoff = backoff
        self._tries: dict[str, int] = {}
        self._heap: list[tuple[float, int, RunTask, Exception]] = []
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def wants(self, run_id: str) -> bool:
        """Whether a failure of ``run_id`` is to be tried again."""
        return self._tries.get(run_id, 0) < self.retries

    def push(self, task: RunTask, error: Exception) -> float:
        """Queue ``task`` after it failed with ``error``; return the pause before it runs."""
        tries = self._tries.get(task.id, 0) + 1
        self._tries[task.id] = tries
        pause = min(self.backoff * 2.0 ** (tries - 1), MOST_BACKOFF)
        heapq.heappush(self._heap, (time.monotonic() + pause, next(self._order), task, error))
        return pause

    def take_due(self) -> RunTask | None:
        """Take the next run whose pause has passed, if there is one."""
        if self._heap and self._heap[0][0] <= time.monotonic():
            return heapq.heappop(self._heap)[2]
        return None

    def wait(self) -> float:
        """Seconds until the next run is due (0 when one is, or none waits)."""
        if not self._heap:
            return 0.0
        return max(0.0, self._heap[0][0] - time.monotonic())

    def drain(self) -> list[tuple[RunTask, Exception]]:
        """Take every waiting run, with the error of its last attempt (they will not run)."""
        left = [(task, error) for _due, _n, task, error in sorted(self._heap)]
        self._heap.clear()
        return left


class SweepFailures:
    """The failed runs of one sweep: tried again after a backoff, skipped, or given up on.

    Args:
        retries: How many times a run whose runner raised is tried again.
        backoff: Seconds before the first retry of a run; doubled for each later one.
        skip_failed: Do not start runs whose current failure has ``retries + 1`` attempts.
    """

    def __init__(self, retries: int, backoff: float, skip_failed: bool) -> None:
        self.queue = RetryQueue(retries, backoff)
        self.skip_failed = skip_failed
        #: The runs that failed for good, and those not started (``skip_failed``).
        self.runs: list[FailedRun] = []
        #: How many runs were not started because they had failed before.
        self.skipped = 0
        #: Where failed attempts are recorded, once the sweep has started.
        self.log: SweepLog | None = None

    def skip(
        self,
        pending: dict[str, Request],
        position: Mapping[str, int],
        known: Mapping[str, tuple[int, str]],
    ) -> int:
        """Take out of ``pending`` the runs that failed ``retries + 1`` times or more before."""
        limit = self.queue.retries + 1
        keys = sorted(
            (k for k, (attempts, _type) in known.items() if attempts >= limit and k in pending),
            key=position.__getitem__,
        )
        for key in keys:
            request = pending.pop(key)
            attempts, exc_type = known[key]
            error = FailedBeforeError(
                f"entropic run {key} was not started: it failed {attempts} time(s) before, last "
                f"with {exc_type} (skip_failed); store.retry() runs it again",
                attempts,
                exc_type,
            )
            self.runs.append(FailedRun(key, dict(request.values), error))
        self.skipped = len(keys)
        if keys:
            logger.warning(
                "skipping %d runs that failed %d or more times before (skip_failed)",
                len(keys),
                limit,
            )
        return len(keys)

    def attempt_failed(self, task: RunTask, outcome: RunOutcome, *, may_retry: bool) -> bool:
        """Record a failed attempt; return whether the run waits to be tried again."""
        error = outcome.error
        assert error is not None
        again = may_retry and self.queue.wants(task.id)
        if self.log is not None:
            self.log.note_failure(
                task.id,
                task.params,
                task.explicit_id,
                error,
                outcome,
                final=not again,
                key_names=task.key_names,
            )
        if not again:
            self.give_up(task, error)
            return False
        pause = self.queue.push(task, error)
        logger.info(
            "run %s failed (%s); trying it again in %.1f s", task.id, type(error).__name__, pause
        )
        return True

    def give_up(self, task: RunTask, error: Exception) -> None:
        """Count ``task`` as failed with ``error``."""
        error.add_note(f"entropic run {task.id} with params {dict(task.params)!r}")
        self.runs.append(FailedRun(task.id, dict(task.params), error))
        logger.info("run %s failed: %r", task.id, error)

    def drain(self) -> list[RunTask]:
        """Give up on every run still waiting for a retry (out of time, or stopped)."""
        left = []
        for task, error in self.queue.drain():
            if self.log is not None:
                self.log.count_final()
            self.give_up(task, error)
            left.append(task)
        return left

    def rejected(self, run_id: str, params: Mapping[str, Any], error: Exception) -> None:
        """Count a finished run whose row the database refused as failed."""
        error.add_note(
            f"entropic run {run_id} finished but the database refused its row; its file and "
            "manifest are kept"
        )
        self.runs.append(FailedRun(run_id, dict(params), error))
        if self.log is not None:
            self.log.note_failure(run_id, params, False, error, final=True)
        logger.warning("the database refused the row of run %s: %s", run_id, error)

    def error(self, to_run: int, records: list[Any]) -> SweepError | None:
        """The error that says which runs failed and which were skipped, if any."""
        runs = self.runs
        if not runs:
            return None
        skipped = self.skipped
        ran = to_run - skipped
        failed = len(runs) - skipped
        parts = [f"{failed} of {ran} runs failed ({ran - failed} stored)"] if ran else []
        if skipped:
            parts.append(
                f"{skipped} not started: they failed {self.queue.retries + 1} or more times "
                "before (skip_failed)"
            )
        message = "; ".join(parts)
        return SweepError(message, [f.error for f in runs], runs, records, skipped)
