"""Running one sweep end to end: build the Sweep, look up, execute under signal handling, finish."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from entropic import executors as _executors
from entropic._assembly import Parts
from entropic._freshness import CurrentRecords
from entropic._progress import ProgressCallback, ProgressReporter
from entropic._records import Records
from entropic._signals import stopping_signals
from entropic._single import need_runner
from entropic._sweeping import Sweep
from entropic.errors import SweepTerminated
from entropic.running import Runner

__all__ = ["run_sweep"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: The exit status after SIGTERM (128 + 15), as shells report it.
TERMINATED = 143


def run_sweep(
    parts: Parts[T],
    model: type[T],
    runner: Runner | None,
    params: Iterable[Mapping[str, Any]],
    client: Any,
    executor: str | _executors.Executor | None,
    *,
    progress: bool,
    callback: ProgressCallback | None,
    time_limit: float | None,
    fallback: bool,
    retries: int,
    retry_backoff: float,
    skip_failed: bool,
) -> list[T | None]:
    """See :meth:`entropic.Store.sweep`."""
    if time_limit is not None and not time_limit > 0:
        raise ValueError(f"time_limit must be a positive number of seconds, not {time_limit!r}")
    if not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be a whole number >= 0, not {retries!r}")
    if not retry_backoff >= 0:
        raise ValueError(f"retry_backoff must be >= 0 seconds, not {retry_backoff!r}")
    records: Records[T] = parts.records
    if parts.freshness is not None:
        records = parts.freshness.view(parts.records)
    sweep: Sweep[T] = Sweep(
        model,
        parts.schema,
        records,
        parts.claims,
        parts.writer,
        parts.planner,
        parts.indexer,
        runner,
        time_limit,
        parts.journal,
        retries=retries,
        retry_backoff=retry_backoff,
        skip_failed=skip_failed,
    )
    sweep.lookup(params)
    total, to_run = sweep.total, len(sweep.pending)
    if isinstance(records, CurrentRecords):
        records.report(total)
    logger.debug("sweep of %d parameter sets: %d hits, %d to run", total, total - to_run, to_run)
    if to_run:
        need_runner(runner)
    reporter = ProgressReporter(total, total - to_run, show=progress, callback=callback)
    try:
        with stopping_signals():
            if to_run:
                sweep.execute(reporter, client, executor, fallback=fallback)
    except SweepTerminated:
        reporter.close()
        kept = sum(r is not None for r in sweep.results)
        sys.stderr.write(
            f"entropic: terminated (SIGTERM): {kept} of {total} runs are stored; "
            "the same sweep resumes from there\n"
        )
        raise SystemExit(TERMINATED) from None
    finally:
        reporter.close()
    return sweep.finish(to_run)
