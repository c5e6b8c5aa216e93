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

from entropic._db import chunks, is_outage, patiently
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
    """Fetches rows by id, as tuples in the table's column order.

    On SQLite and on PostgreSQL through psycopg 3, each thread reads through a connection of its
    own, detached from the pool: SQLite with the driver's cached statements, PostgreSQL in
    autocommit with server-side prepared statements, so a hit is one round trip (no ping, no
    ``BEGIN``/``ROLLBACK``). Values are converted with the column types' own result processors,
    as SQLAlchemy would. Other databases go through SQLAlchemy Core.
    """

    def __init__(self, engine: Engine, table: Table) -> None:
        self.engine = engine
        self.table = table
        self._by_ids = select(table).where(table.c.id.in_(bindparam("ids", expanding=True)))
        self._by_id = select(table).where(table.c.id == bindparam("id"))
        dialect = engine.dialect
        self._driver: str | None = None
        if dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
            self._driver = "sqlite"
        elif dialect.name == "postgresql" and dialect.driver == "psycopg":
            self._driver = "psycopg"
        self._local = threading.local()
        self._lock = threading.Lock()
        self._raw: list[Any] = []
        #: Each column's result processor, built from the first cursor's description.
        self._processors: list[tuple[int, Callable[[Any], Any]]] | None = None
        if self._driver is not None:
            quote = dialect.identifier_preparer.quote
            columns = ", ".join(quote(c.name) for c in table.columns)
            source = dialect.identifier_preparer.format_table(table)
            where = f"SELECT {columns} FROM {source} WHERE {quote('id')}"
            if self._driver == "sqlite":
                self._sql_one = where + " = ?"
                self._sql_many = where + " IN ({marks})"
            else:
                self._sql_one = where + " = %s"
                self._sql_many = where + " = ANY(%s)"

    # -------------------------------------------------------------- through the driver

    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():  # new thread, or a forked child
            self._local.pid = os.getpid()
            proxied = self.engine.raw_connection()
            proxied.detach()  # this thread's own; not returned to the pool
            conn = proxied.dbapi_connection
            assert conn is not None
            if self._driver == "psycopg":
                conn.rollback()
                conn.autocommit = True
            self._local.conn = conn
            with self._lock:
                self._raw.append(conn)
        return conn

    def _forget_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._lock:
                if conn in self._raw:
                    self._raw.remove(conn)
            with contextlib.suppress(Exception):
                conn.close()

    def _query(self, sql: str, args: Any, many: bool, convert: bool = True) -> list[Any]:
        """Run one statement on this thread's connection; once more on a fresh one if it broke."""
        for attempt in (1, 2):
            conn = self._connection()
            try:
                cursor = conn.cursor()
                try:
                    if self._driver == "psycopg":
                        cursor.execute(sql, args, prepare=True)
                    else:
                        cursor.execute(sql, args)
                    rows: list[Any] = cursor.fetchall() if many else [cursor.fetchone()]
                    if self._processors is None:
                        self._processors = self._build_processors(cursor.description)
                finally:
                    cursor.close()
            except Exception:
                broke = self._driver == "psycopg" and bool(
                    getattr(conn, "broken", False) or getattr(conn, "closed", False)
                )
                if broke:
                    self._forget_connection()
                if attempt == 2 or not broke:
                    raise
                self._forget_connection()  # the server went away: reconnect once
                continue
            found = rows if many else [r for r in rows if r is not None]
            return self._process(found) if convert else found
        raise AssertionError("unreachable")  # pragma: no cover

    def _build_processors(self, description: Any) -> list[tuple[int, Callable[[Any], Any]]]:
        """What SQLAlchemy would do to each column's value, given the driver's type codes."""
        dialect = self.engine.dialect
        found: list[tuple[int, Callable[[Any], Any]]] = []
        for i, column in enumerate(self.table.columns):
            processor: Any
            if self._driver == "sqlite" and isinstance(column.type, UTCDateTime):
                processor = _sqlite_utc
            elif self._driver == "sqlite" and column.name == "custom_data":
                processor = sqlite_custom_data
            else:
                code = description[i][1] if description is not None else None
                processor = column.type.dialect_impl(dialect).result_processor(dialect, code)
            if processor is not None:
                found.append((i, processor))
        return found

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
        """The row with id ``run_id``, or ``None`` (waiting through an outage)."""
        try:  # the hit path: the outage handling costs nothing until something fails
            return self._one(run_id)
        except Exception as exc:
            if not is_outage(exc):
                raise
        return patiently(lambda: self._one(run_id))

    def many(
        self, ids: Sequence[str]
    ) -> tuple[list[Sequence[Any]], Sequence[tuple[int, Callable[[Any], Any]]]]:
        """The rows whose id is in ``ids`` (any order; missing ids are left out), unconverted.

        The values are as the driver gave them, with the conversions they need as
        ``(column index, function)`` pairs: the caller, which copies each row into a record
        anyway, applies them as it goes instead of converting every row first.
        """
        try:
            rows = self._many(ids, convert=False)
        except Exception as exc:
            if not is_outage(exc):
                raise
            rows = patiently(lambda: self._many(ids, convert=False))
        return rows, (self._processors or ()) if self._driver is not None else ()

    def _one(self, run_id: str) -> Sequence[Any] | None:
        if self._driver == "sqlite":
            return self._one_sqlite(run_id)
        if self._driver is not None:
            found = self._query(self._sql_one, (run_id,), many=False)
            return found[0] if found else None
        with self.engine.connect() as conn:
            row = conn.execute(self._by_id, {"id": run_id}).first()
        return None if row is None else tuple(row)

    def _one_sqlite(self, run_id: str) -> Sequence[Any] | None:
        # The cache hit on SQLite, kept flat: one statement on this thread's connection (the
        # driver reuses its compiled form), the row converted in place. SQLite needs no
        # reconnecting, so the retry of _query is not taken here.
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is None or local.pid != os.getpid():
            conn = self._connection()
        row = conn.execute(self._sql_one, (run_id,)).fetchone()
        if row is None:
            return None
        processors = self._processors
        if processors is None:
            processors = self._processors = self._build_processors(None)
        values = list(row)
        for i, processor in processors:
            values[i] = processor(values[i])
        return values

    def _many(self, ids: Sequence[str], convert: bool = True) -> list[Sequence[Any]]:
        rows: list[Sequence[Any]] = []
        if self._driver == "sqlite":
            for chunk in chunks(ids):
                sql = self._sql_many.format(marks=",".join("?" * len(chunk)))
                rows.extend(self._query(sql, list(chunk), True, convert))
            return rows
        if self._driver == "psycopg":
            for chunk in chunks(ids):
                rows.extend(self._query(self._sql_many, (list(chunk),), True, convert))
            return rows
        with self.engine.connect() as conn:
            for chunk in chunks(ids):
                rows.extend(tuple(r) for r in conn.execute(self._by_ids, {"ids": list(chunk)}))
        return rows

    def close(self) -> None:
        """Close the connections the threads opened."""
        with self._lock:
            raw, self._raw = self._raw, []
        for conn in raw:
            with contextlib.suppress(Exception):  # a finished thread's connection may be gone
                conn.close()
        self._local = threading.local()
