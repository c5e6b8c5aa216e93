"""Parameter kinds: what a model says about each parameter column, kept for tools without it.

Reflecting a table from the database loses what only the model's code knows: an enum column
reflects as text (or as a list of labels, without the Python enum whose ``.value`` the manifests
and the hashes hold), and MariaDB's JSON reflects as LONGTEXT. So a Store opened with a model
records each parameter's kind in ``entropic_params``, and :func:`entropic.reflect_model` uses the
record to give reflected columns their proper types again. A table without a record (made before
the record existed) is reflected as the database describes it.

Kinds: ``bool``, ``int``, ``float``, ``str``, ``datetime`` (entropic's aware UTC datetime),
``json``, ``enum`` (its detail holds the enum's name, the database type's name and each member
as ``[label stored in the database, value]``) and ``other`` (reflected as it is).
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, NamedTuple

from sqlalchemy import JSON, Boolean, Column, Connection, Double, Engine, Integer, String, select
from sqlalchemy import Enum as SAEnum
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeEngine

from entropic._db import upsert, write_connection
from entropic._internal import params_table
from entropic._json import to_json
from entropic.schema import UTCDateTime

__all__ = ["Kind", "describe", "enum_from_detail", "read_kinds", "record_kinds", "rebuild_type"]

logger = logging.getLogger(__name__)

#: The attribute :func:`entropic.reflect_model` sets on the models it makes: the names of the
#: columns whose types the caller declared (``extra_columns``) rather than the database reported.
DECLARED_ATTR: Final = "__entropic_declared__"


class Kind(NamedTuple):
    """One parameter's kind and, for an enum, its members (as JSON text)."""

    kind: str
    detail: str | None = None


def describe(column: Column[Any]) -> Kind:
    """The kind of a parameter column of a model."""
    type_ = column.type
    if isinstance(type_, SAEnum):
        if type_.enum_class is None:
            return Kind("str")  # an enum of strings stores the strings themselves
        # SQLAlchemy stores each member by its label: its name, or what values_callable says
        members = type_.enum_class.__members__.values()
        pairs = [[label, to_json(m.value)] for label, m in zip(type_.enums, members, strict=False)]
        detail = {"name": type_.enum_class.__name__, "type_name": type_.name, "members": pairs}
        return Kind("enum", json.dumps(detail, sort_keys=True))
    if isinstance(type_, JSON):
        return Kind("json")
    if isinstance(type_, UTCDateTime):
        return Kind("datetime")
    try:
        python_type = type_.python_type
    except NotImplementedError:
        return Kind("other")
    for kind in (bool, int, float, str):
        if python_type is kind:
            return Kind(kind.__name__)
    if python_type in (dict, list):
        return Kind("json")
    return Kind("other")


def read_kinds(conn: Connection, table_name: str) -> dict[str, Kind]:
    """The recorded kinds of the parameters of ``table_name`` (none when nothing is recorded)."""
    if not sa_inspect(conn).has_table(params_table.name):
        return {}
    c = params_table.c
    rows = conn.execute(select(c.param, c.kind, c.detail).where(c.table_name == table_name))
    return {str(name): Kind(str(kind), detail) for name, kind, detail in rows}


def record_kinds(engine: Engine, table_name: str, columns: Iterable[Column[Any]]) -> None:
    """Record the kind of each of ``columns`` where the record differs or is missing."""
    wanted = {column.name: describe(column) for column in columns}
    for attempt in range(3):
        with engine.connect() as conn:
            known = read_kinds(conn, table_name)
        changed = [
            {"table_name": table_name, "param": name, "kind": kind.kind, "detail": kind.detail}
            for name, kind in wanted.items()
            if known.get(name) != kind
        ]
        if not changed:
            return
        try:
            with write_connection(engine) as conn:
                upsert(conn, params_table, changed)
            return
        except DBAPIError as exc:  # another process recording at the same time (a deadlock)
            if attempt == 2:
                raise
            logger.debug("retrying the record of parameter kinds after %s", exc)


class ReflectedEnum(enum.Enum):
    """The base of the enums rebuilt from a record.

    A member of the original enum (of any enum, in fact) stands for the member with its value.
    """

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, enum.Enum):
            return cls(value.value)
        return None


def enum_from_detail(detail: str | None) -> type[enum.Enum] | None:
    """A Python enum with the recorded labels as names and the recorded values.

    Returns ``None`` when the record cannot make one (labels that are not valid member names).
    """
    try:
        described = json.loads(detail or "")
        members = [(str(label), value) for label, value in described["members"]]
        make: Any = ReflectedEnum  # the functional API, which the type checker takes for a lookup
        made: type[enum.Enum] = make(str(described.get("name") or "Enum"), members)
    except (ValueError, KeyError, TypeError) as exc:
        logger.debug("cannot rebuild an enum from %r: %s", detail, exc)
        return None
    return made


#: Kinds whose reflected type is kept when it reads the right Python type, and else replaced.
_PLAIN_TYPES: Final[dict[str, tuple[type, Callable[[], TypeEngine[Any]]]]] = {
    "bool": (bool, Boolean),
    "int": (int, Integer),
    "float": (float, Double),
    "str": (str, String),
}


def rebuild_type(kind: Kind, reflected: TypeEngine[Any]) -> TypeEngine[Any]:
    """The column type for a parameter of ``kind`` that the database reflected as ``reflected``."""
    if kind.kind == "enum":
        enum_cls = enum_from_detail(kind.detail)
        if enum_cls is None:
            return reflected
        type_name = json.loads(kind.detail or "{}").get("type_name")
        return SAEnum(enum_cls, name=type_name)
    if kind.kind == "json":
        return reflected if isinstance(reflected, JSON) else JSON()
    if kind.kind == "datetime":
        return UTCDateTime()
    plain = _PLAIN_TYPES.get(kind.kind)
    if plain is not None:
        python_type, make = plain
        try:
            if reflected.python_type is python_type:
                return reflected
        except NotImplementedError:
            pass
        return make()  # MySQL's BOOL reflects as an integer, its DOUBLE as a decimal
    return reflected


def declared_columns(model: type[Any], columns: Mapping[str, Column[Any]]) -> list[Column[Any]]:
    """The parameter columns of ``model`` whose types its code declares.

    Every column of a model written in code; for a model made by :func:`entropic.reflect_model`,
    only the columns its caller added, so a reflection never overwrites what a model recorded.
    """
    declared = model.__dict__.get(DECLARED_ATTR)
    if declared is None:
        return list(columns.values())
    return [column for name, column in columns.items() if name in declared]
