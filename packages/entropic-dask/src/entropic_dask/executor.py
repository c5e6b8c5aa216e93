"""The Dask executor: the missing runs of a sweep as tasks on a Dask distributed cluster.

Each run is one Dask task with the deterministic key ``entropic-run-<id>`` (or, with ``pack``,
several runs share a task). Only a bounded window of runs is in flight at any time, so a sweep
of a million points never holds a million futures: as tasks complete, their outcomes are
gathered in batches, yielded to the :class:`~entropic.Store` (which persists them) and the
futures released; then the window is topped up.

The runner's own exceptions are caught on the worker by :func:`entropic.running.perform` and come
back as failed outcomes. A Dask task that itself fails (its workers died, it was cancelled, the
client closed) is an infrastructure failure: the runs it carried are performed in this process
instead, after the cluster has done what it can, with one :class:`DaskFallbackWarning` per sweep
naming the causes; with ``fallback=False`` they are not, and the sweep ends with
:class:`~entropic.FallbackRefusedError` instead. Runs whose outcome was already yielded never run
again.

Workers may come and go during a sweep (batch jobs that start late, retire at their lifetime or
are preempted): a run lost with its worker is rerun elsewhere by the scheduler. While the cluster
has no worker at all for ``worker_wait`` seconds, one :class:`NoWorkerWarning` says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Final

import distributed

from entropic.running import Runner, RunOutcome, RunTask
from entropic_dask._sweep import (
    FUTURES_PER_THREAD,
    MIN_FUTURES,
    DaskFallbackWarning,
    DaskSweep,
    NoWorkerWarning,
)

__all__ = [
    "FUTURES_PER_THREAD",
    "MIN_FUTURES",
    "WORKER_WAIT_SECONDS",
    "DaskExecutor",
    "DaskFallbackWarning",
    "NoWorkerWarning",
]

#: The default of ``worker_wait``: how long a sweep waits without any worker before saying so.
WORKER_WAIT_SECONDS: Final = 60.0


class DaskExecutor:
    """Runs a sweep's missing runs on a Dask distributed cluster.

    ``store.sweep(params, client=client)`` picks this executor for a ``distributed.Client``, and
    ``store.sweep(params, executor="dask")`` uses the current client. Build one yourself to set
    the options: ``store.sweep(params, executor=DaskExecutor(client=client, pack=16))``.

    The workers need the same Python environment as the client (entropic-core, entropic-dask and
    whatever the runner imports) and must see ``results_dir`` at the same path: they write the
    result files and manifests there. They never open the database.

    Args:
        client: The ``distributed.Client`` to submit to; ``None`` uses the current client.
        window: Most runs in flight on the cluster at once. ``None`` sizes it from the cluster:
            ``max(MIN_FUTURES, FUTURES_PER_THREAD * threads)`` tasks of ``pack`` runs each,
            following the cluster as it grows or shrinks.
        batch: Submit runs in groups of at least this many (one scheduler message each) once
            the window has room for them. ``None`` means a quarter of the window.
        pack: Runs per Dask task. The default, 1, gives each run its own task and key; a larger
            number amortises Dask's per-task cost over several short runs (their
            ``elapsed_seconds`` are still measured one by one).
        worker_wait: Seconds a sweep waits while the cluster has no worker at all before it
            warns, once, with a :class:`NoWorkerWarning` (how many runs wait, what the cluster
            reports: batch jobs still queued, say). The sweep keeps waiting: workers that join
            later are used. ``None`` never warns.
        fallback: Whether runs the cluster could not perform (lost tasks given up on, a
            scheduler that cannot unpickle the runner, a closed client) run in this process.
            ``False`` stops submitting at the first such failure, lets the runs in flight
            finish, and raises :class:`~entropic.FallbackRefusedError` naming the cause.

    Attributes:
        client: The client in use.
        max_in_flight: Most runs that were in flight at once during the latest sweep.
        fallback_runs: Runs of the latest sweep performed in this process instead.
        worker_wait: The ``worker_wait`` option.
        fallback: The ``fallback`` option.

    Raises:
        ValueError: ``client`` is ``None`` and there is no current client, or an option is not
            a positive number.
        TypeError: ``client`` is not a synchronous ``distributed.Client``.
    """

    name: Final = "dask"

    def __init__(
        self,
        *,
        client: Any = None,
        window: int | None = None,
        batch: int | None = None,
        pack: int = 1,
        worker_wait: float | None = WORKER_WAIT_SECONDS,
        fallback: bool = True,
    ) -> None:
        if client is None:
            try:
                client = distributed.get_client()
            except ValueError as exc:
                raise ValueError(
                    "the 'dask' executor needs a distributed.Client: create one first "
                    "(Client(LocalCluster()) or Client('tcp://scheduler:8786')), or pass "
                    "client= to sweep()"
                ) from exc
        if not isinstance(client, distributed.Client):
            raise TypeError(
                f"the 'dask' executor needs a distributed.Client, not {type(client).__name__}"
            )
        if client.asynchronous:
            raise TypeError("the 'dask' executor needs a synchronous Client (asynchronous=False)")
        for option, value in (("window", window), ("batch", batch), ("pack", pack)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{option} must be a positive integer, not {value!r}")
        if worker_wait is not None and (
            isinstance(worker_wait, bool)
            or not isinstance(worker_wait, int | float)
            or not worker_wait >= 0
        ):
            raise ValueError(f"worker_wait must be seconds (a number) or None, not {worker_wait!r}")
        self.client: Any = client
        self.window = window
        self.batch = batch
        self.pack = pack
        self.worker_wait = None if worker_wait is None else float(worker_wait)
        self.fallback = bool(fallback)
        self.max_in_flight = 0
        self.fallback_runs = 0

    @classmethod
    def accepts(cls, client: Any) -> bool:
        """Whether ``client`` is a synchronous ``distributed.Client``."""
        return isinstance(client, distributed.Client) and not client.asynchronous

    def execute(self, tasks: Iterable[RunTask], runner: Runner) -> Iterator[RunOutcome]:
        """Perform every task on the cluster and yield each outcome as it arrives.

        Args:
            tasks: The runs to perform (consumed lazily, a window at a time).
            runner: The user's function; it is pickled once per submitted batch.

        Yields:
            One outcome per task, in completion order.

        Raises:
            FallbackRefusedError: With ``fallback=False``, some runs could not be performed on
                the cluster; the runs whose outcomes were yielded before are complete.

        Warns:
            DaskFallbackWarning: Some runs were performed in this process; the message names
                why (a closed client, lost workers, cancelled tasks, an unpicklable runner).
            NoWorkerWarning: The cluster had no worker for ``worker_wait`` seconds.
        """
        return DaskSweep(self, runner).outcomes(tasks)

    def __repr__(self) -> str:
        options = f"window={self.window!r}, batch={self.batch!r}, pack={self.pack!r}"
        options += f", worker_wait={self.worker_wait!r}, fallback={self.fallback!r}"
        return f"DaskExecutor(client={self.client!r}, {options})"
