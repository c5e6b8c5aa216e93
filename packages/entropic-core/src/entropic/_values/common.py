"""What every column check shares: the checker type, the column it knows, its messages."""

from __future__ import annotations

import reprlib
from collections.abc import Callable
from typing import Any

from entropic.errors import ParameterError

__all__ = ["Checker", "ColumnInfo", "show"]

#: A column's check: takes a value, returns the value to persist or raises ``ParameterError``.
Checker = Callable[[Any], Any]

_shown = reprlib.Repr()
_shown.maxstring = 60
_shown.maxother = 60
_shown.maxlist = _shown.maxtuple = _shown.maxdict = _shown.maxset = 4


def show(value: Any) -> str:
    return f"{_shown.repr(value)} ({type(value).__name__})"


class ColumnInfo:
    """What a checker knows about its column, and how it refuses a value."""

    __slots__ = ("dialect", "name", "nullable", "type_name")

    def __init__(self, name: str, type_name: str, dialect: str, nullable: bool) -> None:
        self.name = name
        self.type_name = type_name
        self.dialect = dialect
        self.nullable = nullable

    def error(self, value: Any, reason: str) -> ParameterError:
        """The error that refuses ``value`` for ``reason``."""
        return ParameterError(
            f"parameter {self.name!r} is {show(value)}, which column type {self.type_name} "
            f"cannot hold exactly on {self.dialect}: {reason}"
        )

    def none(self) -> None:
        """``None`` for a nullable column; a NOT NULL column refuses it."""
        if not self.nullable:
            raise self.error(None, "the column is NOT NULL; give a value")

    def wrong_type(self, value: Any, holds: str) -> ParameterError:
        """The error that refuses a value of the wrong Python type."""
        return self.error(value, f"it holds {holds}, not {type(value).__name__}")
