"""The parameter schema: what a model's columns accept, built once per Store.

:class:`ParameterSchema` turns a user's parameter mapping into a :class:`Request` (its key and
the values to persist), checking names, required columns and enum values; :meth:`storable`
checks, before anything runs, that the database can hold the values as given.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any, Final

from sqlalchemy import Column, Table
from sqlalchemy import Enum as SAEnum

from entropic._json import from_json
from entropic._values import checkers
from entropic.errors import ParameterError
from entropic.hashing import RESERVED_KEYS, hash_values, to_python, validate_id
from entropic.schema import RESERVED_COLUMNS

__all__ = ["ParameterSchema", "Request"]

#: Value types that need no conversion before hashing and persisting.
_PLAIN: Final = frozenset({str, int, float, bool, type(None)})


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
        # what each column can hold exactly on this database, checked before a run
        self._checks = checkers(self.columns, dialect)

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
        values: dict[str, Any] = dict(params)
        explicit: Any = None
        if not RESERVED_KEYS.isdisjoint(values):
            explicit = values.get("id")
            for name in RESERVED_KEYS:
                values.pop(name, None)
        if not _PLAIN.issuperset(map(type, values.values())):
            values = {k: v if type(v) in _PLAIN else to_python(v) for k, v in values.items()}
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
        """Check that this database can store ``request``'s values exactly, before anything runs.

        Each value is checked against its column's type, length, range and the dialect's rules
        (see :mod:`entropic._values`); a value the column cannot hold exactly, or that would read
        back as something else, is refused. The values come back as they are to be persisted
        (an enum member in a string column as its value, a tuple in a JSON column as a list),
        which never changes the key. Columns left out are checked with the default they get.

        Raises:
            ParameterError: A value the column cannot hold as given, naming the key, the value
                and the column type.
        """
        checks = self._checks
        values = request.values
        for name, value in values.items():
            checked = checks[name](value)
            if checked is not value:
                values[name] = checked
        for name in self.required.difference(values):
            checks[name](None)  # raises: a required column without a value
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
