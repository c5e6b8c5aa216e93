"""Finding an entropic store: the database URL, the table and its columns, without the model.

The table is reflected from the database; a table is an entropic table when it has the four
reserved columns (``id``, ``result_file``, ``created_at``, ``custom_data``). Tables whose names
start with ``entropic_`` are entropic's own bookkeeping and are never offered.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import click
from sqlalchemy import JSON, Column, Engine, MetaData, Table, create_engine, inspect, select
from sqlalchemy import Enum as SAEnum
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from entropic import Base, entropic_tables, reflect_model
from entropic.schema import RESERVED_COLUMNS
from entropic_cli._errors import Failure, UsageFailure, first_line, scrub
from entropic_cli._format import text_cell

__all__ = [
    "META_TABLE",
    "RESERVED_COLUMNS",
    "StoreHandle",
    "convert_value",
    "display_url",
    "parameter_columns",
    "parse_assignment",
    "parse_url",
]

#: Where entropic-core records facts about each table (hash scheme, creating version).
META_TABLE: Final = "entropic_meta"
#: Where entropic-core records the runs in flight.
CLAIMS_TABLE: Final = "entropic_claims"
#: Seconds to wait for a database server to answer before giving up.
CONNECT_TIMEOUT: Final = 10

_TRUE: Final = frozenset({"true", "yes", "on", "1"})
_FALSE: Final = frozenset({"false", "no", "off", "0"})


def parse_url(text: str) -> URL:
    """Parse a database URL given on the command line.

    Raises:
        UsageFailure: ``text`` is not a database URL (the message hides any password).
    """
    try:
        return make_url(text)
    except (ArgumentError, ValueError):
        # the text is not echoed: whatever it holds could be a password
        raise UsageFailure(
            "invalid database URL: expected dialect+driver://user@host/database "
            "or sqlite:///path/to/file"
        ) from None


def display_url(url: URL) -> str:
    """``url`` as it may be printed: with its password hidden."""
    return url.render_as_string(hide_password=True)


def _sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite URL, or ``None`` for an in-memory or URI-style database."""
    database = url.database
    if url.get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
        return None
    if database.startswith("file:"):
        return None
    return Path(database)


def make_engine(url: URL, *, create: bool = False) -> Engine:
    """An engine for the command's own queries.

    Args:
        url: The database.
        create: Whether a SQLite file may be created; otherwise a missing file is an error.

    Raises:
        Failure: The SQLite file does not exist, or the driver is not installed.
    """
    path = _sqlite_file(url)
    if path is not None and not create and not path.is_file():
        raise Failure(f"no database at {path}")
    args: dict[str, Any] = {}
    backend = url.get_backend_name()
    if backend == "sqlite":
        args["timeout"] = 60  # wait for a writer rather than failing at once
    elif backend in ("postgresql", "mysql", "mariadb") and "connect_timeout" not in url.query:
        args["connect_timeout"] = CONNECT_TIMEOUT
    try:
        return create_engine(url, connect_args=args)
    except ImportError as exc:
        raise Failure(
            f"cannot use {display_url(url)}: its database driver is not installed ({exc})"
        ) from None


def parameter_columns(table: Table) -> list[Column[Any]]:
    """The columns of ``table`` that are parameters (every column but the reserved ones)."""
    return [c for c in table.columns if c.name not in RESERVED_COLUMNS]


def display_columns(table: Table) -> list[str]:
    """Column names in the order the command shows them: id, parameters, then the rest."""
    return ["id", *(c.name for c in parameter_columns(table)), *RESERVED_COLUMNS[1:]]


@dataclass
class StoreHandle:
    """The store a command works on, opened lazily from the global options.

    Attributes:
        db: The database URL as given.
        results_dir: The results directory.
        table_name: The table asked for with ``--table``, or ``None`` to find the only one.
        create: Whether a missing SQLite file may be created (``ingest`` rebuilding a store).
    """

    db: str
    results_dir: Path
    table_name: str | None
    _url: URL | None = field(default=None, repr=False)
    _engine: Engine | None = field(default=None, repr=False)
    create: bool = False
    _model: type[Base] | None = field(default=None, repr=False)

    @property
    def url(self) -> URL:
        """The parsed database URL."""
        if self._url is None:
            self._url = parse_url(self.db)
        return self._url

    @property
    def secrets(self) -> list[str]:
        """Strings no message may show: the database password."""
        try:
            password = self.url.password
        except click.ClickException:
            return []
        return [str(password)] if password else []

    @property
    def shown_url(self) -> str:
        """The database URL with its password hidden."""
        return display_url(self.url)

    @property
    def engine(self) -> Engine:
        """An engine on the database, checked to answer."""
        if self._engine is None:
            engine = make_engine(self.url, create=self.create)
            try:
                with engine.connect():
                    pass
            except DBAPIError as exc:
                engine.dispose()
                reason = first_line(str(exc.orig)) if exc.orig is not None else str(exc)
                raise Failure(
                    f"cannot connect to {self.shown_url}: {scrub(reason, self.secrets)}"
                ) from None
            self._engine = engine
        return self._engine

    def tables(self) -> list[str]:
        """Every entropic table in the database."""
        return entropic_tables(self.engine)

    @property
    def model(self) -> type[Base]:
        """A model made from the table the command works on (see :func:`entropic.reflect_model`).

        Raises:
            Failure: There is no such table, it is not an entropic table, there is none at all,
                or there are several and ``--table`` does not say which.
        """
        if self._model is None:
            self._model = reflect_model(self.engine, self._choose_table())
        return self._model

    @property
    def table(self) -> Table:
        """The reflected table the command works on (raises as :attr:`model` does)."""
        table = self.model.__table__
        assert isinstance(table, Table)
        return table

    def _choose_table(self) -> str:
        found = self.tables()
        if self.table_name is not None:
            if self.table_name in found:
                return self.table_name
            where = self.shown_url
            if inspect(self.engine).has_table(self.table_name):
                missing = self._missing_reserved(self.table_name)
                raise Failure(
                    f"table {self.table_name!r} in {where} is not an entropic table "
                    f"(it lacks {', '.join(missing)})"
                )
            known = f"; entropic tables: {', '.join(found)}" if found else ""
            raise Failure(f"no table {self.table_name!r} in {where}{known}")
        if not found:
            raise Failure(f"no entropic table in {self.shown_url}")
        if len(found) > 1:
            raise Failure(
                f"several entropic tables in {self.shown_url}: {', '.join(found)}; "
                "choose one with --table (or $ENTROPIC_TABLE)"
            )
        return found[0]

    def _missing_reserved(self, name: str) -> list[str]:
        present = {c["name"] for c in inspect(self.engine).get_columns(name)}
        return [c for c in RESERVED_COLUMNS if c not in present]

    def facts(self) -> dict[str, str]:
        """What entropic-core recorded about the table (hash scheme, creating version...)."""
        if not inspect(self.engine).has_table(META_TABLE):
            return {}
        meta = Table(META_TABLE, MetaData(), autoload_with=self.engine)
        query = select(meta.c.key, meta.c.value).where(meta.c.table_name == self.table.name)
        with self.engine.connect() as conn:
            return {str(k): str(v) for k, v in conn.execute(query)}

    def claimed_ids(self) -> set[str]:
        """Ids of runs some process is doing right now (claims whose lease has not expired)."""
        if not inspect(self.engine).has_table(CLAIMS_TABLE):
            return set()
        claims = Table(CLAIMS_TABLE, MetaData(), autoload_with=self.engine)
        with self.engine.connect() as conn:
            rows = conn.execute(select(claims.c.run_id, claims.c.expires_at)).all()
        now = dt.datetime.now(dt.UTC)
        live = set()
        for run_id, expires in rows:
            if isinstance(expires, dt.datetime):
                aware = expires if expires.tzinfo else expires.replace(tzinfo=dt.UTC)
                if aware <= now:
                    continue
            live.add(str(run_id))
        return live

    def result_path(self, stored: str) -> Path:
        """The file a row's ``result_file`` names (relative paths are in the results dir)."""
        path = Path(stored)
        return path if path.is_absolute() else self.results_dir / path

    def close(self) -> None:
        """Release the database connections."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def parse_assignment(text: str, option: str) -> tuple[str, str]:
    """Split ``KEY=VALUE``.

    Raises:
        UsageFailure: There is no ``=`` or no key.
    """
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UsageFailure(f"{option} expects KEY=VALUE, not {text!r}")
    return key.strip(), value


def _python_type(column: Column[Any]) -> Any:
    try:
        return column.type.python_type
    except NotImplementedError:
        return str


def _enum_member(enum_cls: type[enum.Enum], name: str, text: str) -> enum.Enum:
    """The member of ``enum_cls`` whose value (as ``ls`` shows it) or else name is ``text``."""
    members = list(enum_cls)
    for member in members:
        if text_cell(member.value, limit=None) == text:
            return member
    for member in members:
        if member.name == text:
            return member
    values = ", ".join(text_cell(m.value, limit=None) for m in members)
    raise UsageFailure(f"{text!r} is not a value of column {name!r}; its values are {values}")


def convert_value(column: Column[Any], text: str) -> Any:
    """Convert ``text`` to the Python type of ``column``, for binding as a parameter.

    Raises:
        UsageFailure: ``text`` is not a value of the column's type, or the column holds JSON.
    """
    kind = _python_type(column)
    name = column.name
    if isinstance(column.type, JSON) or kind in (dict, list):
        raise UsageFailure(f"cannot compare column {name!r}: it holds JSON")
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return _enum_member(kind, name, text)
    if isinstance(column.type, SAEnum) and column.type.enums:
        labels = column.type.enums  # an enum known by its labels only (no record of its values)
        if text not in labels:
            raise UsageFailure(
                f"{text!r} is not a value of column {name!r}; its values are {', '.join(labels)}"
            )
        return text
    try:
        if kind is bool:
            lowered = text.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError(text)
        if kind is int:
            lowered = text.strip().lower()
            if lowered in ("true", "false"):  # booleans stored as integers (MySQL's TINYINT)
                return int(lowered == "true")
            return int(text)
        if kind is float:
            return float(text)
        if kind is decimal.Decimal:
            return decimal.Decimal(text)
        if kind is dt.datetime:
            return dt.datetime.fromisoformat(text)
        if kind is dt.date:
            return dt.date.fromisoformat(text)
    except (ValueError, decimal.InvalidOperation):
        type_name = getattr(kind, "__name__", str(kind))
        raise UsageFailure(f"{text!r} is not a valid {type_name} for column {name!r}") from None
    return text


def where_clauses(table: Table, assignments: Sequence[str]) -> list[Any]:
    """Equality conditions from ``--where KEY=VALUE`` options, with values bound as parameters.

    Raises:
        UsageFailure: A key names no column, or a value does not fit its column.
    """
    clauses = []
    for text in assignments:
        key, raw = parse_assignment(text, "--where")
        if key not in table.c:
            raise UsageFailure(
                f"unknown column {key!r} in --where; columns: {', '.join(display_columns(table))}"
            )
        column = table.c[key]
        clauses.append(column == convert_value(column, raw))
    return clauses
