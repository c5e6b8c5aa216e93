"""Options shared by the commands, and turning command-line text into typed values.

``--db``, ``--results-dir`` and ``--table`` are accepted before the command and after it
(``entropic ls --db URL``): :func:`store_options` adds them to the group and to every command
that works on a store, and each records what it was given in the one context object.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar

import click
from sqlalchemy import JSON, Column, Table
from sqlalchemy import Enum as SAEnum

from entropic.inspection import OPERATORS, Condition, display_columns
from entropic_cli._context import DEFAULT_DB
from entropic_cli._errors import UsageFailure
from entropic_cli._format import text_cell

__all__ = [
    "DEFAULT_DB",
    "FORMATS",
    "convert_grid",
    "convert_value",
    "parse_assignment",
    "parse_conditions",
    "parse_scalar",
    "store_options",
]

F = TypeVar("F", bound=Callable[..., Any])

#: The ``--format`` choices of the commands that show one object or a small table.
FORMATS: Final = click.Choice(["table", "json"])

_TRUE: Final = frozenset({"true", "yes", "on", "1"})
_FALSE: Final = frozenset({"false", "no", "off", "0"})
#: Two-character operators first, so that ``<=`` is not read as ``<`` followed by ``=``.
_BY_LENGTH: Final = sorted(OPERATORS, key=len, reverse=True)


def _remember(name: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        if value is not None:
            from entropic_cli._context import state_of

            setattr(state_of(ctx), name, value)

    return callback


def store_options(command: F) -> F:
    """Add ``--db``, ``--results-dir`` and ``--table``; the last one given wins."""
    from entropic_cli._completion import complete_table

    options = [
        click.option(
            "--db",
            metavar="URL",
            expose_value=False,
            callback=_remember("db"),
            help=f"SQLAlchemy URL of the store's database [env: ENTROPIC_DB_URL; "
            f"default: {DEFAULT_DB}].",
        ),
        click.option(
            "--results-dir",
            type=click.Path(file_okay=False, path_type=Path),
            expose_value=False,
            callback=_remember("results_dir_given"),
            help="The store's results directory [env: ENTROPIC_RESULTS_DIR; default: the one "
            "the store recorded, else ./results].",
        ),
        click.option(
            "--table",
            metavar="NAME",
            expose_value=False,
            callback=_remember("table_given"),
            shell_complete=complete_table,
            help="The entropic table to work on [env: ENTROPIC_TABLE; default: the only one "
            "in the database].",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def parse_assignment(text: str, option: str) -> tuple[str, str]:
    """Split ``KEY=VALUE``.

    Raises:
        UsageFailure: There is no ``=`` or no key.
    """
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UsageFailure(f"{option} expects KEY=VALUE, not {text!r}")
    return key.strip(), value


def _split_comparison(text: str) -> tuple[str, str, str]:
    """``KEY<op>VALUE`` as its three parts; the first operator in the text counts."""
    start = next((i for i, ch in enumerate(text) if ch in "=!<>"), None)
    if start is not None:
        for op in _BY_LENGTH:
            if text.startswith(op, start):
                key = text[:start].strip()
                if key:
                    return key, op, text[start + len(op) :]
    raise UsageFailure(f"--where expects KEY=VALUE (or KEY!=, <, <=, >, >= VALUE), not {text!r}")


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


def _convert(kind: Any, text: str) -> Any:
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
    return text


def convert_value(column: Column[Any], text: str) -> Any:
    """Convert ``text`` to the Python type of ``column``.

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
        return _convert(kind, text)
    except (ValueError, decimal.InvalidOperation):
        type_name = getattr(kind, "__name__", str(kind))
        raise UsageFailure(f"{text!r} is not a valid {type_name} for column {name!r}") from None


def parse_conditions(table: Table, texts: Sequence[str]) -> list[Condition]:
    """``--where`` options as conditions, each value converted to its column's type.

    Raises:
        UsageFailure: A text is not a comparison, names no column, or its value does not fit.
    """
    conditions = []
    for text in texts:
        key, op, raw = _split_comparison(text)
        if key not in table.c:
            raise UsageFailure(
                f"unknown column {key!r} in --where; columns: {', '.join(display_columns(table))}"
            )
        conditions.append(Condition(key, op, convert_value(table.c[key], raw)))
    return conditions


def parse_scalar(text: str) -> Any:
    """A value for no known column: an int, else a float, else a bool, else the string."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    lowered = text.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    return text


def convert_grid(table: Table, grid: Mapping[str, Sequence[str]]) -> dict[str, list[Any]]:
    """Grid values converted as ``--where`` converts them; unknown or JSON keys as scalars.

    An unknown key is left for the Store to report with the model's columns.
    """
    converted: dict[str, list[Any]] = {}
    for key, texts in grid.items():
        column = table.c.get(key)
        if column is None or isinstance(column.type, JSON) or _python_type(column) in (dict, list):
            converted[key] = [parse_scalar(t) for t in texts]
        else:
            converted[key] = [convert_value(column, t) for t in texts]
    return converted


_DURATION: Final = re.compile(
    r"(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?"
)


class Duration(click.ParamType):  # type: ignore[type-arg]
    """A length of time: seconds (``5400``), or with units (``1h30m``, ``90m``, ``2d``, ``45s``)."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Seconds, as a float."""
        if isinstance(value, int | float):
            seconds = float(value)
        else:
            text = str(value).strip().lower().replace(" ", "")
            match = _DURATION.fullmatch(text)
            if not text or match is None or not any(match.groups()):
                self.fail(f"{value!r} is not a duration (e.g. 5400, 1h30m, 90m, 45s)", param, ctx)
            days, hours, minutes, secs = (float(g) if g else 0.0 for g in match.groups())
            seconds = days * 86400 + hours * 3600 + minutes * 60 + secs
        if seconds <= 0:
            self.fail("a duration must be positive", param, ctx)
        return seconds
