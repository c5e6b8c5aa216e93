"""One sweep: its state from the first lookup to the last commit, in one object.

A :class:`Sweep` checks every parameter set and looks them up in chunks (:meth:`Sweep.lookup`),
then runs the misses (:meth:`Sweep.execute`), sharing the work with any other process sweeping
the same ids through claims, and commits finished runs in batches as they complete.
"""

from __future__ import annotations

import gc
import logging
import sys
import time
from collections.abc import Generator, Iterable, Iterator, Mapping
from contextlib import contextmanager
from itertools import islice
from typing import Any, Final, Generic, TypeVar

from entropic import executors as _executors
from entropic._batching import FINAL_PATIENCE, BatchWriter
from entropic._claims import ClaimBook, new_owner
from entropic._collision import check_hit, check_same
from entropic._db import CHUNK, is_outage
from entropic._indexing import Indexer
from entropic._journal import Journal, SweepLog
from entropic._params import ParameterSchema, Request
from entropic._progress import ProgressReporter
from entropic._records import Records, run_row
from entropic._retrying import SweepFailures
from entropic._tasks import Planner
from entropic._writing import Writer
from entropic.errors import (
    DatabaseUnavailableError,
    FailedRun,
    ParameterError,
    SweepTerminated,
    TimeLimitError,
)
from entropic.running import Runner, RunOutcome, RunTask

__all__ = ["Sweep"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: A sweep commits its finished runs at least this often...
FLUSH_SECONDS: Final = 1.0
#: ...or whenever this many have finished.
FLUSH_RUNS: Final = 256
#: A sweep first claims this many of its misses...
CLAIM_FIRST: Final = 4
#: ...then doubles the batch up to about this much work...
CLAIM_SECONDS: Final = 1.0
#: ...and never more than this many at once.
CLAIM_MOST: Final = 256


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
        indexer: Finds finished runs on disk that were never committed.
        runner: The user's runner.
        time_limit: Seconds after which no run starts, or ``None``.
        journal: Records the sweep, its progress and its failures (``entropic_`` tables).
        retries: How many times a run whose runner raised is tried again.
        retry_backoff: Seconds before the first retry of a run; doubled for each later one.
        skip_failed: Do not start runs whose current failure has ``retries + 1`` attempts.
    """

    def __init__(
        self,
        model: type[T],
        schema: ParameterSchema,
        records: Records[T],
        claims: ClaimBook,
        writer: Writer,
        planner: Planner,
        indexer: Indexer,
        runner: Runner | None,
        time_limit: float | None = None,
        journal: Journal | None = None,
        *,
        retries: int = 0,
        retry_backoff: float = 1.0,
        skip_failed: bool = False,
    ) -> None:
        self.model = model
        self.schema = schema
        self.records = records
        self.claims = claims
        self.writer = writer
        self.planner = planner
        self.indexer = indexer
        self.runner = runner
        self.deadline = None if time_limit is None else time.monotonic() + time_limit
        #: One slot per distinct parameter set, in the order each first appeared.
        self.results: list[T | None] = []
        #: Each id's slot in :attr:`results`.
        self.position: dict[str, int] = {}
        #: The misses not yet run or found, in input order.
        self.pending: dict[str, Request] = {}
        self.journal = journal
        self.log: SweepLog | None = None
        #: The runs that failed: tried again, given up on, or not started (``skip_failed``).
        self.failed = SweepFailures(retries, retry_backoff, skip_failed)
        #: The runs that failed for good (and those ``skip_failed`` did not start).
        self.failures: list[FailedRun] = self.failed.runs

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

    def out_of_time(self) -> bool:
        """Whether the sweep's time limit has passed (no run may start then)."""
        return self.deadline is not None and time.monotonic() >= self.deadline

    def execute(
        self,
        reporter: ProgressReporter,
        client: Any,
        executor: str | _executors.Executor | None,
        *,
        fallback: bool = True,
    ) -> None:
        """Run the misses, sharing the work with any other process sweeping the same ids.

        Misses are claimed a small batch at a time as the executor asks for work, so identical
        processes given the same parameter sets split them between them; ids another process
        holds are waited for, and taken over once their claim lapses. The sweep is recorded in
        ``entropic_sweeps`` from its start to its end.
        """
        chosen = _executors.resolve(executor, client, fallback=fallback)
        owner = new_owner()
        pending = self.pending
        hits = self.total - len(pending)
        known = self.journal.current_attempts() if self.journal is not None else {}
        skipped = 0
        if self.failed.skip_failed and known:
            skipped = self.failed.skip(pending, self.position, known)
            reporter.advance(skipped, skipped)
        if self.journal is not None:
            self.log = self.failed.log = self.journal.begin(
                owner=owner,
                total=self.total,
                hits=hits,
                skipped=skipped,
                executor=str(getattr(chosen, "name", None) or type(chosen).__name__),
                lease=self.claims.lease,
                known={key: attempts for key, (attempts, _type) in known.items()},
            )
        state = "error"
        with self.claims.kept(owner):
            try:
                while pending and not self.out_of_time():
                    if not self._run_batches(reporter, chosen, owner) and pending:
                        if self.out_of_time():
                            break
                        found = self.claims.await_others(list(pending), self.records.fetch)
                        self._found(found, pending)
                        reporter.advance(len(found), 0)
                        if self.log is not None:
                            self.log.found(len(found))
                state = "time limit" if pending else "failed" if self.failures else "finished"
            except SweepTerminated:
                state = "terminated"
                raise
            except KeyboardInterrupt:
                state = "interrupted"
                raise
            finally:
                try:
                    self.claims.release(list(pending), owner, patient=False)
                except Exception as exc:  # the database is gone: the claims expire on their own
                    if not is_outage(exc):
                        raise
                    logger.warning("could not release %d claims: %s", len(pending), exc)
                if self.log is not None:
                    self.log.end(state)

    def _claim_tasks(
        self,
        owner: str,
        reporter: ProgressReporter,
        claimed: dict[str, RunTask],
        early: BatchWriter,
        *,
        fresh: bool = True,
    ) -> Generator[RunTask, None, None]:
        """Claim pending ids a batch at a time and yield their tasks, in input order.

        A claimed id that another process finished meanwhile is a hit; one whose result and
        manifest are on disk already is indexed instead of run again. Claims are checked again
        before a run starts when this process may have been frozen past its lease. Failed runs
        whose backoff has passed go first; with ``fresh`` false, only they are yielded.
        """
        pending, claims, planner, log = self.pending, self.claims, self.planner, self.log
        order = list(pending) if fresh else []
        cursor = 0
        size = CLAIM_FIRST
        while cursor < len(order) and not self.out_of_time():
            batch: list[str] = []
            while cursor < len(order) and len(batch) < size:
                key = order[cursor]
                cursor += 1
                if key in pending:
                    batch.append(key)
            if not batch:
                break
            held = claims.claim_many(batch, owner)
            mine = {key: pending.pop(key) for key in batch if key in held}
            if not mine:
                continue
            done = self.records.fetch(list(mine))  # finished elsewhere since we looked
            self._found(done, mine)
            claims.release(done, owner)
            reporter.advance(len(done), 0)
            if log is not None and done:
                log.found(len(done))
            if not mine:
                continue
            planned = {key: planner.task(request, {}) for key, request in mine.items()}
            if log is not None:
                log.claimed(list(planned.values()))
                early.touch()
            started, count = time.monotonic(), len(mine)
            try:
                while mine:
                    yield from self._due(claimed)
                    key = next(iter(mine))
                    if self.out_of_time():
                        break
                    request = mine.pop(key)
                    if claims.may_have_lapsed() and key not in claims.held_by([key], owner):
                        pending[key] = request  # lost while frozen: look it up, not redo it
                        continue
                    row = self.indexer.recover(request)
                    if row is not None:
                        early.add(row=row)
                        reporter.advance(1, 0)
                        continue
                    task = planned[key]
                    claimed[key] = task
                    yield task
            finally:
                pending.update(mine)  # claimed but not started: released by execute()
            # claim about CLAIM_SECONDS of work at a time, growing from a few runs
            per_run = (time.monotonic() - started) / count
            limit = CLAIM_MOST if per_run <= 0 else max(1, int(CLAIM_SECONDS / per_run))
            size = max(1, min(size * 2, CLAIM_MOST, limit))
        yield from self._due(claimed)

    def _due(self, claimed: dict[str, RunTask]) -> Iterator[RunTask]:
        """The failed runs whose backoff has passed, one at a time (their claims are held)."""
        queue = self.failed.queue
        while not self.out_of_time() and (task := queue.take_due()) is not None:
            claimed[task.id] = task
            yield task

    def _run_batches(
        self, reporter: ProgressReporter, chosen: _executors.Executor, owner: str
    ) -> bool:
        """Run what can be claimed through ``chosen``; persist in batches as runs complete.

        Failed runs to be tried again wait for their backoff; when only they are left, the
        executor is given them in another pass once they are due.

        Returns:
            Whether anything was claimed (run, found or indexed).
        """
        runner = self.runner
        assert runner is not None  # checked by the Store before a sweep with misses
        results, position, make = self.results, self.position, self.records.from_row
        claimed: dict[str, RunTask] = {}
        before = len(self.pending)
        log, queue = self.log, self.failed.queue

        def commit(rows: list[dict[str, Any]], released: list[str]) -> None:
            if rows and self.claims.may_have_lapsed():
                # frozen past the lease: another process may have taken and redone these runs
                held = self.claims.held_by([row["id"] for row in rows], owner)
                lost = [row["id"] for row in rows if row["id"] not in held]
                if lost:
                    logger.warning(
                        "%d runs were taken over while this process was held up", len(lost)
                    )
                    for key, record in self.records.fetch(lost).items():
                        results[position[key]] = record
                    rows = [row for row in rows if row["id"] in held]
            ids = [row["id"] for row in rows]
            journal = None if log is None else log.prepare(ids, released)
            also = None if journal is None else journal.write
            self.writer.persist(rows, owner, [*ids, *released], also, patient=False)
            if log is not None and journal is not None:
                log.written(journal)
                if log.unlisted():
                    writer.touch()  # list the runs still going at the next commit
            for row in rows:
                results[position[row["id"]]] = make(row)
            if rows:
                logger.info("stored %d runs", len(rows))

        def reject(row: dict[str, Any], error: Exception) -> None:
            params = {k: row[k] for k in self.schema.columns if k in row}
            self.failed.rejected(row["id"], params, error)

        writer = BatchWriter(commit, interval=FLUSH_SECONDS, size=FLUSH_RUNS, reject=reject)
        fresh = True
        try:
            while True:
                tasks = self._claim_tasks(owner, reporter, claimed, writer, fresh=fresh)
                outcomes: Iterator[RunOutcome] = iter(chosen.execute(tasks, runner))
                try:
                    for outcome in outcomes:
                        self._settle(claimed.pop(outcome.id), outcome, writer, reporter)
                finally:
                    close = getattr(outcomes, "close", None)
                    if close is not None:
                        close()
                    tasks.close()
                if not queue or self.out_of_time():
                    break
                fresh = False
                pause = queue.wait()
                if self.deadline is not None:
                    pause = min(pause, max(0.0, self.deadline - time.monotonic()))
                time.sleep(pause)  # the backoff of the next failed run
        finally:
            for key, task in claimed.items():
                # a run whose outcome never came back (interrupted, a lost worker) may still
                # have finished: index it from its manifest; otherwise let others take it
                row = self.indexer.recover(Request(key, dict(task.params), task.explicit_id))
                if row is not None:
                    writer.add(row=row)
                else:
                    writer.add(release=key)
            for task in self.failed.drain():  # out of time (or stopped) before their retry
                writer.add(release=task.id)
                reporter.advance(1, 1)
            gone = isinstance(sys.exc_info()[1], DatabaseUnavailableError)
            writer.close(patience=1.0 if gone else FINAL_PATIENCE)
        return len(self.pending) < before

    def _settle(
        self, task: RunTask, outcome: RunOutcome, writer: BatchWriter, reporter: ProgressReporter
    ) -> None:
        """Queue a finished run's row, or its failure: to be tried again, or for good."""
        if outcome.error is None:
            writer.add(row=run_row(task, outcome))
            reporter.advance(1, 0)
        elif not self.failed.attempt_failed(task, outcome, may_retry=not self.out_of_time()):
            writer.add(release=task.id)
            reporter.advance(1, 1)

    def finish(self, to_run: int) -> list[T | None]:
        """The records, or the error that says what was not done.

        Raises:
            SweepError: Some runs failed, or ``skip_failed`` did not start some.
            TimeLimitError: The time limit passed before every run was done.
        """
        failures = self.failures
        if self.pending:
            left = len(self.pending)
            raise TimeLimitError(
                f"time limit reached: {left} of {self.total} parameter sets were not run "
                f"({len(failures)} failed); no run started after the limit and every finished "
                "run is stored, so the same sweep resumes from there",
                self.results,
                left,
            )
        error = self.failed.error(to_run, self.results)
        if error is not None:
            raise error
        return self.results
