"""The checks of booleans, enums, JSON documents, dates and times."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from enum import Enum
from typing import Any, Final

from sqlalchemy import types as sqltypes
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeEngine

from entropic._values.common import Checker, ColumnInfo, show
from entropic.hashing import normalize

__all__ = [
    "boolean_checker",
    "date_checker",
    "datetime_checker",
    "enum_checker",
    "json_checker",
    "time_checker",
]

#: How deep JSON may nest (containers inside containers): MariaDB refuses 32 levels.
_JSON_DEPTH: Final = {"mysql": 31}
_JSON_DEPTH_DEFAULT: Final = 256


# ---------------------------------------------------------------------- choices


def boolean_checker(col: ColumnInfo) -> Checker:
    def check(value: Any) -> Any:
        if type(value) is bool:
            return value
        if value is None:
            return col.none()
        if isinstance(value, Enum):
            return check(value.value)
        if isinstance(value, int) and value in (0, 1):
            raise col.error(value, "it reads back as False or True, which hash differently")
        raise col.wrong_type(value, "bools")

    return check


def enum_checker(col: ColumnInfo, type_: sqltypes.Enum) -> Checker:
    enum_cls = type_.enum_class
    if enum_cls is None:
        allowed = frozenset(type_.enums)

        def check_str(value: Any) -> Any:
            if type(value) is str and value in allowed:
                return value
            if value is None:
                return col.none()
            if isinstance(value, Enum):
                return check_str(value.value)
            choices = ", ".join(repr(v) for v in type_.enums)
            raise col.error(value, f"it holds one of {choices}")

        return check_str

    members = enum_cls

    def check(value: Any) -> Any:
        if type(value) is members:
            return value
        if value is None:
            return col.none()
        if isinstance(value, members):
            return value
        plain = value.value if isinstance(value, Enum) else value
        try:
            member = members(plain)
        except (ValueError, TypeError):
            member = None
        if member is None or normalize(member.value) != normalize(plain):
            raise col.error(value, f"it is not a value of {members.__name__}")
        return member

    return check


# ---------------------------------------------------------------------- JSON


class _JSONRefusal(Exception):
    """A value inside a JSON document that cannot be stored; ``where`` grows as it unwinds."""

    def __init__(self, value: Any, reason: str) -> None:
        super().__init__(reason)
        self.value = value
        self.reason = reason
        self.where: list[str] = []


def json_checker(col: ColumnInfo, type_: sqltypes.JSON) -> Checker:
    dialect = col.dialect
    max_depth = _JSON_DEPTH.get(dialect, _JSON_DEPTH_DEFAULT)
    jsonb = isinstance(type_, postgresql.JSONB)
    int_range = (-(2**63), 2**64 - 1) if dialect == "mysql" else None
    max_bits = 14_000  # about 4,200 digits: Python refuses to print ints of more than 4,300

    def text(value: str) -> str:
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise _JSONRefusal(value, "it is not valid Unicode (a lone surrogate)") from None
        if jsonb and "\x00" in value:
            raise _JSONRefusal(value, "JSONB cannot hold NUL characters")
        return value

    def convert(value: Any, depth: int) -> Any:
        cls = type(value)
        if cls is str:
            return text(value)
        if cls is float:
            if not math.isfinite(value):
                raise _JSONRefusal(value, "NaN and infinities are not JSON; encode them")
            if jsonb and (
                (value == 0.0 and math.copysign(1.0, value) < 0)
                or (value.is_integer() and "e" in repr(value))
            ):
                raise _JSONRefusal(value, "JSONB hands this float back as a different number")
            return value
        if cls is int:
            if int_range is not None and not int_range[0] <= value <= int_range[1]:
                raise _JSONRefusal(value, "MySQL's JSON holds ints of 64 bits at most")
            if value.bit_length() > max_bits:
                raise _JSONRefusal(value, "too many digits for JSON")
            return value
        if cls is bool or value is None:
            return value
        if cls is dict or cls is list or isinstance(value, Mapping | list | tuple):
            if depth >= max_depth:
                raise _JSONRefusal(value, f"JSON nested deeper than {max_depth} levels")
            if isinstance(value, Mapping):
                return convert_dict(value, depth + 1)
            return convert_list(value, depth + 1)
        if isinstance(value, Enum):
            return convert(value.value, depth)
        if isinstance(value, bool):
            return bool(value)
        if isinstance(value, int):
            return convert(int(value), depth)
        if isinstance(value, float):
            return convert(float(value), depth)
        if isinstance(value, str):
            return text(str.__str__(value))
        if isinstance(value, set | frozenset):
            raise _JSONRefusal(value, "JSON has no sets; give a sorted list")
        raise _JSONRefusal(value, f"JSON cannot hold a {type(value).__name__}")

    def convert_dict(value: Mapping[Any, Any], depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        same = type(value) is dict
        for key, item in value.items():
            if type(key) is not str:
                if not isinstance(key, str) or isinstance(key, Enum):
                    refusal = _JSONRefusal(
                        key, "JSON keys are strings: this key would read back as a string"
                    )
                    refusal.where.append(f"[{key!r}]")
                    raise refusal
                key = str.__str__(key)
                same = False
            try:
                stored = convert(item, depth)
            except _JSONRefusal as refusal:
                refusal.where.append(f"[{key!r}]")
                raise
            same = same and stored is item
            out[key] = stored
        return value if same else out  # type: ignore[return-value]

    def convert_list(value: Any, depth: int) -> list[Any]:
        out = []
        same = type(value) is list
        for index, item in enumerate(value):
            try:
                stored = convert(item, depth)
            except _JSONRefusal as refusal:
                refusal.where.append(f"[{index}]")
                raise
            same = same and stored is item
            out.append(stored)
        return value if same else out

    def check(value: Any) -> Any:
        if value is None:
            return col.none()
        try:
            return convert(value, 0)
        except _JSONRefusal as refusal:
            if refusal.value is value:
                raise col.error(value, refusal.reason) from None
            where = "".join(reversed(refusal.where))
            raise col.error(value, f"at {where}, {show(refusal.value)}: {refusal.reason}") from None
        except RecursionError:
            raise col.error(value, "it nests too deeply") from None

    return check


# ---------------------------------------------------------------------- dates and times


def datetime_checker(col: ColumnInfo, type_: TypeEngine[Any], *, utc: bool) -> Checker:
    dialect = col.dialect
    timezone = bool(getattr(type_, "timezone", False))
    aware_only = not utc and timezone and dialect == "postgresql"
    naive_only = not utc and not aware_only
    whole_seconds = dialect == "mysql" and not utc and not getattr(type_, "fsp", None)
    timestamp = dialect == "mysql" and col.type_name.startswith("TIMESTAMP")

    def slow(value: Any) -> Any:
        if value is None:
            return col.none()
        if isinstance(value, Enum):
            return slow(value.value)
        if not isinstance(value, dt.datetime):
            raise col.wrong_type(value, "datetimes")
        aware = value.utcoffset() is not None
        if aware and naive_only:
            # a UTC datetime is stored as its wall time (entropic's PostgreSQL sessions use UTC),
            # which the collision guard reads back as the same instant; the value is handed on
            # as it is, so the key and the manifest do not change
            if value.utcoffset() != dt.timedelta(0):
                raise col.error(
                    value,
                    "it keeps no offset and would hand back a naive datetime; give it in UTC "
                    "(or naive), or declare the column with timezone=True / entropic's UTC type",
                )
            in_utc = value.replace(tzinfo=None)
        elif aware:
            try:
                in_utc = value.astimezone(dt.UTC)
            except (OverflowError, ValueError):
                raise col.error(value, "it is out of range once converted to UTC") from None
        elif aware_only:
            raise col.error(
                value,
                "PostgreSQL would read it in the session's time zone and hand back an aware "
                "datetime; give an aware one",
            )
        else:
            in_utc = value
        if whole_seconds and value.microsecond:
            raise col.error(value, "MySQL's DATETIME without fractional seconds drops microseconds")
        if timestamp and not (
            dt.datetime(1970, 1, 1, 0, 0, 1)
            <= in_utc.replace(tzinfo=None)
            < dt.datetime(2038, 1, 19, 3, 14, 8)
        ):
            raise col.error(value, "MySQL's TIMESTAMP holds 1970-01-01 to 2038-01-19 only")
        return value

    if utc and not whole_seconds and not timestamp:

        def check(value: Any) -> Any:
            if type(value) is dt.datetime and (value.tzinfo is None or value.tzinfo is dt.UTC):
                return value
            return slow(value)

        return check
    if naive_only and not whole_seconds and not timestamp:

        def check(value: Any) -> Any:
            if type(value) is dt.datetime and value.tzinfo is None:
                return value
            return slow(value)

        return check
    return slow


def date_checker(col: ColumnInfo) -> Checker:
    def check(value: Any) -> Any:
        if type(value) is dt.date:
            return value
        if value is None:
            return col.none()
        if isinstance(value, Enum):
            return check(value.value)
        if isinstance(value, dt.datetime):
            raise col.error(value, "a DATE keeps no time of day; give value.date()")
        if not isinstance(value, dt.date):
            raise col.wrong_type(value, "dates")
        return value

    return check


def time_checker(col: ColumnInfo, type_: TypeEngine[Any]) -> Checker:
    whole_seconds = col.dialect == "mysql" and not getattr(type_, "fsp", None)

    def check(value: Any) -> Any:
        if value is None:
            return col.none()
        if isinstance(value, Enum):
            return check(value.value)
        if not isinstance(value, dt.time):
            raise col.wrong_type(value, "times")
        if value.tzinfo is not None:
            raise col.error(value, "it keeps no offset; give a naive time")
        if whole_seconds and value.microsecond:
            raise col.error(value, "MySQL's TIME without fractional seconds drops microseconds")
        return value

    return check
