"""One run at a time: ``Store.run`` and the single-flight miss of ``run_or_retrieve``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from entropic._claims import ClaimBook, new_owner
from entropic._collision import check_hit
from entropic._indexing import Indexer
from entropic._journal import Journal
from entropic._params import Request
from entropic._records import Records, run_row
from entropic._tasks import Planner
from entropic._writing import Writer
from entropic.running import Runner, perform
from entropic.scratch import release

__all__ = ["SingleRuns", "need_runner"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


def need_runner(runner: Runner | None) -> Runner:
    """``runner``, or a clear error for a Store opened for inspection only."""
    if runner is None:
        raise TypeError(
            "this Store was opened without a runner (for inspection and repair); "
            "give Store a runner to run parameter sets"
        )
    return runner


class SingleRuns(Generic[T]):
    """Runs one request, alone or once across every thread, process and host.

    Args:
        runner: The user's runner (``None`` for a Store that only inspects).
        planner: Plans the run's task.
        records: Reads and builds records.
        claims: The claims that make a miss single-flight.
        writer: Persists the row and releases the claim.
        indexer: Finds a finished run on disk whose row was never committed.
        journal: Records a failed run, and clears it when the run succeeds later.
    """

    def __init__(
        self,
        runner: Runner | None,
        planner: Planner,
        records: Records[T],
        claims: ClaimBook,
        writer: Writer,
        indexer: Indexer,
        journal: Journal | None = None,
    ) -> None:
        self.runner = runner
        self.indexer = indexer
        self.journal = journal
        self.planner = planner
        self.records = records
        self.claims = claims
        self.writer = writer

    def run(self, request: Request, custom_data: Mapping[str, Any], owner: str | None = None) -> T:
        """Run ``request`` now and store it, replacing any stored run of the same id."""
        runner = need_runner(self.runner)
        task = self.planner.task(request, custom_data)
        try:
            outcome = perform(task, runner)
        finally:
            release(task.results_dir)
        if outcome.error is not None:
            logger.info("run %s failed after %.3f s", task.id, outcome.elapsed_seconds)
            if self.journal is not None:
                self.journal.single_failure(
                    task.id,
                    task.params,
                    task.explicit_id,
                    outcome.error,
                    outcome,
                    task.key_names,
                )
            raise outcome.error
        row = run_row(task, outcome)
        journal = self.journal
        also = None if journal is None else (lambda conn: journal.single_success(conn, task.id))
        self.writer.persist([row], owner, [task.id], also)
        logger.info("ran %s in %.3f s", task.id, outcome.elapsed_seconds)
        return self.records.from_row(row)

    def run_once(self, request: Request, custom_data: Mapping[str, Any]) -> T:
        """Run ``request`` unless another thread or process is already running it."""
        need_runner(self.runner)
        owner = new_owner()
        key = request.key
        while True:
            if self.claims.claim_one(key, owner):
                try:
                    record = self.records.fetch_one(key)
                    if record is not None:  # finished by someone else since we looked
                        return check_hit(record, request)
                    row = self.indexer.recover(request)
                    if row is not None:  # finished before a crash, never committed
                        self.writer.persist([row], owner, [key])
                        return check_hit(self.records.from_row(row), request)
                    with self.claims.kept(owner):
                        return self.run(request, custom_data, owner)
                finally:
                    self.claims.release([key], owner)
            logger.debug("waiting for %s, which another process is running", key)
            found = self.claims.await_others([key], self.records.fetch)
            if found:
                return check_hit(found[key], request)
