"""Models made from a database table, for tools that do not have the model's code."""

from __future__ import annotations

import datetime as dt
import itertools
import types
from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Double,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
)
from sqlalchemy.exc import NoSuchTableError

from entropic import _kinds
from entropic._db import create_tables
from entropic._internal import params_table
from entropic.errors import SchemaError
from entropic.schema import RESERVED_COLUMNS, Base, CustomData, UTCDateTime

__all__ = [
    "entropic_tables",
    "parameter_kind",
    "record_parameter_kinds",
    "reflect_model",
    "type_for_value",
]

#: Each reflected model gets a class name of its own, as SQLAlchemy's registry wants.
_serial = itertools.count(1)


def entropic_tables(engine: Engine) -> list[str]:
    """The tables in the database that have entropic's four reserved columns."""
    inspector = inspect(engine)
    found = []
    for name in inspector.get_table_names():
        if name.startswith("entropic_"):
            continue
        try:
            columns = {c["name"] for c in inspector.get_columns(name)}
        except NoSuchTableError:  # dropped since it was listed
            continue
        if columns.issuperset(RESERVED_COLUMNS):
            found.append(name)
    return sorted(found)


def type_for_value(value: Any) -> Any:
    """The column type for a parameter whose values look like ``value``."""
    if isinstance(value, bool):
        return Boolean()
    if isinstance(value, int):
        return Integer()
    if isinstance(value, float):
        return Double()
    if isinstance(value, dt.datetime):
        return UTCDateTime()
    if isinstance(value, list | dict):
        return JSON()
    return String().with_variant(Text(), "mysql", "mariadb")


def reflect_model(
    engine: Engine, table_name: str, *, extra_columns: Mapping[str, Any] | None = None
) -> type[Base]:
    """Build an entropic model from a table in the database.

    The reserved columns get entropic's own types (aware UTC ``created_at``, mutable JSON
    ``custom_data``); every other column is a parameter. A Store opened with the table's model
    records the kind of each parameter in ``entropic_params``, and a parameter with a record gets
    its kind's type back: an enum parameter becomes an ``Enum`` column over a Python enum with
    the original names and values (so it reads and binds ``.value`` as the model did), a JSON
    parameter a JSON column (MariaDB reflects JSON as LONGTEXT), a datetime an aware UTC one,
    and a boolean or a float whose reflected type reads another Python type (MySQL's BOOL reads
    as an integer, its DOUBLE as a decimal) a plain type of its kind. A parameter without a
    record has the type the database reports.

    Args:
        engine: The database.
        table_name: An entropic table (one with the four reserved columns).
        extra_columns: Parameter columns the table does not have yet, by name, each with a
            column type (for :meth:`entropic.Store.add_parameter`).

    Returns:
        A new subclass of :class:`entropic.Base` mapped to the table.

    Raises:
        SchemaError: The table does not exist or is not an entropic table.
    """
    if not inspect(engine).has_table(table_name):
        raise SchemaError(f"the database has no table {table_name!r}")
    table = Table(table_name, MetaData(), autoload_with=engine)
    missing = [c for c in RESERVED_COLUMNS if c not in table.c]
    if missing:
        raise SchemaError(
            f"table {table_name!r} is not an entropic table: it lacks {', '.join(missing)}"
        )
    table.c.created_at.type = UTCDateTime()
    table.c.custom_data.type = CustomData.as_mutable(JSON())
    with engine.connect() as conn:
        kinds = _kinds.read_kinds(conn, table_name)
    for column in table.columns:
        kind = kinds.get(column.name)
        if kind is not None and column.name not in RESERVED_COLUMNS:
            column.type = _kinds.rebuild_type(kind, column.type)
    for name, type_ in (extra_columns or {}).items():
        if name in table.c:
            raise SchemaError(f"table {table_name!r} already has a column {name!r}")
        table.append_column(Column(name, type_, nullable=True))
    safe = "".join(ch if ch.isalnum() else "_" for ch in table_name)
    cls: type[Base] = types.new_class(
        f"Reflected_{safe}_{next(_serial)}",
        (Base,),
        {},
        lambda ns: ns.update(
            {"__table__": table, _kinds.DECLARED_ATTR: frozenset(extra_columns or ())}
        ),
    )
    return cls


def record_parameter_kinds(engine: Engine, table: Table) -> None:
    """Record the kind of each parameter column of ``table`` for :func:`reflect_model`.

    A Store does this itself when it is opened with a model; call it for a table made some
    other way whose column types are the intended ones (not for a reflected table).
    """
    create_tables(engine, [params_table])
    columns = [c for c in table.columns if c.name not in RESERVED_COLUMNS]
    _kinds.record_kinds(engine, table.name, columns)


def parameter_kind(column: Column[Any]) -> str:
    """What a parameter column holds, as recorded in ``entropic_params``.

    One of ``bool``, ``int``, ``float``, ``str``, ``datetime`` (entropic's aware UTC datetime),
    ``json``, ``enum`` and ``other``.
    """
    return _kinds.describe(column).kind
