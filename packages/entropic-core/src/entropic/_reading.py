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
from typing import Any

from sqlalchemy import Engine, Table, bindparam, select

from entropic._db import chunks
from entropic.schema import CustomData, UTCDateTime

__all__ = ["Reader", "sqlite_custom_data"]


def _sqlite_utc(value: str | None) -> dt.datetime | None:
    """SQLite keeps UTCDateTime values as naive UTC text; read them back as aware UTC."""
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(value + "+00:00")  # one call, and the UTC singleton
    except ValueError:  # a value written with an offset by another tool
        parsed = dt.datetime.fromisoformat(value)
        return parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def sqlite_custom_data(value: str | None) -> CustomData | None:
    """custom_data as SQLite keeps it (JSON text), straight into its mutable type."""
    if value is None:
        return None
    if value == "{}":  # most records: skip the parser
        return CustomData()
    return CustomData(json.loads(value))


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
                    processor = sqlite_custom_data
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
                for chunk in chunks(ids):
                    marks = ",".join("?" * len(chunk))
                    found = cursor.execute(
                        f"{self._sql_select} IN ({marks})", list(chunk)
                    ).fetchall()
                    rows.extend(self._process(found))
            finally:
                cursor.close()
            return rows
        with self.engine.connect() as conn:
            for chunk in chunks(ids):
                rows.extend(tuple(r) for r in conn.execute(self._by_ids, {"ids": list(chunk)}))
        return rows

    def close(self) -> None:
        """Close the SQLite connections the threads opened."""
        with self._lock:
            raw, self._raw = self._raw, []
        for conn in raw:
            with contextlib.suppress(Exception):  # a finished thread's connection may be gone
                conn.close()
        self._local = threading.local()
