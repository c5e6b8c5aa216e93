"""Building a column's checker: which check its type gets, on which dialect."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any, Final

from sqlalchemy import Column
from sqlalchemy import types as sqltypes
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from entropic._values.common import Checker, ColumnInfo
from entropic._values.numbers import float_checker, integer_checker, numeric_checker
from entropic._values.structured import (
    boolean_checker,
    date_checker,
    datetime_checker,
    enum_checker,
    json_checker,
    time_checker,
)
from entropic._values.text import binary_checker, string_checker
from entropic.schema import UTCDateTime

__all__ = ["checkers", "column_checker"]

_DIALECTS: Final[dict[str, Callable[[], Dialect]]] = {
    "sqlite": sqlite.dialect,
    "postgresql": postgresql.dialect,
    "mysql": mysql.dialect,
}


def checkers(
    columns: Mapping[str, Column[Any]],
    dialect: str,
    *,
    charsets: Mapping[str, str] | None = None,
) -> dict[str, Checker]:
    """Build the checker of each of a model's parameter columns.

    Args:
        columns: The parameter columns by name (the reserved columns left out).
        dialect: The database's dialect name (``engine.dialect.name``).
        charsets: For MySQL/MariaDB, the character set of each text column where it is not
            ``utf8mb4`` (see :func:`column_checker`).

    Returns:
        The checker of each column, by name.
    """
    given = charsets or {}
    return {
        name: column_checker(name, column, dialect, charset=given.get(name))
        for name, column in columns.items()
    }


def column_checker(
    name: str, column: Column[Any], dialect: str, *, charset: str | None = None
) -> Checker:
    """Build the function that checks one parameter's values against its column.

    The function takes a value as the Store prepared it (NumPy scalars already turned into
    Python numbers by :func:`entropic.hashing.to_python`) and returns the value to persist. It
    is built once, so the common cases cost a type check or two. The rules are listed in the
    docstring of :mod:`entropic._values`.

    Args:
        name: The parameter's name, for the messages.
        column: The model's column.
        dialect: The database's dialect name (``sqlite``, ``postgresql``, ``mysql``,
            ``mariadb``); another name gets the strictest rules of those.
        charset: For MySQL/MariaDB, the character set of the column's text (``utf8mb4`` when
            not given; a character set declared on the column type wins).

    Returns:
        The checker: ``value -> value to persist``. It raises
        :class:`~entropic.ParameterError` naming the parameter, the value and the column type
        when the column cannot hold the value exactly or would hand back something else.
    """
    asked = dialect
    dialect = "mysql" if dialect == "mariadb" else dialect
    type_: TypeEngine[Any] = column.type
    # the type this dialect uses (Base's ``str`` is TEXT on MySQL), kept as the class the model
    # names: a dialect's implementation class can lose it (PostgreSQL's REAL becomes a FLOAT)
    variants: Mapping[str, TypeEngine[Any]] = getattr(type_, "_variant_mapping", None) or {}
    type_ = variants.get(asked, variants.get(dialect, type_))
    type_name = repr(type_)
    make_dialect = _DIALECTS.get(dialect)
    if make_dialect is not None:
        try:
            type_name = str(column.type.compile(dialect=make_dialect()))
        except Exception:  # a type this dialect cannot render: keep its repr for the messages
            type_name = repr(type_)
    col = ColumnInfo(name, type_name, dialect, bool(column.nullable))
    return _build(col, type_, charset)


def _build(col: ColumnInfo, type_: TypeEngine[Any], charset: str | None) -> Checker:
    if isinstance(type_, UTCDateTime):
        return datetime_checker(col, type_, utc=True)
    if isinstance(type_, TypeDecorator):
        return _passthrough(col)
    if isinstance(type_, sqltypes.Enum):
        return enum_checker(col, type_)
    if isinstance(type_, sqltypes.Boolean):
        return boolean_checker(col)
    if isinstance(type_, sqltypes.Integer):
        return integer_checker(col, type_)
    if isinstance(type_, sqltypes.Float):
        return float_checker(col, type_)
    if isinstance(type_, sqltypes.Numeric):
        return numeric_checker(col, type_)
    if isinstance(type_, sqltypes.JSON):
        return json_checker(col, type_)
    if isinstance(type_, mysql.SET):
        return _by_python_type(col, type_)
    if isinstance(type_, sqltypes.String):
        return string_checker(col, type_, charset)
    if isinstance(type_, sqltypes.DateTime):
        return datetime_checker(col, type_, utc=False)
    if isinstance(type_, sqltypes.Date):
        return date_checker(col)
    if isinstance(type_, sqltypes.Time):
        return time_checker(col, type_)
    if isinstance(type_, sqltypes._Binary):
        return binary_checker(col, type_)
    return _by_python_type(col, type_)


# ---------------------------------------------------------------------- fallbacks


def _passthrough(col: ColumnInfo) -> Checker:
    def check(value: Any) -> Any:
        if value is None:
            col.none()
        return value

    return check


def _by_python_type(col: ColumnInfo, type_: TypeEngine[Any]) -> Checker:
    try:
        python_type = type_.python_type
    except NotImplementedError:
        return _passthrough(col)

    def check(value: Any) -> Any:
        if value is None:
            return col.none()
        if isinstance(value, Enum):
            return check(value.value)
        if not isinstance(value, python_type) or (
            isinstance(value, bool) and python_type is not bool
        ):
            raise col.wrong_type(value, python_type.__name__)
        return value

    return check
