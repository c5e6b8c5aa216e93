"""Reading records by id: the hot path of every cache hit.

A hit should cost little more than the database lookup itself, so the readers here skip what a
lookup does not need. For SQLite each thread keeps its own connection, detached from the pool,
and runs a prepared statement through the driver, converting values with the column types' own
result processors; other databases go through SQLAlchemy Core. Records are built by filling the
instance's attributes directly and marking it detached, rather than through the constructor's
per-attribute events.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, Final, Generic, TypeVar

from sqlalchemy import Engine, Table, bindparam, select

from entropic.schema import CustomData, UTCDateTime

__all__ = ["CHUNK", "Reader", "RecordFactory"]

#: Ids looked up per query.
CHUNK: Final = 500

T = TypeVar("T")


def _sqlite_utc(value: str | None) -> dt.datetime | None:
    """SQLite keeps UTCDateTime values as naive UTC text; read them back as aware UTC."""
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(value + "+00:00")  # one call, and the UTC singleton
    except ValueError:  # a value written with an offset by another tool
        parsed = dt.datetime.fromisoformat(value)
        return parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _sqlite_custom_data(value: str | None) -> CustomData | None:
    """custom_data as SQLite keeps it (JSON text), straight into its mutable type."""
    if value is None:
        return None
    if value == "{}":  # most records: skip the parser
        return CustomData()
    return CustomData(json.loads(value))


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
        self._id_index = columns.index("id")
        self._custom_index = columns.index("custom_data")
        self._custom_name = self.names[self._custom_index]
        self._state_of = self._manager.state_getter()
        # The "load" event wraps JSON values in their mutable types. Base's custom_data always
        # listens to it; when that is the only listener (a model without mutable columns or
        # load hooks of its own), its work is done here directly, otherwise the event fires.
        self._fire_load = len(list(self._manager.dispatch.load)) != 1

    def __call__(self, values: Sequence[Any]) -> T:
        # What the ORM does when a query loads a row, minus the query: fill the instance's
        # dict, wrap custom_data in its mutable type, and give the instance its identity key,
        # which makes it detached.
        obj: T = self._manager.new_instance()
        state = self._state_of(obj)
        state.dict.update(zip(self.names, values, strict=True))
        data = values[self._custom_index]
        if type(data) is not CustomData:
            data = CustomData(data or ())
            state.dict[self._custom_name] = data
        if self._fire_load:
            self._manager.dispatch.load(state, None)
        else:
            data._parents[state] = self._custom_name
        state.key = self._mapper.identity_key_from_primary_key((values[self._id_index],))
        return obj

    def from_mapping(self, row: Any) -> T:
        """Build a record from a mapping of attribute names to values."""
        return self([row.get(name) for name in self.names])


class Reader:
    """Fetches rows by id, as tuples in the table's column order."""

    def __init__(self, engine: Engine, table: Table) -> None:
        self.engine = engine
        self.table = table
        self._by_ids = select(table).where(table.c.id.in_(bindparam("ids", expanding=True)))
        self._by_id = select(table).where(table.c.id == bindparam("id"))
        self._sqlite = engine.dialect.name == "sqlite" and engine.url.database not in (
            None,
            "",
            ":memory:",
        )
        self._local = threading.local()
        self._lock = threading.Lock()
        self._raw: list[Any] = []
        if self._sqlite:
            dialect = engine.dialect
            quote = dialect.identifier_preparer.quote
            columns = ", ".join(quote(c.name) for c in table.columns)
            source = dialect.identifier_preparer.format_table(table)
            self._sql_select = f"SELECT {columns} FROM {source} WHERE {quote('id')}"
            self._processors: list[tuple[int, Callable[[Any], Any]]] = []
            for i, column in enumerate(table.columns):
                if isinstance(column.type, UTCDateTime):
                    processor: Any = _sqlite_utc
                elif column.name == "custom_data":
                    processor = _sqlite_custom_data
                else:
                    processor = column.type.dialect_impl(dialect).result_processor(dialect, None)
                if processor is not None:
                    self._processors.append((i, processor))

    # -------------------------------------------------------------- SQLite, through the driver

    def _cursor(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():  # new thread, or a forked child
            self._local.pid = os.getpid()
            proxied = self.engine.raw_connection()
            proxied.detach()  # this thread's own; not returned to the pool
            conn = proxied.dbapi_connection
            assert conn is not None
            self._local.conn = conn
            with self._lock:
                self._raw.append(conn)
        return conn.cursor()

    def _process(self, rows: list[Any]) -> list[Any]:
        if not self._processors:
            return rows
        out = []
        for row in rows:
            values = list(row)
            for i, processor in self._processors:
                values[i] = processor(values[i])
            out.append(values)
        return out

    # -------------------------------------------------------------- the interface

    def one(self, run_id: str) -> Sequence[Any] | None:
        """The row with id ``run_id``, or ``None``."""
        if self._sqlite:
            cursor = self._cursor()
            try:
                row = cursor.execute(self._sql_select + " = ?", (run_id,)).fetchone()
            finally:
                cursor.close()
            return None if row is None else self._process([row])[0]
        with self.engine.connect() as conn:
            found = conn.execute(self._by_id, {"id": run_id}).first()
        return None if found is None else tuple(found)

    def many(self, ids: Sequence[str]) -> list[Sequence[Any]]:
        """The rows whose id is in ``ids`` (any order; missing ids are left out)."""
        rows: list[Sequence[Any]] = []
        if self._sqlite:
            cursor = self._cursor()
            try:
                for start in range(0, len(ids), CHUNK):
                    chunk = list(ids[start : start + CHUNK])
                    marks = ",".join("?" * len(chunk))
                    found = cursor.execute(f"{self._sql_select} IN ({marks})", chunk).fetchall()
                    rows.extend(self._process(found))
            finally:
                cursor.close()
            return rows
        with self.engine.connect() as conn:
            for start in range(0, len(ids), CHUNK):
                chunk = list(ids[start : start + CHUNK])
                rows.extend(tuple(r) for r in conn.execute(self._by_ids, {"ids": chunk}))
        return rows

    def close(self) -> None:
        """Close the SQLite connections the threads opened."""
        with self._lock:
            raw, self._raw = self._raw, []
        for conn in raw:
            with contextlib.suppress(Exception):  # a finished thread's connection may be gone
                conn.close()
        self._local = threading.local()
