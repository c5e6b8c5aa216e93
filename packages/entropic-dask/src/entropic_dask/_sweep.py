"""The state of one sweep on a Dask cluster: submitting runs in a bounded window, collecting
their outcomes, and the fallback to this process for the runs the cluster could not perform.

:class:`~entropic_dask.executor.DaskExecutor` holds the options; each of its ``execute`` calls
makes one :class:`DaskSweep`, which does the work described in that module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import time
import uuid
import warnings
from collections.abc import Iterable, Iterator, Sequence, Sized
from itertools import islice
from typing import TYPE_CHECKING, Any, Final

from entropic import FallbackRefusedError, scratch
from entropic.running import Runner, RunOutcome, RunTask, perform
from entropic_dask._failures import describe, pickling_error, root_cause
from entropic_dask._remote import perform_one, perform_pack

if TYPE_CHECKING:
    from entropic_dask.executor import DaskExecutor

__all__ = [
    "FUTURES_PER_THREAD",
    "MIN_FUTURES",
    "DaskFallbackWarning",
    "DaskSweep",
    "NoWorkerWarning",
]

# The logger of the module this code came from, so that logging configured for it still applies.
logger = logging.getLogger("entropic_dask.executor")

#: The automatic window keeps at least this many Dask tasks in flight...
MIN_FUTURES: Final = 512
#: ...or this many per worker thread on a bigger cluster.
FUTURES_PER_THREAD: Final = 8

#: The first and the longest pause between two looks at the futures in flight.
_FIRST_PAUSE: Final = 0.001
_LONGEST_PAUSE: Final = 0.25
#: How long to keep collecting completions before gathering their results in one go.
_LINGER_SECONDS: Final = 0.1
#: The states of a future that is done, one way or another.
_DONE: Final = frozenset({"finished", "error", "cancelled"})
#: How often the automatic window follows a cluster that grows or shrinks.
_RESIZE_SECONDS: Final = 5.0
#: How often a waiting sweep asks the scheduler how many workers it has.
_WORKER_POLL_SECONDS: Final = 1.0


class DaskFallbackWarning(RuntimeWarning):
    """Some runs of a sweep ran in the calling process because the Dask cluster could not."""


class NoWorkerWarning(RuntimeWarning):
    """A sweep has waited ``worker_wait`` seconds for a Dask worker, and none has connected."""


def _exception_of(future: Any) -> BaseException:
    """The exception a finished-but-unsuccessful future stands for."""
    try:
        exc = future.exception(timeout=_LONGEST_PAUSE)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as caught:  # a cancelled future raises CancelledError here
        return caught
    if isinstance(exc, BaseException):
        return exc
    return RuntimeError(f"Dask task {future.key!r} ended in state {future.status!r}")


class DaskSweep:
    """The state of one :meth:`DaskExecutor.execute` call."""

    def __init__(self, executor: DaskExecutor, runner: Runner) -> None:
        self.executor = executor
        self.client: Any = executor.client
        self.runner = runner
        self.pack = executor.pack
        self.token = uuid.uuid4().hex
        self.in_flight: dict[Any, list[RunTask]] = {}  # future -> the runs it carries
        self.runs_in_flight = 0
        self.fallback: list[RunTask] = []
        self.causes: dict[str, str] = {}  # exception type -> first description
        self.usable = True
        self.exhausted = False
        self.consumed = 0
        self.done: set[str] = set()  # ids of the runs whose outcome was yielded
        self.suffixes: set[str] = set()  # result file names are <id><suffix>
        self.results_dirs: set[str] = set()
        self.window = 0
        self.batch = 0
        self.resized = 0.0
        self.refused = False  # fallback=False and something failed: submit nothing more
        self.workers_checked = 0.0
        self.no_worker_since: float | None = time.monotonic()
        self.warned_no_worker = executor.worker_wait is None
        executor.max_in_flight = 0
        executor.fallback_runs = 0

    # ------------------------------------------------------------------ the loop

    def outcomes(self, tasks: Iterable[RunTask]) -> Iterator[RunOutcome]:
        total = len(tasks) if isinstance(tasks, Sized) else None
        source = self._remote(tasks)
        problem = self._problem()
        if problem is not None:
            self.usable = False
            self.causes["setup"] = problem
        else:
            try:
                while True:
                    if self.usable and not self.exhausted and not self.refused:
                        self._fill(source)
                    if not self.in_flight:
                        if self.exhausted or not self.usable or self.refused:
                            break
                        continue  # a batch failed to submit: carry on with the next one
                    batch = self._next_batch()
                    if batch is None:
                        self._abandon(f"the Dask client is {self.client.status}")
                        break
                    yield from self._collect(batch)
                    if self.client.status != "running":
                        self._abandon(f"the Dask client is {self.client.status}")
                        break
            finally:
                self._cancel_outstanding()
        yield from self._serially(source, total)
        self._tidy()

    def _remote(self, tasks: Iterable[RunTask]) -> Iterator[RunTask]:
        for task in tasks:
            self.consumed += 1
            self.results_dirs.add(task.results_dir)
            name = os.path.basename(task.result_file)
            if name.startswith(task.id):
                self.suffixes.add(name[len(task.id) :])
            yield dataclasses.replace(task, record_host=True)

    def _problem(self) -> str | None:
        """Why the cluster cannot take this sweep at all, or ``None``."""
        if self.client.status != "running":
            return f"the Dask client is {self.client.status}"
        exc = pickling_error(self.runner)
        if exc is not None:
            cause = describe(exc, implicit=False)
            return f"the runner cannot be pickled for the workers ({cause})"
        return None

    # ------------------------------------------------------------------ submitting

    def _limits(self) -> None:
        now = time.monotonic()
        fixed = self.executor.window is not None
        if self.window and (fixed or now - self.resized < _RESIZE_SECONDS):
            return
        self.resized = now
        if self.executor.window is not None:
            window = self.executor.window
        else:
            try:
                threads = sum(self.client.nthreads().values())
            except Exception:  # an unreachable scheduler shows itself when we submit
                threads = 0
            window = max(MIN_FUTURES, FUTURES_PER_THREAD * threads) * self.pack
        batch = self.executor.batch if self.executor.batch is not None else window // 4
        self.window = window
        self.batch = max(1, min(batch, window))

    def _fill(self, source: Iterator[RunTask]) -> None:
        self._limits()
        room = self.window - self.runs_in_flight
        if room < self.batch and self.in_flight:
            return
        chunk = list(islice(source, room))
        if len(chunk) < room:
            self.exhausted = True
        if chunk:
            self._submit(chunk)

    def _key(self, prefix: str, name: str, unique: bool) -> str:
        key = f"{prefix}-{name}"
        if unique or key in self.client.futures:
            key = f"{key}-{uuid.uuid4().hex[:12]}"
        return key

    def _submit(self, chunk: list[RunTask], *, unique: bool = False) -> None:
        """Submit ``chunk`` as tasks of ``pack`` runs; a failure sends it to the fallback."""
        if self.pack == 1:
            groups = [[task] for task in chunk]
        else:
            groups = [chunk[i : i + self.pack] for i in range(0, len(chunk), self.pack)]
        try:
            if self.pack == 1:
                keys = [self._key("entropic-run", task.id, unique) for task in chunk]
                futures = self.client.map(
                    perform_one, chunk, runner=self.runner, token=self.token, key=keys, pure=False
                )
            else:
                keys = [self._key("entropic-pack", _pack_name(group), unique) for group in groups]
                futures = self.client.map(
                    perform_pack, groups, runner=self.runner, token=self.token, key=keys, pure=False
                )
        except Exception as exc:
            self._fail(chunk, exc)
            if self.client.status != "running":
                self.usable = False
            return
        for future, group in zip(futures, groups, strict=True):
            self.in_flight[future] = group
        self.runs_in_flight += len(chunk)
        self.executor.max_in_flight = max(self.executor.max_in_flight, self.runs_in_flight)

    # ------------------------------------------------------------------ collecting

    def _next_batch(self) -> list[Any] | None:
        """The futures in flight that are done; ``None`` if the client went away first.

        The client's event loop keeps every future's status up to date, so this looks at the
        statuses, with pauses that grow while nothing happens. (``distributed.as_completed``
        would instead run a callback per future on that loop, which in a LocalCluster is the
        scheduler's too: a cost for every run of a sweep.) Once a future is done, completions
        are collected for up to ``_LINGER_SECONDS`` more, so that their results come back in
        one round trip rather than one each.
        """
        pause = _FIRST_PAUSE
        deadline = 0.0
        while True:
            batch = [future for future in self.in_flight if future.status in _DONE]
            now = time.monotonic()
            if batch:
                if not deadline:
                    deadline = now + _LINGER_SECONDS
                if len(batch) >= min(self.batch, len(self.in_flight)) or now >= deadline:
                    return batch
            else:
                # What looked done can go back to pending: its result was lost with a worker
                # that retired or died, and the scheduler computes it again. Linger afresh.
                deadline = 0.0
                self._watch_workers(now)
            if self.client.status != "running":
                return batch or None
            time.sleep(max(0.0, min(pause, deadline - now)) if deadline else pause)
            pause = min(2 * pause, _LONGEST_PAUSE)

    def _watch_workers(self, now: float) -> None:
        """Warn once when the cluster has had no worker for ``worker_wait`` seconds."""
        if self.warned_no_worker or now - self.workers_checked < _WORKER_POLL_SECONDS:
            return
        self.workers_checked = now
        try:
            workers = len(self.client.nthreads())
        except Exception:  # an unreachable scheduler shows itself elsewhere
            return
        if workers:
            self.no_worker_since = None
            return
        if self.no_worker_since is None:
            self.no_worker_since = now
        waited = now - self.no_worker_since
        wait = self.executor.worker_wait
        if wait is None or waited < wait:
            return
        self.warned_no_worker = True
        message = (
            f"entropic-dask: no Dask worker for {waited:.0f} s: 0 workers connected to "
            f"{self.client.scheduler.address}, {self.runs_in_flight} runs waiting; "
            f"{_cluster_report(self.client)}. The sweep goes on waiting for workers."
        )
        logger.warning("%s", message)
        warnings.warn(message, NoWorkerWarning, stacklevel=2)

    def _collect(self, batch: list[Any]) -> Iterator[RunOutcome]:
        finished = []
        for future in batch:
            if future.status == "finished":
                finished.append(future)
            else:
                self._fail(self._release(future), _exception_of(future))
        if not finished:
            return
        results = self._gather(finished)
        del batch
        for future, result in zip(finished, results, strict=True):
            tasks = self._release(future)
            if isinstance(result, BaseException):
                self._fail(tasks, result)
                continue
            token, payload = result
            if token != self.token:
                logger.warning(
                    "Dask task %s answered for another sweep that used the same key; "
                    "resubmitting its runs under keys of their own",
                    future.key,
                )
                self._submit(tasks, unique=True)
                continue
            self.done.update(task.id for task in tasks)
            yield from payload if isinstance(payload, list) else [payload]
        finished.clear()

    def _gather(self, futures: list[Any]) -> list[Any]:
        """The results of ``futures``, in one round trip when possible; exceptions in place."""
        try:
            results: list[Any] = self.client.gather(futures)
            return results
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:
            logger.debug("gathering %d results at once failed; one by one", len(futures))
        out: list[Any] = []
        for future in futures:
            try:
                out.append(future.result())
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:
                out.append(exc)
        return out

    def _release(self, future: Any) -> list[RunTask]:
        tasks = self.in_flight.pop(future)
        self.runs_in_flight -= len(tasks)
        return tasks

    # ------------------------------------------------------------------ failures

    def _fail(self, tasks: Sequence[RunTask], exc: BaseException) -> None:
        described = describe(exc)
        self.causes.setdefault(type(root_cause(exc)).__name__, described)
        self.fallback.extend(tasks)
        if self.executor.fallback:
            logger.info("%d runs will run in this process: %s", len(tasks), described)
        else:
            self.refused = True
            logger.info("%d runs could not run on the cluster: %s", len(tasks), described)

    def _abandon(self, reason: str) -> None:
        """Give up on the cluster: every run in flight goes to the fallback."""
        self.usable = False
        self.causes.setdefault("client", reason)
        for tasks in self.in_flight.values():
            self.fallback.extend(tasks)
        self.in_flight.clear()
        self.runs_in_flight = 0

    def _cancel_outstanding(self) -> None:
        """Cancel whatever is still in flight (an interrupt, or the caller stopped early)."""
        if not self.in_flight:
            return
        futures = list(self.in_flight)
        self.in_flight.clear()
        self.runs_in_flight = 0
        if self.client.status == "running":
            try:
                self.client.cancel(futures)
            except Exception:  # the client is going away anyway
                logger.debug("cancelling %d outstanding Dask tasks failed", len(futures))

    def _serially(self, source: Iterator[RunTask], total: int | None) -> Iterator[RunOutcome]:
        """Perform the runs the cluster could not take in this process, after one warning."""
        if self.usable and not self.refused and not self.fallback:
            return
        remaining: int | None
        if total is not None:
            remaining = len(self.fallback) + total - self.consumed
        elif self.usable and not self.refused:
            remaining = len(self.fallback)
        else:
            remaining = None
        count = "the remaining runs" if remaining is None else f"{remaining} runs"
        causes = "; ".join(self.causes.values()) or "unknown"
        if not self.executor.fallback:
            raise FallbackRefusedError(
                f"entropic-dask: {count} of this sweep could not run on the Dask cluster, "
                f"and fallback is off: {causes}",
                causes=list(self.causes.values()),
                remaining=remaining,
            )
        warnings.warn(
            f"entropic-dask: {count} of this sweep run in this process instead of on the Dask "
            f"cluster: {causes} (DaskExecutor(fallback=False) refuses this instead)",
            DaskFallbackWarning,
            stacklevel=2,
        )
        try:
            for task in self.fallback:
                yield self._perform_here(task)
            self.fallback.clear()
            if not self.usable:
                for task in source:
                    yield self._perform_here(task)
        finally:
            for folder in self.results_dirs:
                scratch.release(folder)

    def _perform_here(self, task: RunTask) -> RunOutcome:
        self.executor.fallback_runs += 1
        self.done.add(task.id)
        return perform(task, self.runner)

    def _ours(self, name: str) -> bool:
        """Whether ``name`` is the file name of a run this sweep finished."""
        for suffix in self.suffixes:
            if name.endswith(suffix) and name[: len(name) - len(suffix)] in self.done:
                return True
        return False

    def _tidy(self) -> None:
        """Remove temporary files that runs of this sweep left behind on lost workers.

        :func:`~entropic.running.perform` cleans up after itself, but not when its worker is
        killed mid-run; Dask then runs the task again elsewhere. Once every run of the sweep
        has finished, a temporary file named after one of its results is such a leftover.
        """
        for results_dir in self.results_dirs:
            for path in scratch.leftover_files(results_dir):
                if self._ours(path.name):
                    logger.info("removing %s, left by a lost worker", path)
                    with contextlib.suppress(OSError):
                        path.unlink()


def _cluster_report(client: Any) -> str:
    """What the client's cluster object, if it has one, says about the workers it asked for."""
    cluster = getattr(client, "cluster", None)
    if cluster is None:
        return (
            "the client has no cluster object to ask (it connected to a scheduler address): "
            "are the workers started, and do they reach the scheduler?"
        )
    try:
        text = repr(cluster)
    except Exception:
        text = type(cluster).__name__
    jobs = getattr(cluster, "workers", None)
    planned = getattr(cluster, "worker_spec", None)
    if isinstance(jobs, dict) and jobs:
        ids = [str(getattr(job, "job_id", None) or name) for name, job in jobs.items()]
        shown = ", ".join(ids[:10]) + (", ..." if len(ids) > 10 else "")
        text += f" has started {len(ids)} workers or jobs that have not connected ({shown})"
        if any(getattr(job, "job_id", None) for job in jobs.values()):
            text += "; are the batch jobs still queued, or failing as they start?"
    elif isinstance(planned, dict) and planned:
        text += (
            f" asks for {len(planned)} workers but runs none: did their jobs end? "
            "(cluster.adapt(minimum_jobs=...) replaces jobs that end)"
        )
    else:
        text += " has started no workers: scale it (cluster.scale(...) or cluster.adapt(...))"
    return text


def _pack_name(group: Sequence[RunTask]) -> str:
    digest = hashlib.sha256("\0".join(task.id for task in group).encode()).hexdigest()
    return digest[:16]
