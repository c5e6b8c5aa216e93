"""Database plumbing: engines, write transactions, table creation and upserts."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    create_engine,
    delete,
    event,
    insert,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.pool import StaticPool

__all__ = [
    "CHUNK",
    "SQLITE_BUSY_TIMEOUT_MS",
    "chunks",
    "create_tables",
    "make_engine",
    "upsert",
    "write_connection",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: How long a SQLite connection waits for another writer before giving up.
SQLITE_BUSY_TIMEOUT_MS: Final = 60_000

_WRITE: Final = "entropic_write"

#: Ids per statement wherever a list of ids goes into one query (``IN``), and rows per fetch.
CHUNK: Final = 500


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A writer takes the write lock up front: upgrading a read transaction to a write one
        # fails at once with "database is locked" when another process wrote in between, while
        # BEGIN IMMEDIATE waits for the busy timeout instead.
        if conn.get_execution_options().get(_WRITE):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def make_engine(db_url: str | URL) -> Engine:
    """Create the Store's engine, with SQLite set up for many threads and processes.

    SQLite gets WAL journaling, a busy timeout and ``BEGIN IMMEDIATE`` for writes; an in-memory
    SQLite database is one connection shared by the Store's threads.
    """
    url = make_url(db_url)
    kwargs: dict[str, Any] = {}
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:"):
            kwargs["poolclass"] = StaticPool
            kwargs["connect_args"] = {"check_same_thread": False}
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    if url.get_backend_name() in ("mysql", "mariadb"):
        kwargs["pool_recycle"] = 3600
    return create_engine(url, pool_pre_ping=True, **kwargs)


@contextmanager
def write_connection(engine: Engine) -> Iterator[Connection]:
    """A connection in a write transaction, committed when the block ends."""
    with engine.connect() as conn:
        conn.execution_options(**{_WRITE: True})
        with conn.begin():
            yield conn


def create_tables(engine: Engine, tables: Sequence[Table]) -> None:
    """Create the tables that are missing, tolerating another process doing the same."""
    for attempt in range(3):
        try:
            with write_connection(engine) as conn:
                for table in tables:
                    table.create(conn, checkfirst=True)
            return
        except (IntegrityError, ProgrammingError, OperationalError) as exc:
            # Two processes creating one table at once: one of them loses; look again.
            if attempt == 2:
                raise
            logger.debug("retrying table creation after %s", exc)


def upsert(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows``, replacing any row with the same primary key."""
    if not rows:
        return
    name = conn.dialect.name
    key = [c.name for c in table.primary_key.columns]
    others = [c.name for c in table.columns if c.name not in key]
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        lstmt = sqlite_insert(table)
        lstmt = lstmt.on_conflict_do_update(
            index_elements=key, set_={c: lstmt.excluded[c] for c in others}
        )
        conn.execute(lstmt, list(rows))
    elif name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        pstmt = pg_insert(table)
        pstmt = pstmt.on_conflict_do_update(
            index_elements=key, set_={c: pstmt.excluded[c] for c in others}
        )
        conn.execute(pstmt, list(rows))
    elif name in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        mstmt = mysql_insert(table)
        mstmt = mstmt.on_duplicate_key_update({c: mstmt.inserted[c] for c in others})
        conn.execute(mstmt, list(rows))
    else:
        id_col = table.primary_key.columns[key[0]]
        conn.execute(delete(table).where(id_col.in_([r[key[0]] for r in rows])))
        conn.execute(insert(table), list(rows))
