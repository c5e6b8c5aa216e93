"""The runs that failed, as entropic remembers them: listed, filtered, shown and forgotten.

A sweep records every failed attempt of a run in ``entropic_attempts`` and keeps the last one in
``entropic_failures`` (the *current* failures) until a later success clears it; see
:meth:`entropic.Store.sweep`. This module reads them for the Store and for the ``entropic``
command, which has no model code: everything is keyed by the table's name.

Parameters are kept as JSON (enums by value, datetimes as ISO text), so a condition on them is
compared with its value made JSON the same way; :func:`list_failures` filters on the exception
type in the database and on parameters here.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import Engine, Table, delete, func, select
from sqlalchemy import inspect as sa_inspect

from entropic._db import chunks, write_connection
from entropic._internal import attempts_table, failures_table
from entropic._json import from_json, to_json
from entropic.inspection import Condition
from entropic.schema import RESERVED_COLUMNS

__all__ = [
    "AttemptRecord",
    "RecordedFailure",
    "failure_history",
    "failure_ids_with_prefix",
    "forget_failures",
    "get_failure",
    "list_failures",
    "matches",
    "rerun_params",
]


@dataclass(frozen=True, slots=True)
class RecordedFailure:
    """A run whose last attempt failed.

    Attributes:
        table: The entropic table the run belongs to.
        run_id: The run's id.
        params: Its parameters, as JSON values (enums by value, datetimes as ISO text).
        key_names: The parameters its id was hashed from (``None``: every one in ``params``).
        explicit_id: Whether the id was given rather than hashed from the parameters.
        attempt: How many times in a row it failed.
        exc_type: The exception's class (qualified by its module unless built in).
        message: The exception's text.
        traceback: The tail of the traceback, formatted where the run happened.
        host: The host the run happened on.
        pid: The process it happened in.
        sweep_id: The sweep that ran it, in ``entropic_sweeps``.
        started_at: When the runner was called.
        ended_at: When the attempt ended.
        elapsed: The attempt's wall time in seconds.
    """

    table: str
    run_id: str
    params: dict[str, Any]
    key_names: list[str] | None
    explicit_id: bool
    attempt: int
    exc_type: str
    message: str
    traceback: str | None
    host: str | None
    pid: int | None
    sweep_id: str | None
    started_at: dt.datetime | None
    ended_at: dt.datetime
    elapsed: float | None

    def to_dict(self) -> dict[str, Any]:
        """The failure as plain data (for JSON output)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempt in a run's history: a failure, or the success that cleared one.

    Attributes:
        attempt: The attempt's number.
        outcome: ``"failed"`` or ``"ok"``.
        exc_type: The exception's class, for a failure.
        message: The exception's text, for a failure.
        traceback: The tail of the traceback, for a failure.
        host: The host it ran on.
        pid: The process it ran in.
        sweep_id: The sweep it belonged to.
        started_at: When the runner was called, if known.
        ended_at: When it ended.
        elapsed: Its wall time in seconds, if known.
    """

    attempt: int
    outcome: str
    exc_type: str | None
    message: str | None
    traceback: str | None
    host: str | None
    pid: int | None
    sweep_id: str | None
    started_at: dt.datetime | None
    ended_at: dt.datetime
    elapsed: float | None

    def to_dict(self) -> dict[str, Any]:
        """The attempt as plain data (for JSON output)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _has_journal(engine: Engine) -> bool:
    return bool(sa_inspect(engine).has_table(failures_table.name))


def _failure(row: Any) -> RecordedFailure:
    return RecordedFailure(
        table=row.table_name,
        run_id=row.run_id,
        params=json.loads(row.params),
        key_names=None if row.key_names is None else list(json.loads(row.key_names)),
        explicit_id=bool(row.explicit_id),
        attempt=int(row.attempt),
        exc_type=row.exc_type,
        message=row.message,
        traceback=row.traceback,
        host=row.host,
        pid=row.pid,
        sweep_id=row.sweep_id,
        started_at=row.started_at,
        ended_at=row.ended_at,
        elapsed=row.elapsed,
    )


def _compare(have: Any, op: str, want: Any) -> bool:
    if want is None or have is None:
        same = have is None and want is None
        return same if op == "=" else (not same if op == "!=" else False)
    try:
        return bool(
            {
                "=": have == want,
                "!=": have != want,
                "<": have < want,
                "<=": have <= want,
                ">": have > want,
                ">=": have >= want,
            }[op]
        )
    except TypeError:  # a text parameter compared with a number: no match
        return False


def matches(params: Mapping[str, Any], conditions: Iterable[Condition]) -> bool:
    """Whether recorded parameters meet every condition (values compared as JSON values)."""
    return all(_compare(params.get(c.column), c.op, to_json(c.value)) for c in conditions)


def list_failures(
    engine: Engine,
    table_name: str,
    conditions: Iterable[Condition] = (),
    *,
    exc_type: str | None = None,
    ids: Sequence[str] | None = None,
    limit: int | None = None,
) -> list[RecordedFailure]:
    """The table's current failures that meet every condition, the latest first.

    Args:
        engine: The database.
        table_name: The entropic table.
        conditions: Comparisons on the parameters.
        exc_type: Only failures with this exception class: its full name or the name after
            the last dot (``ValueError``, ``ZeroDivisionError``, ``mysim.Diverged``).
        ids: Only these runs.
        limit: At most this many.
    """
    if not _has_journal(engine):
        return []
    c = failures_table.c
    query = select(failures_table).where(c.table_name == table_name)
    if exc_type is not None:
        query = query.where((c.exc_type == exc_type) | c.exc_type.endswith("." + exc_type))
    wanted = list(conditions)
    found: list[RecordedFailure] = []
    batches = [None] if ids is None else list(chunks(list(dict.fromkeys(ids))))
    with engine.connect() as conn:
        for batch in batches:
            chosen = query if batch is None else query.where(c.run_id.in_(list(batch)))
            for row in conn.execute(chosen.order_by(c.ended_at.desc(), c.run_id)):
                failure = _failure(row)
                if matches(failure.params, wanted):
                    found.append(failure)
    found.sort(key=lambda f: (f.ended_at, f.run_id), reverse=True)
    return found if limit is None else found[:limit]


def get_failure(engine: Engine, table_name: str, run_id: str) -> RecordedFailure | None:
    """The current failure of run ``run_id``, or ``None``."""
    found = list_failures(engine, table_name, ids=[run_id])
    return found[0] if found else None


def failure_ids_with_prefix(
    engine: Engine, table_name: str, prefix: str, limit: int = 100
) -> list[str]:
    """The ids of current failures that start with ``prefix``, in order."""
    if not _has_journal(engine):
        return []
    c = failures_table.c
    query = (
        select(c.run_id)
        .where(c.table_name == table_name, c.run_id.startswith(prefix, autoescape=True))
        .order_by(c.run_id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [str(i) for i in conn.scalars(query)]


def failure_history(engine: Engine, table_name: str, run_id: str) -> list[AttemptRecord]:
    """Every recorded attempt of run ``run_id``, the first first."""
    if not _has_journal(engine):
        return []
    a = attempts_table.c
    query = (
        select(attempts_table)
        .where(a.table_name == table_name, a.run_id == run_id)
        .order_by(a.ended_at, a.id)
    )
    with engine.connect() as conn:
        return [
            AttemptRecord(
                attempt=int(r.attempt),
                outcome=r.outcome,
                exc_type=r.exc_type,
                message=r.message,
                traceback=r.traceback,
                host=r.host,
                pid=r.pid,
                sweep_id=r.sweep_id,
                started_at=r.started_at,
                ended_at=r.ended_at,
                elapsed=r.elapsed,
            )
            for r in conn.execute(query)
        ]


def forget_failures(engine: Engine, table_name: str, ids: Sequence[str] | None = None) -> int:
    """Clear current failures: of ``ids``, or every one of the table (``None``).

    The history in ``entropic_attempts`` is kept. A forgotten run counts as never failed:
    ``sweep(skip_failed=True)`` starts it again.

    Returns:
        How many current failures were cleared.
    """
    if not _has_journal(engine):
        return 0
    c = failures_table.c
    removed = 0
    with write_connection(engine) as conn:
        if ids is None:
            count = select(func.count()).select_from(failures_table)
            removed = int(conn.execute(count.where(c.table_name == table_name)).scalar_one())
            conn.execute(delete(failures_table).where(c.table_name == table_name))
            return removed
        for batch in chunks(list(dict.fromkeys(ids))):
            result = conn.execute(
                delete(failures_table).where(c.table_name == table_name, c.run_id.in_(list(batch)))
            )
            removed += int(result.rowcount or 0)
    return removed


def rerun_params(failure: RecordedFailure, table: Table) -> dict[str, Any]:
    """The parameter set that runs ``failure`` again, with the values ``table``'s columns take.

    Enums and datetimes come back from their JSON form; a run whose id was given keeps it.
    Only the parameters the id was hashed from are given (the others take their defaults, as
    they did), and recorded parameters the table no longer has are left out.
    """
    keyed = failure.params if failure.key_names is None else failure.key_names
    values = {
        name: from_json(table.c[name], failure.params.get(name))
        for name in keyed
        if name in table.c and name not in RESERVED_COLUMNS
    }
    if failure.explicit_id:
        values["id"] = failure.run_id
    return values
