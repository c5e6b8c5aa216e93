"""Database plumbing for the Store: engines, internal tables and upserts."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    insert,
    select,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.pool import StaticPool

__all__ = [
    "SQLITE_BUSY_TIMEOUT_MS",
    "make_engine",
    "meta_table",
    "params_table",
    "upsert",
    "write_connection",
]

logger = logging.getLogger(__name__)

#: How long a SQLite connection waits for another writer before giving up.
SQLITE_BUSY_TIMEOUT_MS: Final = 60_000

_WRITE: Final = "entropic_write"

internal_metadata = MetaData()

#: Key/value facts about each entropic table (its hash scheme, the version that created it).
meta_table: Final = Table(
    "entropic_meta",
    internal_metadata,
    Column("table_name", String(128), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("value", String(255), nullable=False),
)

#: The kind of each parameter column of each entropic table, as its model declares it (see
#: ``entropic._kinds``): what a reflected table cannot tell, such as an enum's members.
params_table: Final = Table(
    "entropic_params",
    internal_metadata,
    Column("table_name", String(128), primary_key=True),
    Column("param", String(128), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("detail", Text(), nullable=True),
)


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


def read_meta(conn: Connection, table_name: str) -> dict[str, str]:
    """The facts recorded about ``table_name``."""
    rows = conn.execute(
        select(meta_table.c.key, meta_table.c.value).where(meta_table.c.table_name == table_name)
    )
    return {str(key): str(value) for key, value in rows}


def ensure_meta(engine: Engine, table_name: str, facts: Mapping[str, str]) -> dict[str, str]:
    """Record ``facts`` that are not recorded yet and return what is recorded."""
    with engine.connect() as conn:
        known = read_meta(conn, table_name)
    missing = {k: v for k, v in facts.items() if k not in known}
    if missing:
        try:
            with write_connection(engine) as conn:
                conn.execute(
                    insert(meta_table),
                    [{"table_name": table_name, "key": k, "value": v} for k, v in missing.items()],
                )
        except IntegrityError:
            pass  # another process recorded them first
        with engine.connect() as conn:
            known = read_meta(conn, table_name)
    return known


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
