"""One sweep: its state from the first lookup to the last commit, in one object.

A :class:`Sweep` checks every parameter set and looks them up in chunks (:meth:`Sweep.lookup`),
then runs the misses (:meth:`Sweep.execute`), sharing the work with any other process sweeping
the same ids through claims, and commits finished runs in batches as they complete.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from itertools import islice
from typing import Any, Final, Generic, TypeVar

from entropic import executors as _executors
from entropic._batching import BatchWriter
from entropic._claims import ClaimBook, new_owner
from entropic._collision import check_hit, check_same
from entropic._db import CHUNK
from entropic._params import ParameterSchema, Request
from entropic._progress import ProgressReporter
from entropic._records import Records, run_row
from entropic._tasks import Planner
from entropic._writing import Writer
from entropic.errors import FailedRun, ParameterError
from entropic.running import Runner, RunOutcome

__all__ = ["Sweep"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: A sweep commits its finished runs at least this often...
FLUSH_SECONDS: Final = 1.0
#: ...or whenever this many have finished.
FLUSH_RUNS: Final = 256


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a sweep builds many records.

    Building 100,000 records allocates enough objects to trigger repeated full collections,
    each scanning every record built so far; nothing built here forms cycles that need them.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if gc.get_freeze_count() == 0:
                # Move what was built straight to the oldest generation, as surviving several
                # collections would, but without scanning it: freeze() parks every tracked
                # object in the permanent generation and unfreeze() hands them to the oldest.
                gc.freeze()
                gc.unfreeze()
            gc.enable()


class Sweep(Generic[T]):
    """The state of one sweep.

    Args:
        model: The model class (for the collision check of duplicates).
        schema: The model's parameter schema.
        records: Reads and builds records.
        claims: Shares the misses with other processes.
        writer: Commits rows and releases claims.
        planner: Plans each run's task.
        runner: The user's runner.
    """

    def __init__(
        self,
        model: type[T],
        schema: ParameterSchema,
        records: Records[T],
        claims: ClaimBook,
        writer: Writer,
        planner: Planner,
        runner: Runner | None,
    ) -> None:
        self.model = model
        self.schema = schema
        self.records = records
        self.claims = claims
        self.writer = writer
        self.planner = planner
        self.runner = runner
        #: One slot per distinct parameter set, in the order each first appeared.
        self.results: list[T | None] = []
        #: Each id's slot in :attr:`results`.
        self.position: dict[str, int] = {}
        #: The misses not yet run or found, in input order.
        self.pending: dict[str, Request] = {}
        #: The runs that failed.
        self.failures: list[FailedRun] = []

    @property
    def total(self) -> int:
        """How many distinct parameter sets the sweep has."""
        return len(self.results)

    def lookup(self, params: Iterable[Mapping[str, Any]]) -> None:
        """Check every parameter set and look the new ones up in chunks.

        Raises:
            TypeError: An element is not a mapping.
            ParameterError: An element does not fit the model.
            HashCollisionError: Two elements, or one and a stored record, share an id but differ.
        """
        results, position, pending = self.results, self.position, self.pending
        schema = self.schema
        iterator = iter(params)
        index = 0
        with gc_paused():
            while chunk := list(islice(iterator, CHUNK)):
                fresh: list[Request] = []
                waiting: dict[str, Request] = {}  # this chunk's new ids, not yet looked up
                for item in chunk:
                    try:
                        request = schema.request(item, complete=True)
                    except (TypeError, ParameterError) as exc:
                        exc.add_note(f"in parameter set #{index} of the sweep: {item!r}")
                        raise
                    index += 1
                    at = position.get(request.key)
                    if at is None:
                        position[request.key] = len(results)
                        results.append(None)
                        fresh.append(request)
                        waiting[request.key] = request
                        continue
                    earlier = results[at]
                    if earlier is not None:
                        check_hit(earlier, request)
                    else:
                        first = pending.get(request.key) or waiting[request.key]
                        check_same(self.model, first, request)
                found = self.records.fetch([r.key for r in fresh])
                for request in fresh:
                    record = found.get(request.key)
                    if record is None:
                        pending[request.key] = schema.storable(request)
                    else:
                        results[position[request.key]] = check_hit(record, request)

    def _found(self, found: Mapping[str, T], requests: dict[str, Request]) -> None:
        for key, record in found.items():
            self.results[self.position[key]] = check_hit(record, requests.pop(key))

    def execute(
        self,
        reporter: ProgressReporter,
        client: Any,
        executor: str | _executors.Executor | None,
    ) -> None:
        """Run the misses, sharing the work with any other process sweeping the same ids."""
        chosen = _executors.resolve(executor, client)
        owner = new_owner()
        pending = self.pending
        with self.claims.kept(owner):
            try:
                while pending:
                    held = self.claims.claim_many(list(pending), owner)
                    if held:
                        # in the order they were given, not the claims' (a set's) order
                        mine = {key: pending.pop(key) for key in list(pending) if key in held}
                        done = self.records.fetch(list(mine))  # finished elsewhere meanwhile
                        self._found(done, mine)
                        self.claims.release(done, owner)
                        reporter.advance(len(done), 0)
                        if mine:
                            self._run_claimed(mine, reporter, chosen, owner)
                    if pending and not held:
                        found = self.claims.await_others(list(pending), self.records.fetch)
                        self._found(found, pending)
                        reporter.advance(len(found), 0)
            finally:
                self.claims.release(list(pending), owner)

    def _run_claimed(
        self,
        mine: dict[str, Request],
        reporter: ProgressReporter,
        chosen: _executors.Executor,
        owner: str,
    ) -> None:
        """Run the claimed ``mine`` through ``chosen``; persist in batches as they complete."""
        runner = self.runner
        assert runner is not None  # checked by the Store before a sweep with misses
        planner = self.planner
        tasks = {key: planner.task(request, {}) for key, request in mine.items()}
        results, position, make = self.results, self.position, self.records.from_row

        def commit(rows: list[dict[str, Any]], released: list[str]) -> None:
            self.writer.persist(rows, owner, [*(row["id"] for row in rows), *released])
            for row in rows:
                results[position[row["id"]]] = make(row)
            if rows:
                logger.info("stored %d runs", len(rows))

        writer = BatchWriter(commit, interval=FLUSH_SECONDS, size=FLUSH_RUNS)
        outcomes: Iterator[RunOutcome] = iter(chosen.execute(list(tasks.values()), runner))
        try:
            for outcome in outcomes:
                task = tasks.pop(outcome.id)
                if outcome.error is None:
                    writer.add(row=run_row(task, outcome))
                    reporter.advance(1, 0)
                else:
                    error = outcome.error
                    error.add_note(f"entropic run {task.id} with params {dict(task.params)!r}")
                    self.failures.append(FailedRun(task.id, dict(task.params), error))
                    writer.add(release=task.id)
                    logger.info("run %s failed: %r", task.id, error)
                    reporter.advance(1, 1)
        finally:
            close = getattr(outcomes, "close", None)
            if close is not None:
                close()
            for key in tasks:  # runs that never finished: let others take them
                writer.add(release=key)
            writer.close()
