"""What runs on the workers: thin wrappers around :func:`entropic.running.perform`.

The wrappers hand back the sweep's token with the outcomes. Dask identifies a task by its key
alone, and entropic's keys are deterministic (``entropic-run-<id>``), so a task that another
sweep submitted under the same key (from another store, say) could answer in place of ours; the
token lets the client tell its own results from such a stranger's.
"""

from __future__ import annotations

from collections.abc import Sequence

from entropic.running import Runner, RunOutcome, RunTask, perform

__all__ = ["perform_one", "perform_pack"]


def perform_one(task: RunTask, runner: Runner, token: str) -> tuple[str, RunOutcome]:
    """Perform one run on a worker.

    Args:
        task: The planned run.
        runner: The user's function.
        token: The submitting sweep's token, returned unchanged.

    Returns:
        ``token`` and the run's outcome (a failed run is an outcome, not an exception).
    """
    return token, perform(task, runner)


def perform_pack(
    tasks: Sequence[RunTask], runner: Runner, token: str
) -> tuple[str, list[RunOutcome]]:
    """Perform several runs, one after the other, as one Dask task.

    Args:
        tasks: The planned runs.
        runner: The user's function.
        token: The submitting sweep's token, returned unchanged.

    Returns:
        ``token`` and one outcome per task, in the order of ``tasks``.
    """
    return token, [perform(task, runner) for task in tasks]
