"""Database plumbing: engines, write transactions, table creation and upserts."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
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
from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.pool import StaticPool

from entropic.errors import DatabaseUnavailableError

__all__ = [
    "CHUNK",
    "SQLITE_BUSY_TIMEOUT_MS",
    "chunks",
    "create_tables",
    "execute_rows",
    "is_outage",
    "outage_began",
    "outage_ended",
    "is_transient",
    "patiently",
    "transact",
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


#: Seconds to wait for a database server to accept a connection.
CONNECT_TIMEOUT: Final = 10
#: Seconds a statement waits for a lock another transaction holds before it fails.
LOCK_TIMEOUT: Final = 60
#: Seconds a MySQL/MariaDB client waits for an answer before it gives up (a frozen server).
MYSQL_READ_TIMEOUT: Final = 600


def _server_defaults(url: URL) -> dict[str, Any]:
    """Connection settings for a server dialect, unless the URL sets them itself."""
    query = url.query
    args: dict[str, Any] = {}
    backend = url.get_backend_name()
    if backend == "postgresql" and url.get_driver_name() in ("psycopg", "psycopg2", ""):
        if "connect_timeout" not in query:
            args["connect_timeout"] = CONNECT_TIMEOUT
        if "options" not in query:
            # UTC sessions (naive timestamps are read and written as UTC wall time) and lock
            # waits that end in an error instead of hanging
            args["options"] = f"-c timezone=UTC -c lock_timeout={LOCK_TIMEOUT * 1000}"
    elif backend in ("mysql", "mariadb") and url.get_driver_name() in ("pymysql", "mysqldb", ""):
        if "connect_timeout" not in query:
            args["connect_timeout"] = CONNECT_TIMEOUT
        if "read_timeout" not in query and url.get_driver_name() == "pymysql":
            args["read_timeout"] = MYSQL_READ_TIMEOUT
        if "init_command" not in query:
            args["init_command"] = (
                f"SET time_zone = '+00:00', innodb_lock_wait_timeout = {LOCK_TIMEOUT}"
            )
    return args


def make_engine(db_url: str | URL, options: Mapping[str, Any] | None = None) -> Engine:
    """Create the Store's engine, with SQLite set up for many threads and processes.

    SQLite gets WAL journaling, a busy timeout and ``BEGIN IMMEDIATE`` for writes; an in-memory
    SQLite database is one connection shared by the Store's threads. PostgreSQL and
    MySQL/MariaDB get a connect timeout of :data:`CONNECT_TIMEOUT` seconds, lock waits that
    fail after :data:`LOCK_TIMEOUT` seconds, and UTC sessions; a setting given in the URL's
    query wins. ``options`` are passed to :func:`sqlalchemy.create_engine` and win over all of
    these (``connect_args`` are merged).
    """
    url = make_url(db_url)
    kwargs: dict[str, Any] = {}
    extra = dict(options or {})
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:"):
            kwargs["poolclass"] = StaticPool
            kwargs["connect_args"] = {"check_same_thread": False}
        kwargs["connect_args"] = {**kwargs.get("connect_args", {}), **extra.pop("connect_args", {})}
        engine = create_engine(url, **{**kwargs, **extra})
        _configure_sqlite(engine)
        return engine
    if url.get_backend_name() in ("mysql", "mariadb"):
        kwargs["pool_recycle"] = 3600
    kwargs["connect_args"] = {**_server_defaults(url), **extra.pop("connect_args", {})}
    kwargs["pool_pre_ping"] = True
    return create_engine(url, **{**kwargs, **extra})


@contextmanager
def write_connection(engine: Engine) -> Iterator[Connection]:
    """A connection in a write transaction, committed when the block ends."""
    with engine.connect() as conn:
        conn.execution_options(**{_WRITE: True})
        with conn.begin():
            yield conn


#: SQLSTATEs of a transaction the server chose to abort so another could go on (PostgreSQL).
_RETRY_SQLSTATES: Final = frozenset({"40001", "40P01"})
#: MySQL/MariaDB error numbers of the same: a deadlock, a lock wait that timed out.
_RETRY_MYSQL: Final = frozenset({1213, 1205})
#: How often a transaction the server aborted for another's sake is tried again.
RETRIES: Final = 6


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a deadlock or serialisation failure that trying again resolves."""
    orig = getattr(exc, "orig", None)
    if orig is None:
        return False
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if state in _RETRY_SQLSTATES:
        return True
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    return bool(args) and args[0] in _RETRY_MYSQL


#: How long one operation waits through a database outage before it gives up.
OUTAGE_PATIENCE: Final = 60.0
#: The longest pause between two tries during an outage.
OUTAGE_MOST_PAUSE: Final = 10.0

_outage_lock = threading.Lock()
_outage_since: list[float] = []  # when the current outage began, for one warning each way


#: MySQL client errors of a connection that failed or was lost.
_MYSQL_GONE: Final = frozenset({2002, 2003, 2006, 2013, 2055})


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached or is busy, not that a row is bad.

    A lock wait that timed out, or a statement the server cancelled, is not an outage: it is
    raised as it is, at once.
    """
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    orig = getattr(exc, "orig", exc)
    state = getattr(orig, "sqlstate", None)
    if isinstance(state, str):  # PostgreSQL: connection exceptions, or the server going down
        return state.startswith("08") or state in ("57P01", "57P02", "57P03")
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int) and type(orig).__module__.startswith("pymysql"):
        return args[0] in _MYSQL_GONE
    if isinstance(exc, OperationalError | InterfaceError | TimeoutError | ConnectionError):
        return True
    # psycopg raised by a raw connection the Reader holds (not wrapped by SQLAlchemy)
    return type(exc).__name__ in ("OperationalError", "InterfaceError", "AdminShutdown")


def outage_began(exc: BaseException) -> None:
    """Say once per outage, for the whole process, that the database cannot be reached."""
    with _outage_lock:
        if _outage_since:
            return
        _outage_since.append(time.monotonic())
    logger.warning(
        "the database cannot be reached (%s: %s); finished runs wait on disk, and entropic "
        "waits for it (up to %.0f s a step) with growing pauses",
        type(exc).__name__,
        str(exc).strip().splitlines()[0] if str(exc).strip() else "",
        OUTAGE_PATIENCE,
    )


def outage_ended() -> None:
    """Say once that the database answers again, when an outage was announced."""
    if not _outage_since:
        return
    with _outage_lock:
        if not _outage_since:
            return
        began = _outage_since.pop()
    logger.warning("the database answers again after %.1f s", time.monotonic() - began)


def patiently(work: Callable[[], T], patience: float = OUTAGE_PATIENCE) -> T:
    """Run ``work``, trying again with a growing pause while the database cannot be reached.

    One warning when an outage begins and one when it ends, for the whole process.

    Raises:
        DatabaseUnavailableError: The database did not answer within ``patience`` seconds.
    """
    pause = 0.1
    give_up = time.monotonic() + patience
    while True:
        try:
            result = work()
        except Exception as exc:
            if not is_outage(exc):
                raise
            outage_began(exc)
            if time.monotonic() + pause > give_up:
                raise DatabaseUnavailableError(
                    f"the database did not answer for {patience:.0f} s "
                    f"({type(exc).__name__}: {str(exc).strip()[:200]})"
                ) from exc
            time.sleep(pause)
            pause = min(pause * 2, OUTAGE_MOST_PAUSE)
            continue
        outage_ended()
        return result


def transact(engine: Engine, work: Callable[[Connection], T], *, patient: bool = True) -> T:
    """Run ``work`` in a write transaction, again when the server aborts it for a deadlock.

    Writers take their locks in one global order (ids sorted), so deadlocks should not happen;
    a server may still abort a transaction to resolve lock contention, and then it is retried
    after a short random pause, up to :data:`RETRIES` times. With ``patient``, an outage is
    waited through (see :func:`patiently`); without, its error is raised at once (the batch
    writer keeps its rows and retries on its own).
    """

    def attempt_all() -> T:
        for attempt in range(RETRIES):
            try:
                with write_connection(engine) as conn:
                    return work(conn)
            except DBAPIError as exc:
                if attempt == RETRIES - 1 or not is_transient(exc):
                    raise
                logger.debug("retrying a transaction the server aborted: %s", exc.orig)
                time.sleep(random.uniform(0.0, 0.02 * 2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    return patiently(attempt_all) if patient else attempt_all()


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


class _Statement:
    """A statement over every column of a table, compiled once, with each column's conversion."""

    __slots__ = ("names", "pairs", "positional", "sql")

    def __init__(self, conn: Connection, table: Table, statement: Any) -> None:
        dialect = conn.dialect
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self.names = frozenset(c.name for c in table.columns)
        order = compiled.positiontup
        self.positional = order is not None
        columns = list(order) if order is not None else list(compiled.binds)
        if set(columns) != self.names:  # pragma: no cover - a statement of another shape
            raise ValueError(f"cannot bind a statement on {table.name} by column")
        #: The parameters in the statement's order, each with its column type's conversion.
        self.pairs = [
            (name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in columns
        ]

    def parameters(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Every row's values in the statement's order, converted as SQLAlchemy would."""
        pairs = self.pairs
        if self.positional:
            return [tuple([r[n] if c is None else c(r[n]) for n, c in pairs]) for r in rows]
        return [{n: r[n] if c is None else c(r[n]) for n, c in pairs} for r in rows]


#: Compiled statements, by table, dialect and purpose.
_STATEMENTS: dict[tuple[Table, str, str], _Statement] = {}


def execute_rows(
    conn: Connection,
    table: Table,
    purpose: str,
    statement: Callable[[], Any],
    rows: Sequence[Mapping[str, Any]],
) -> None:
    """Execute an INSERT-like ``statement()`` on ``table`` once per row of ``rows``.

    On SQLite and on PostgreSQL through psycopg, rows that give every column go to the driver's
    ``executemany`` with the statement compiled once per table and ``purpose``, each value
    converted by its column type's own bind processor: what SQLAlchemy does per row, without
    building a parameter set for each. Errors come wrapped as SQLAlchemy's, as from any other
    statement. Other databases, and rows that leave a column out, go through SQLAlchemy.
    """
    name = conn.dialect.name
    if name == "sqlite" or (name == "postgresql" and conn.dialect.driver == "psycopg"):
        compiled = _STATEMENTS.get((table, name, purpose))
        if compiled is None:
            compiled = _STATEMENTS[(table, name, purpose)] = _Statement(conn, table, statement())
        if all(row.keys() == compiled.names for row in rows):
            conn.exec_driver_sql(compiled.sql, compiled.parameters(rows))
            return
    conn.execute(statement(), list(rows))


def _upsert_statement(name: str, table: Table) -> Any:
    """The insert-or-update statement of ``table`` on SQLite or PostgreSQL (dialect ``name``)."""
    key = [c.name for c in table.primary_key.columns]
    others = [c.name for c in table.columns if c.name not in key]
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        lstmt = sqlite_insert(table)
        return lstmt.on_conflict_do_update(
            index_elements=key, set_={c: lstmt.excluded[c] for c in others}
        )
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    pstmt = pg_insert(table)
    return pstmt.on_conflict_do_update(
        index_elements=key, set_={c: pstmt.excluded[c] for c in others}
    )


def upsert(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows``, replacing any row with the same primary key (see :func:`execute_rows`)."""
    if not rows:
        return
    name = conn.dialect.name
    key = [c.name for c in table.primary_key.columns]
    # in key order: two writers upserting overlapping rows lock them in the same order
    rows = sorted(rows, key=lambda row: tuple(str(row[k]) for k in key))
    if name == "sqlite" or name == "postgresql":
        execute_rows(conn, table, "upsert", lambda: _upsert_statement(name, table), rows)
    elif name in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        others = [c.name for c in table.columns if c.name not in key]
        mstmt = mysql_insert(table)
        mstmt = mstmt.on_duplicate_key_update({c: mstmt.inserted[c] for c in others})
        conn.execute(mstmt, list(rows))
    else:
        id_col = table.primary_key.columns[key[0]]
        conn.execute(delete(table).where(id_col.in_([r[key[0]] for r in rows])))
        conn.execute(insert(table), list(rows))
