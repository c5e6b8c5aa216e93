"""Records: the one place that builds model instances and the rows behind them.

Every record the Store returns is built here, from a row read back (:class:`RecordFactory`) or
from the values just written (:func:`run_row`, :func:`row_of`); the row of a run is built here
too, so a record and its row never disagree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Generic, TypeVar

from sqlalchemy import Engine, Table

from entropic._reading import Reader
from entropic.running import RunOutcome, RunTask
from entropic.schema import CustomData

__all__ = ["PROVENANCE", "RecordFactory", "Records", "row_of", "run_row"]

T = TypeVar("T")

#: The key under which a row carries its provenance to the Writer, which stores it in
#: ``entropic_provenance`` and never in the user's table (no column can have this name).
PROVENANCE: Final = "entropic:provenance"


def row_of(
    values: Mapping[str, Any],
    run_id: str,
    result_file: str,
    created_at: dt.datetime,
    custom_data: Mapping[str, Any],
    provenance: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The row of one run: its parameter values, the four reserved columns and its provenance."""
    row = {
        **values,
        "id": run_id,
        "result_file": result_file,
        "created_at": created_at,
        "custom_data": dict(custom_data),
    }
    if provenance is not None:
        row[PROVENANCE] = provenance
    return row


def run_row(task: RunTask, outcome: RunOutcome) -> dict[str, Any]:
    """The row of a run that ``task`` planned and ``outcome`` reports as finished."""
    return row_of(
        task.params,
        task.id,
        task.result_file,
        outcome.created_at,
        outcome.custom_data,
        outcome.provenance,
    )


class RecordFactory(Generic[T]):
    """Builds detached model instances from rows in the table's column order."""

    def __init__(self, cls: type[T], table: Table) -> None:
        from sqlalchemy import inspect
        from sqlalchemy.orm import configure_mappers

        configure_mappers()
        mapper = inspect(cls)
        self._cls = cls
        self._mapper = mapper
        self._manager = mapper.class_manager
        self.names = [mapper.get_property_by_column(c).key for c in table.columns]
        columns = [c.name for c in table.columns]
        self.id_index = columns.index("id")
        self._custom_index = columns.index("custom_data")
        self._custom_name = self.names[self._custom_index]
        self._state_of = self._manager.state_getter()
        self._dict_of = self._manager.dict_getter()  # the instance's __dict__, without a weakref
        self._identity_class = mapper._identity_class
        # The "load" event wraps JSON values in their mutable types. Base's custom_data always
        # listens to it; when that is the only listener (a model without mutable columns or
        # load hooks of its own), its work is done here directly, otherwise the event fires.
        self._fire_load = len(list(self._manager.dispatch.load)) != 1

    def __call__(
        self, values: Sequence[Any], converters: Sequence[tuple[int, Callable[[Any], Any]]] = ()
    ) -> T:
        """Build the record of ``values``, a row in the table's column order.

        ``converters`` are ``(column index, function)`` pairs applied to the row's values on the
        way in (the reader's result processors), which saves converting the row separately.
        """
        # What the ORM does when a query loads a row, minus the query: fill the instance's
        # dict, wrap custom_data in its mutable type, and give the instance its identity key,
        # which makes it detached.
        obj: T = self._manager.new_instance()
        state = self._state_of(obj)
        attributes = self._dict_of(obj)
        names = self.names
        attributes.update(zip(names, values, strict=False))  # one per column, by construction
        for i, convert in converters:
            attributes[names[i]] = convert(values[i])
        data = attributes[self._custom_name]
        if type(data) is not CustomData:
            data = CustomData(data or ())
            attributes[self._custom_name] = data
        if self._fire_load:
            self._manager.dispatch.load(state, None)
        else:
            data.attach(state, self._custom_name)
        # what Mapper.identity_key_from_primary_key builds, without its call
        state.key = (self._identity_class, (values[self.id_index],), None)
        return obj

    def from_mapping(self, row: Any) -> T:
        """Build a record from a mapping of attribute names to values."""
        return self([row.get(name) for name in self.names])


class Records(Generic[T]):
    """Stored records by id: the reader and the factory together.

    Args:
        engine: The Store's engine.
        table: The model's table.
        model: The model class.
    """

    def __init__(self, engine: Engine, table: Table, model: type[T]) -> None:
        self.reader = Reader(engine, table)
        self.make: RecordFactory[T] = RecordFactory(model, table)

    def fetch(self, ids: Sequence[str]) -> dict[str, T]:
        """The stored records among ``ids``, by id."""
        make, at = self.make, self.make.id_index
        rows, converters = self.reader.many(ids)
        return {row[at]: make(row, converters) for row in rows}

    def fetch_one(self, run_id: str) -> T | None:
        """The stored record ``run_id``, or ``None``."""
        row = self.reader.one(run_id)
        return None if row is None else self.make(row)

    def from_row(self, row: Mapping[str, Any]) -> T:
        """The record of a row just written."""
        return self.make.from_mapping(row)

    def close(self) -> None:
        """Close the reader's connections."""
        self.reader.close()
