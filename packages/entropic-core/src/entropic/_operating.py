"""Choosing failures for the Store's ``failures``, ``forget`` and ``retry``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import Engine, Table

from entropic.errors import ParameterError
from entropic.failures import RecordedFailure, forget_failures, list_failures, rerun_params
from entropic.inspection import Condition

__all__ = ["chosen_failures", "forget", "retry_params"]

logger = logging.getLogger(__name__)


def chosen_failures(
    engine: Engine,
    table: Table,
    columns: Iterable[str],
    where: Iterable[Condition],
    exc_type: str | None,
    ids: Iterable[str] | None,
    equals: Mapping[str, Any],
) -> list[RecordedFailure]:
    """The current failures that match, the latest first.

    Raises:
        ParameterError: A condition names a column the model lacks.
    """
    conditions = [*where, *(Condition(k, "=", v) for k, v in equals.items())]
    unknown = sorted({c.column for c in conditions} - set(columns))
    if unknown:
        raise ParameterError(f"table {table.name!r} has no parameter {unknown[0]!r}")
    chosen = None if ids is None else list(ids)
    return list_failures(engine, table.name, conditions, exc_type=exc_type, ids=chosen)


def forget(
    engine: Engine,
    table: Table,
    columns: Iterable[str],
    ids: Iterable[str] | None,
    where: Iterable[Condition],
    exc_type: str | None,
) -> int:
    """Clear the chosen failures (every one when nothing chooses); return how many."""
    conditions = list(where)
    if ids is None and not conditions and exc_type is None:
        return forget_failures(engine, table.name)
    chosen = chosen_failures(engine, table, columns, conditions, exc_type, ids, {})
    return forget_failures(engine, table.name, [f.run_id for f in chosen])


def retry_params(
    failures: Iterable[RecordedFailure], table: Table, key: Callable[[Any], str]
) -> list[dict[str, Any]]:
    """The parameters to sweep again: each failure's, when they still make its id."""
    params = []
    for failure in failures:
        values = rerun_params(failure, table)
        if key(values) != failure.run_id:
            logger.warning(
                "not retrying run %s: its recorded parameters no longer make that id",
                failure.run_id,
            )
            continue
        params.append(values)
    logger.info("retrying %d failed runs", len(params))
    return params
