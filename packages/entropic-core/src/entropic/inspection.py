"""Read-only facts about a store, for tools that do not have the model's code.

The ``entropic`` command and scripts that look after stores ask this module, never the database
directly: which entropic tables there are, what each column holds, what entropic recorded about a
table, which runs are in flight, and the rows themselves, filtered and ordered. Nothing here
writes to the database.

Tables are given as SQLAlchemy ``Table`` objects, such as ``reflect_model(engine, name).__table__``.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Column, Engine, Table, func, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import URL, make_url

from entropic._claims import ClaimBook
from entropic._db import CHUNK, make_engine
from entropic._internal import FILE_SUFFIX, RESULTS_DIR, claims_table, meta_table, read_meta
from entropic.errors import EntropicError
from entropic.reflection import parameter_kind
from entropic.schema import RESERVED_COLUMNS

__all__ = [
    "CONNECT_TIMEOUT",
    "OPERATORS",
    "ColumnInfo",
    "Condition",
    "NoStoreError",
    "TableSummary",
    "claims_in_flight",
    "column_info",
    "connect",
    "count_present",
    "display_columns",
    "ids_with_prefix",
    "missing_reserved",
    "parameter_columns",
    "recorded_location",
    "select_records",
    "sqlite_file",
    "table_facts",
    "table_summary",
]

#: Seconds to wait for a database server to answer before giving up.
CONNECT_TIMEOUT: Final = 10
#: The comparisons a :class:`Condition` may make.
OPERATORS: Final = ("=", "!=", "<", "<=", ">", ">=")


class NoStoreError(EntropicError, FileNotFoundError):
    """The SQLite file a URL names does not exist, and the caller did not ask to create it."""


@dataclass(frozen=True, slots=True)
class Condition:
    """One comparison of a column with a value, such as ``n >= 3``.

    Attributes:
        column: The column's name.
        op: One of :data:`OPERATORS`.
        value: A value of the column's Python type; ``None`` matches NULL (``=``) or not (``!=``).
    """

    column: str
    op: str
    value: Any

    def __post_init__(self) -> None:
        if self.op not in OPERATORS:
            raise ValueError(f"unknown comparison {self.op!r}; use one of {', '.join(OPERATORS)}")


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    """What a column of an entropic table holds.

    Attributes:
        name: The column's name.
        type: The database's name for its type.
        kind: What a parameter holds, as :func:`entropic.reflection.parameter_kind` says.
        nullable: Whether it may be NULL.
        reserved: Whether it is one of entropic's reserved columns.
        values: An enum column's values, else ``None``.
    """

    name: str
    type: str
    kind: str
    nullable: bool
    reserved: bool
    values: list[Any] | None = field(default=None)


@dataclass(frozen=True, slots=True)
class TableSummary:
    """How many rows a table holds and when the first and last were created."""

    rows: int
    first_created_at: dt.datetime | None
    last_created_at: dt.datetime | None


def sqlite_file(db_url: str | URL) -> Path | None:
    """The file of a SQLite URL, or ``None`` for another database or an in-memory one."""
    url = make_url(db_url)
    database = url.database
    if url.get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
        return None
    if database.startswith("file:"):
        return None
    return Path(database)


def connect(db_url: str | URL, *, create: bool = False, timeout: float = CONNECT_TIMEOUT) -> Engine:
    """An engine on a store's database, made as the Store makes its own.

    Args:
        db_url: The database URL.
        create: Whether a missing SQLite file may be created.
        timeout: Seconds a database server has to answer a connection (PostgreSQL, MySQL).

    Raises:
        NoStoreError: The SQLite file does not exist and ``create`` is false.
    """
    url = make_url(db_url)
    path = sqlite_file(url)
    if path is not None and not create and not path.is_file():
        raise NoStoreError(f"no database at {path}")
    server = url.get_backend_name() in ("postgresql", "mysql", "mariadb")
    if server and "connect_timeout" not in url.query:
        url = url.update_query_dict({"connect_timeout": str(int(timeout))})
    return make_engine(url)


def missing_reserved(engine: Engine, table_name: str) -> list[str] | None:
    """The reserved columns ``table_name`` lacks, or ``None`` when there is no such table."""
    inspector = sa_inspect(engine)
    if not inspector.has_table(table_name):
        return None
    present = {c["name"] for c in inspector.get_columns(table_name)}
    return [c for c in RESERVED_COLUMNS if c not in present]


def table_facts(engine: Engine, table_name: str) -> dict[str, str]:
    """What entropic recorded about ``table_name`` (hash scheme, results directory, ...)."""
    if not sa_inspect(engine).has_table(meta_table.name):
        return {}
    with engine.connect() as conn:
        return read_meta(conn, table_name)


def recorded_location(engine: Engine, table_name: str) -> tuple[Path | None, str | None]:
    """The results directory and file suffix the last Store that opened the table recorded."""
    facts = table_facts(engine, table_name)
    recorded = facts.get(RESULTS_DIR)
    return (Path(recorded) if recorded else None), facts.get(FILE_SUFFIX)


def claims_in_flight(engine: Engine, table_name: str) -> set[str]:
    """Ids of the table's runs that some process is doing now (live claims)."""
    if not sa_inspect(engine).has_table(claims_table.name):
        return set()
    c = claims_table.c
    with engine.connect() as conn:
        claimed = list(conn.scalars(select(c.run_id).where(c.table_name == table_name)))
    if not claimed:
        return set()
    return ClaimBook(engine, table_name, lease=1.0).holders(claimed)


def parameter_columns(table: Table) -> list[Column[Any]]:
    """The columns of ``table`` that are parameters (every column but the reserved ones)."""
    return [c for c in table.columns if c.name not in RESERVED_COLUMNS]


def display_columns(table: Table) -> list[str]:
    """Column names in the order tools show them: id, the parameters, then the rest."""
    return ["id", *(c.name for c in parameter_columns(table)), *RESERVED_COLUMNS[1:]]


def _type_name(column: Column[Any], engine: Engine) -> str:
    try:
        return str(column.type.compile(dialect=engine.dialect))
    except Exception:  # a type the dialect cannot spell: its class name will do
        return type(column.type).__name__


def column_info(engine: Engine, table: Table) -> list[ColumnInfo]:
    """Each column of ``table`` in :func:`display_columns` order, with its type and kind."""
    found = []
    for column in (table.c[name] for name in display_columns(table)):
        kind = parameter_kind(column)
        enum_class = getattr(column.type, "enum_class", None)
        values = [m.value for m in enum_class] if kind == "enum" and enum_class else None
        found.append(
            ColumnInfo(
                column.name,
                _type_name(column, engine),
                kind,
                bool(column.nullable),
                column.name in RESERVED_COLUMNS,
                values,
            )
        )
    return found


def table_summary(engine: Engine, table: Table) -> TableSummary:
    """The number of rows of ``table`` and the span of their ``created_at``."""
    c = table.c
    query = select(func.count(), func.min(c.created_at), func.max(c.created_at))
    with engine.connect() as conn:
        count, first, last = conn.execute(query).one()
    return TableSummary(int(count), first, last)


def _clause(table: Table, condition: Condition) -> Any:
    if condition.column not in table.c:
        raise KeyError(condition.column)
    column = table.c[condition.column]
    value, op = condition.value, condition.op
    if value is None and op in ("=", "!="):
        return column.is_(None) if op == "=" else column.is_not(None)
    return {
        "=": column.__eq__,
        "!=": column.__ne__,
        "<": column.__lt__,
        "<=": column.__le__,
        ">": column.__gt__,
        ">=": column.__ge__,
    }[op](value)


def select_records(
    engine: Engine,
    table: Table,
    conditions: Iterable[Condition] = (),
    *,
    order_by: Sequence[tuple[str, bool]] | None = None,
    limit: int | None = None,
    columns: Sequence[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Stream the rows that meet every condition, as ``{column: value}`` dicts.

    Values are bound as parameters, never pasted into the statement.

    Args:
        engine: The database.
        table: The entropic table.
        conditions: Comparisons every row must meet.
        order_by: ``(column, descending)`` pairs; by default ``created_at`` then ``id``. The id
            always breaks ties.
        limit: At most this many rows.
        columns: The columns to read, by default :func:`display_columns`.

    Raises:
        KeyError: A condition or the order names a column the table lacks.
    """
    names = list(columns) if columns is not None else display_columns(table)
    query = select(*(table.c[n] for n in names))
    query = query.where(*(_clause(table, c) for c in conditions))
    order = list(order_by) if order_by is not None else [("created_at", False)]
    keys = []
    for name, descending in order:
        if name not in table.c:
            raise KeyError(name)
        keys.append(table.c[name].desc() if descending else table.c[name].asc())
    query = query.order_by(*keys, table.c.id)
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        for row in conn.execution_options(yield_per=CHUNK).execute(query):
            yield dict(zip(names, row, strict=True))


def ids_with_prefix(engine: Engine, table: Table, prefix: str, limit: int = 100) -> list[str]:
    """The ids of ``table`` that start with ``prefix``, in order, at most ``limit`` of them."""
    c = table.c
    query = select(c.id).where(c.id.startswith(prefix, autoescape=True)).order_by(c.id)
    with engine.connect() as conn:
        return [str(i) for i in conn.scalars(query.limit(limit))]


def count_present(engine: Engine, table: Table, ids: Iterable[str]) -> int:
    """How many of ``ids`` (distinct) have a row in ``table``."""
    iterator = iter(dict.fromkeys(ids))
    found = 0
    with engine.connect() as conn:
        while chunk := list(itertools.islice(iterator, CHUNK)):
            query = select(func.count()).select_from(table).where(table.c.id.in_(chunk))
            found += int(conn.execute(query).scalar_one())
    return found
