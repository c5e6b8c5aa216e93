"""The record schema: :class:`Base` and its four reserved columns."""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Mapping
from typing import Any, ClassVar, Final

from sqlalchemy import JSON, DateTime, Dialect, Double, String, Text
from sqlalchemy.ext.mutable import MutableDict
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

from entropic.errors import ReservedColumnError

__all__ = ["RESERVED_COLUMNS", "Base", "CustomData", "UTCDateTime", "utcnow"]

#: Columns every entropic model has; a model may not redefine them.
RESERVED_COLUMNS: Final = ("id", "result_file", "created_at", "custom_data")

#: Longest explicit id; the ``id`` column is sized for it.
ID_LENGTH: Final = 128


class _Parents(dict[Any, Any]):
    """The states a :class:`CustomData` value belongs to, mapped to the attribute's name.

    SQLAlchemy's mutable types keep this in a ``WeakKeyDictionary``, which costs several objects
    per record; a plain dict is enough here because an ORM state refers to its object weakly, so
    holding the state creates no cycle. States whose object has gone are skipped.
    """

    def items(self) -> Any:
        """The pairs whose object still exists."""
        return [(state, key) for state, key in super().items() if state.obj() is not None]


class CustomData(MutableDict[str, Any]):
    """The type of ``custom_data``: a dict whose in-place changes mark its record as modified."""

    # A record's value usually has one owner, which a slot holds; the mapping SQLAlchemy's
    # mutable machinery expects is made only when it asks (a change, a merge into a session).
    __slots__ = ("_entropic_owner", "_entropic_owner_key", "_entropic_parents")
    _entropic_owner: Any
    _entropic_owner_key: str
    _entropic_parents: _Parents

    def attach(self, state: Any, key: str) -> None:
        """Make this value the attribute ``key`` of the record whose ORM state is ``state``.

        What SQLAlchemy does when it loads a record, kept in two slots until needed.
        """
        self._entropic_owner = state
        self._entropic_owner_key = key

    @property
    def _parents(self) -> Any:
        try:
            return self._entropic_parents
        except AttributeError:
            parents = self._entropic_parents = _Parents()
        try:
            parents[self._entropic_owner] = self._entropic_owner_key
            del self._entropic_owner, self._entropic_owner_key
        except AttributeError:  # no owner yet
            pass
        return parents


def utcnow() -> dt.datetime:
    """Return the current time as a timezone-aware UTC datetime."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A datetime column that always hands back timezone-aware UTC values.

    PostgreSQL keeps the offset itself; SQLite and MySQL/MariaDB store naive UTC, and the offset is
    put back on the way out. Naive values going in are taken to be UTC already.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[dt.datetime]:
        """``datetime.datetime`` (a TypeDecorator would otherwise report ``object``)."""
        return dt.datetime

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            from sqlalchemy.dialects.mysql import DATETIME

            return dialect.type_descriptor(DATETIME(fsp=6))  # microseconds, not whole seconds
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
        if dialect.name != "postgresql":
            value = value.replace(tzinfo=None)
        return value

    def bind_processor(self, dialect: Dialect) -> Any:
        """SQLite: the text SQLAlchemy writes for the naive UTC value, in one ``isoformat`` call.

        Every run writes a few of these; SQLAlchemy's SQLite processor builds the same text
        (``YYYY-MM-DD HH:MM:SS.ffffff``) from a dict of the value's fields.
        """
        general = super().bind_processor(dialect)
        if dialect.name != "sqlite" or general is None:
            return general
        utc = dt.UTC

        def process(value: Any) -> Any:
            if type(value) is dt.datetime:
                if value.tzinfo is not None:
                    value = value.astimezone(utc).replace(tzinfo=None)
                return value.isoformat(" ", "microseconds")
            return general(value)  # None, or another type: the general way

        return process

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def _unbounded_string() -> String:
    # MySQL and MariaDB need a length for VARCHAR; a plain ``Mapped[str]`` becomes TEXT there.
    return String().with_variant(Text(), "mysql", "mariadb")


class Base(DeclarativeBase):
    """Declarative base of every entropic model.

    Subclass it and declare one column per parameter; the columns must match the keys of the
    parameter sets you hand the :class:`~entropic.Store`::

        class SimResult(Base):
            __tablename__ = "results"
            n: Mapped[int]
            dt: Mapped[float]

    Base adds four reserved columns that a model may not redefine: ``id`` (the parameter hash, or
    an explicit id), ``result_file`` (the path of the result), ``created_at`` (timezone-aware UTC)
    and ``custom_data`` (a JSON object, never null, held in a :class:`CustomData`, a
    ``MutableDict`` whose in-place changes a session saves).

    ``Mapped[float]`` is a double-precision column on every database, ``Mapped[str]`` works
    without a length (TEXT on MySQL/MariaDB) and ``Mapped[datetime]`` is stored as UTC.
    """

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        str: _unbounded_string(),
        float: Double(),
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    result_file: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    custom_data: Mapped[dict[str, Any]] = mapped_column(
        CustomData.as_mutable(JSON()), default=dict, nullable=False
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        redefined = [
            name
            for name in RESERVED_COLUMNS
            if name in cls.__dict__ or name in inspect.get_annotations(cls)
        ]
        if redefined:
            names = ", ".join(repr(n) for n in redefined)
            raise ReservedColumnError(
                f"{cls.__name__} redefines the reserved column(s) {names}; entropic.Base "
                f"already defines {', '.join(RESERVED_COLUMNS)}: rename your column"
            )
        super().__init_subclass__(**kwargs)

    def __init__(self, **kwargs: Any) -> None:
        """Set the given attributes; ``custom_data`` starts as an empty dict."""
        cls = type(self)
        kwargs.setdefault("custom_data", {})
        for key, value in kwargs.items():
            if not hasattr(cls, key):
                raise TypeError(f"{key!r} is an invalid keyword argument for {cls.__name__}")
            setattr(self, key, value)

    def _apply_custom_data_patch(self, patch: Mapping[str, Any]) -> None:
        """Merge ``patch`` into ``custom_data``.

        An empty mapping clears ``custom_data``; a key whose value is ``None`` is removed; every
        other key is set.
        """
        if not isinstance(patch, Mapping):
            raise TypeError(f"a custom_data patch must be a mapping, not {type(patch).__name__}")
        data = self.custom_data
        if not patch:
            data.clear()
            return
        for key, value in patch.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value

    def apply_patch(self, data: Mapping[str, Any]) -> None:
        """Update this record in place from ``data``.

        ``custom_data`` is merged as :meth:`_apply_custom_data_patch` describes; other keys set
        the column of that name. The ``id`` cannot be patched.

        Raises:
            ValueError: ``data`` names ``id`` or a column the model does not have.
        """
        columns = set(self.__table__.columns.keys())
        for key, value in data.items():
            if key == "id":
                raise ValueError("the id of a record cannot be patched: it is its parameter key")
            if key not in columns:
                raise ValueError(f"{type(self).__name__} has no column {key!r}")
            if key == "custom_data":
                self._apply_custom_data_patch(value)
            else:
                setattr(self, key, value)
