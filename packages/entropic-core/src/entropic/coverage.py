"""How much of a sweep is done: counts of stored, failed and running runs over two parameters.

:func:`coverage` counts stored runs with one ``GROUP BY`` in the database, and adds the current
failures (``entropic_failures``) and the runs in progress (``entropic_running`` rows that a live
claim covers), whose parameters entropic keeps as JSON. Values are compared as JSON values
(enums by value, datetimes as ISO text), so a stored run and a failed one with the same
parameters land in the same cell.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, Table, and_, func, select
from sqlalchemy import inspect as sa_inspect

from entropic._internal import claims_table, failures_table, running_table
from entropic._json import to_json
from entropic.schema import RESERVED_COLUMNS

__all__ = ["Cell", "Coverage", "coverage", "value_order"]


@dataclass(frozen=True, slots=True)
class Cell:
    """The runs of one cell of a coverage table.

    Attributes:
        done: Stored runs.
        failed: Runs whose last attempt failed.
        running: Runs in progress.
    """

    done: int = 0
    failed: int = 0
    running: int = 0

    @property
    def empty(self) -> bool:
        """Whether nothing is stored, failed or running there: a hole."""
        return not (self.done or self.failed or self.running)


@dataclass(frozen=True)
class Coverage:
    """Counts of runs over one or two parameters.

    Attributes:
        table: The entropic table.
        by: The parameters: rows, then columns (one parameter: rows only).
        rows: The values of the first parameter that occur, in order.
        columns: The values of the second parameter that occur, in order (``[None]`` when
            there is only one parameter).
        cells: The counts of each (row, column) pair that occurs.
    """

    table: str
    by: tuple[str, ...]
    rows: list[Any]
    columns: list[Any]
    cells: dict[tuple[Any, Any], Cell] = field(default_factory=dict)

    def cell(self, row: Any, column: Any = None) -> Cell:
        """The counts at ``row`` and ``column`` (zeros for a hole)."""
        return self.cells.get((row, column), Cell())

    @property
    def holes(self) -> int:
        """Cells of the table with nothing stored, failed or running."""
        return sum(self.cell(r, c).empty for r in self.rows for c in self.columns)

    def records(self) -> list[dict[str, Any]]:
        """One dict per cell of the table (holes included), row by row."""
        found = []
        for row in self.rows:
            for column in self.columns:
                cell = self.cell(row, column)
                entry = {self.by[0]: row}
                if len(self.by) > 1:
                    entry[self.by[1]] = column
                entry.update(done=cell.done, failed=cell.failed, running=cell.running)
                found.append(entry)
        return found

    def to_dict(self) -> dict[str, Any]:
        """The table as plain data (for JSON output)."""
        return {
            "table": self.table,
            "by": list(self.by),
            "rows": list(self.rows),
            "columns": list(self.columns) if len(self.by) > 1 else [],
            "holes": self.holes,
            "cells": self.records(),
        }


def value_order(value: Any) -> tuple[int, Any]:
    """A sort key for JSON values of one parameter: nothing, booleans, numbers, text, the rest."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, int | float):
        return (2, value)
    if isinstance(value, str):
        return (3, value)
    return (4, json.dumps(value, sort_keys=True))


def _key(value: Any) -> Any:
    """A JSON value that can be a dict key (lists and objects as their JSON text)."""
    value = to_json(value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


def _add(counts: dict[tuple[Any, Any], list[int]], key: tuple[Any, Any], slot: int, n: int) -> None:
    counts.setdefault(key, [0, 0, 0])[slot] += n


def _from_json(texts: Iterable[str], by: Sequence[str]) -> Iterable[tuple[Any, Any]]:
    for text in texts:
        try:
            params = json.loads(text)
        except ValueError:
            continue
        yield (
            _key(params.get(by[0])),
            _key(params.get(by[1])) if len(by) > 1 else None,
        )


def coverage(
    engine: Engine, table: Table, by: Sequence[str], *, now: dt.datetime | None = None
) -> Coverage:
    """Count the table's stored, failed and running runs over one or two parameters.

    Args:
        engine: The store's database.
        table: The entropic table (the model's, or a reflected one).
        by: One or two parameter columns: the rows, then the columns of the table.
        now: The moment claims are judged live at (the current time by default).

    Raises:
        ValueError: ``by`` does not name one or two parameter columns of ``table``.
    """
    names = tuple(by)
    if not 1 <= len(names) <= 2 or len(set(names)) != len(names):
        raise ValueError(f"coverage needs one or two different parameters, not {list(names)}")
    for name in names:
        if name not in table.c or name in RESERVED_COLUMNS:
            params = [c.name for c in table.columns if c.name not in RESERVED_COLUMNS]
            raise ValueError(
                f"{name!r} is not a parameter of {table.name}; its parameters: {', '.join(params)}"
            )
    now = now or dt.datetime.now(dt.UTC)
    counts: dict[tuple[Any, Any], list[int]] = {}
    columns = [table.c[n] for n in names]
    existing = set(sa_inspect(engine).get_table_names())
    with engine.connect() as conn:
        query = select(*columns, func.count()).group_by(*columns)
        for *values, n in conn.execute(query):
            key = (_key(values[0]), _key(values[1]) if len(values) > 1 else None)
            _add(counts, key, 0, int(n))
        if failures_table.name in existing:
            f = failures_table.c
            texts = conn.scalars(select(f.params).where(f.table_name == table.name))
            for key in _from_json(texts, names):
                _add(counts, key, 1, 1)
        if running_table.name in existing and claims_table.name in existing:
            r, c = running_table.c, claims_table.c
            query = (
                select(r.params)
                .join(claims_table, and_(c.table_name == r.table_name, c.run_id == r.run_id))
                .where(r.table_name == table.name, c.expires_at > now)
            )
            for key in _from_json(conn.scalars(query), names):
                _add(counts, key, 2, 1)
    rows = sorted({k[0] for k in counts}, key=value_order)
    cols = sorted({k[1] for k in counts}, key=value_order) if len(names) > 1 else [None]
    cells = {k: Cell(*v) for k, v in counts.items()}
    return Coverage(table.name, names, rows, cols, cells)
