"""Queries over one table: filters by column values and SQLAlchemy expressions."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Engine, Table, and_, func, select, true

from entropic._db import CHUNK
from entropic._params import ParameterSchema
from entropic._records import RecordFactory
from entropic.errors import ParameterError
from entropic.hashing import to_python

__all__ = ["Queries"]

T = TypeVar("T")


class Queries(Generic[T]):
    """Finds, counts and streams the records of one table.

    Args:
        engine: The Store's engine.
        table: The model's table.
        schema: The model's parameter schema (for enum conversion and messages).
        make: Builds records from rows.
    """

    def __init__(
        self, engine: Engine, table: Table, schema: ParameterSchema, make: RecordFactory[T]
    ) -> None:
        self.engine = engine
        self.table = table
        self.schema = schema
        self.make = make

    def where(self, where: ColumnElement[bool] | None, equals: Mapping[str, Any]) -> Any:
        """One clause: every ``equals`` column equal to its value, and ``where``.

        Raises:
            ParameterError: ``equals`` names a column the table lacks.
        """
        columns = self.table.columns
        unknown = sorted(k for k in equals if k not in columns)
        if unknown:
            raise ParameterError(
                f"unknown column(s) {', '.join(map(repr, unknown))} for "
                f"{self.schema.model_name}; its columns are {', '.join(columns.keys())}"
            )
        clauses: list[Any] = []
        for name, value in equals.items():
            value = to_python(value)
            enum_cls = self.schema.enums.get(name)
            if enum_cls is not None and value is not None and not isinstance(value, enum_cls):
                value = enum_cls(value)
            clauses.append(columns[name].is_(None) if value is None else columns[name] == value)
        if where is not None:
            clauses.append(where)
        return and_(true(), *clauses)

    def count(self, clause: Any) -> int:
        """How many rows match ``clause``."""
        query = select(func.count()).select_from(self.table).where(clause)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def iterate(self, clause: Any) -> Iterator[T]:
        """The matching records by id, streamed a chunk at a time."""
        query = select(self.table).where(clause).order_by(self.table.c.id)
        make = self.make
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=CHUNK).execute(query)
            for row in result:
                yield make(tuple(row))

    def frame(self, clause: Any) -> Any:
        """The matching rows as a pandas DataFrame.

        Raises:
            ImportError: pandas is not installed.
        """
        try:
            import pandas as pd  # type: ignore[import-untyped,unused-ignore]
        except ImportError as exc:
            raise ImportError(
                "Store.to_pandas needs pandas, which is not installed; install the extra "
                "entropic-core[pandas] (or pandas itself)"
            ) from exc
        names = list(self.table.columns.keys())
        query = select(self.table).where(clause).order_by(self.table.c.id)
        with self.engine.connect() as conn:
            rows = [tuple(r) for r in conn.execute(query)]
        frame = pd.DataFrame.from_records(rows, columns=names)
        if "created_at" in frame:
            frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
        return frame
