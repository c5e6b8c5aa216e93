"""entropic-dask: run the missing points of an entropic sweep on a Dask distributed cluster.

Installing this package registers the executor ``dask`` (entry-point group
``entropic.executors``), so ``store.sweep(params, client=client)`` with a ``distributed.Client``,
or ``store.sweep(params, executor="dask")`` with a current client, sends the runs to the
cluster's workers. The workers write result files and return small outcomes; only the process
that owns the store opens the database.
"""

from __future__ import annotations

from entropic_dask.__about__ import __version__
from entropic_dask.executor import DaskExecutor, DaskFallbackWarning, NoWorkerWarning

__all__ = ["DaskExecutor", "DaskFallbackWarning", "NoWorkerWarning", "__version__"]
