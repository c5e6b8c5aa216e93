"""The parameter schema: what a model's columns accept, built once per Store.

:class:`ParameterSchema` turns a user's parameter mapping into a :class:`Request` (its key and
the values to persist), checking names, required columns and enum values; :meth:`storable`
checks, before anything runs, that the database can hold the values as given.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any, Final

from sqlalchemy import Column, Table
from sqlalchemy import Enum as SAEnum

from entropic._json import from_json
from entropic.errors import ParameterError
from entropic.hashing import RESERVED_KEYS, hash_values, to_python, validate_id
from entropic.schema import RESERVED_COLUMNS

__all__ = ["ParameterSchema", "Request"]

#: Value types that need no conversion before hashing and persisting.
_PLAIN: Final = frozenset({str, int, float, bool, type(None)})


def _not_finite(value: float) -> bool:
    return not math.isfinite(value)


class Request:
    """A parameter set checked against the model: its key and the values to persist."""

    __slots__ = ("explicit", "key", "values")

    def __init__(self, key: str, values: dict[str, Any], explicit: bool = False) -> None:
        self.key = key
        self.values = values
        #: Whether ``key`` is an id the user gave, not the values' hash.
        self.explicit = explicit


class ParameterSchema:
    """The parameter columns of one model, and the rules for the values they take.

    Args:
        model_name: The model's class name, for messages.
        table: The model's table.
        dialect: The database dialect's name (``sqlite``, ``postgresql``, ``mysql``...).
    """

    def __init__(self, model_name: str, table: Table, dialect: str) -> None:
        self.model_name = model_name
        self.table = table
        self.dialect = dialect
        self.columns: dict[str, Column[Any]] = {
            c.name: c for c in table.columns if c.name not in RESERVED_COLUMNS
        }
        self.names = frozenset(self.columns)
        self.required = frozenset(
            name
            for name, c in self.columns.items()
            if not c.nullable and c.default is None and c.server_default is None
        )
        #: What a column left out of a request is stored as (its scalar default, or None).
        self.defaults: dict[str, Any] = {
            name: (None if c.default is None else getattr(c.default, "arg", None))
            for name, c in self.columns.items()
            if name not in self.required
            and c.server_default is None
            and (c.default is None or getattr(c.default, "is_scalar", False))
        }
        self.enums: dict[str, type[Enum]] = {
            name: c.type.enum_class
            for name, c in self.columns.items()
            if isinstance(c.type, SAEnum) and c.type.enum_class is not None
        }
        #: Parameters added after some runs were stored, with the value those runs had.
        self.filled: dict[str, Any] = {}
        # SQLite stores a NaN as NULL and MySQL/MariaDB refuse non-finite numbers: such a
        # parameter is refused before its run, not when its row is written after it
        self._refuse_float: Callable[[float], bool] | None = (
            math.isnan if dialect == "sqlite" else _not_finite if dialect == "mysql" else None
        )

    def request(self, params: Mapping[str, Any], *, complete: bool) -> Request:
        """Check ``params`` against the model and key it.

        Args:
            params: The user's parameter mapping (reserved keys are ignored, ``id`` is used).
            complete: Whether every required column must be given (for a run), or a lookup.

        Raises:
            TypeError: ``params`` is not a mapping.
            ParameterError: Unknown or missing keys, an invalid explicit id, an unknown enum value.
        """
        if type(params) is not dict and not isinstance(params, Mapping):
            raise TypeError(f"params must be a mapping (a dict), not {type(params).__name__}")
        values: dict[str, Any] = {}
        explicit: Any = None
        for name, value in params.items():
            if name in RESERVED_KEYS:
                if name == "id":
                    explicit = value
                continue
            values[name] = value if type(value) in _PLAIN else to_python(value)
        if not self.names.issuperset(values):
            unknown = [k for k in values if k not in self.columns]
            raise ParameterError(
                f"unknown parameter(s) {', '.join(map(repr, unknown))} for "
                f"{self.model_name}; its columns are {', '.join(self.columns) or 'none'}"
            )
        if explicit is None and self.filled:
            # parameters added after these runs: leaving one out means its recorded default
            for name, value in self.filled.items():
                values.setdefault(name, value)
        if complete and not self.required.issubset(values):
            missing = sorted(self.required.difference(values))
            raise ParameterError(
                f"missing parameter(s) {', '.join(map(repr, missing))} for "
                f"{self.model_name}: these columns have no default"
            )
        key = validate_id(explicit) if explicit is not None else hash_values(values)
        for name, enum_cls in self.enums.items():
            value = values.get(name)
            if value is not None and not isinstance(value, enum_cls):
                try:
                    values[name] = enum_cls(value)
                except ValueError:
                    raise ParameterError(
                        f"{value!r} is not a value of {enum_cls.__name__} (parameter {name!r})"
                    ) from None
        return Request(key, values, explicit is not None)

    def storable(self, request: Request) -> Request:
        """Check that this database can store ``request``'s values, before anything runs.

        Raises:
            ParameterError: A value the column cannot hold as given.
        """
        refuse = self._refuse_float
        if refuse is not None:
            for name, value in request.values.items():
                if isinstance(value, float) and refuse(value):
                    raise ParameterError(
                        f"parameter {name!r} is {value!r}, which {self.dialect} "
                        "cannot store (SQLite keeps NaN as NULL; MySQL and MariaDB refuse NaN "
                        "and infinities); use PostgreSQL, or encode the value, e.g. as None"
                    )
        return request

    def run_values(self, request: Request) -> dict[str, Any]:
        """Every column's value for a run of ``request``: the defaults, then the request."""
        return {**self.defaults, **request.values}

    def from_json(self, name: str, value: Any) -> Any:
        """A value of column ``name`` read from JSON (a manifest, the meta table)."""
        return from_json(self.columns.get(name), value)

    def values_from_json(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Every value of ``params`` read from JSON, by column."""
        return {k: from_json(self.columns.get(k), v) for k, v in params.items()}
