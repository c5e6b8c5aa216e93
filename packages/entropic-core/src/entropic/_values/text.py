"""The checks of text and binary columns, with MySQL's byte limits and character sets."""

from __future__ import annotations

import pathlib
from enum import Enum
from typing import Any, Final

from sqlalchemy import types as sqltypes

from entropic._values.common import Checker, ColumnInfo

__all__ = ["binary_checker", "string_checker"]

_DEFAULT_CHARSET: Final = "utf8mb4"

#: MySQL's TEXT and BLOB tiers: the most bytes each holds.
_MYSQL_TIERS: Final = (("TINY", 255), ("MEDIUM", 16_777_215), ("LONG", 4_294_967_295))
_MYSQL_DEFAULT_TIER: Final = 65_535


def _base_name(type_name: str) -> str:
    """``TEXT`` for ``TEXT(300)``, ``VARCHAR`` for ``VARCHAR(10) CHARACTER SET latin1``."""
    return type_name.split("(")[0].split(" ")[0]


def _mysql_tier(type_name: str) -> int:
    for prefix, limit in _MYSQL_TIERS:
        if type_name.startswith(prefix):
            return limit
    return _MYSQL_DEFAULT_TIER


def _mysql_limit(length: int | None, type_name: str) -> int:
    """The bytes a MySQL TEXT or BLOB column holds (MySQL picks the tier from the length)."""
    if length is None:
        return _mysql_tier(type_name)
    for limit in (255, 65_535, 16_777_215, 4_294_967_295):
        if length <= limit:
            return limit
    return 4_294_967_295


def _charset_problem(value: str, charset: str) -> str | None:
    """Why a MySQL character set cannot hold ``value`` (``None`` when it can, or is unknown)."""
    charset = charset.lower()
    if charset in ("utf8mb4", "binary"):
        return None
    if charset in ("utf8", "utf8mb3"):
        if any(ord(c) > 0xFFFF for c in value):
            return f"its {charset} character set has no characters beyond U+FFFF"
        return None
    if charset == "ascii":
        if not value.isascii():
            return "its ascii character set has only ASCII characters"
        return None
    if charset == "latin1":  # MySQL's latin1 is cp1252, with the five unused bytes as C1 codes
        for c in value:
            try:
                c.encode("cp1252")
            except UnicodeEncodeError:
                if not 0x80 <= ord(c) <= 0x9F:
                    return f"its latin1 character set has no {c!r}"
        return None
    return None


def string_checker(col: ColumnInfo, type_: sqltypes.String, charset: str | None) -> Checker:
    dialect = col.dialect
    length = type_.length
    fixed = isinstance(type_, sqltypes.CHAR) or col.type_name.startswith(("CHAR", "NCHAR"))
    if fixed and length is None:
        length = 1
    no_nul = dialect not in ("sqlite", "mysql")
    max_bytes: int | None = None
    if dialect == "mysql":
        charset = getattr(type_, "charset", None) or charset or _DEFAULT_CHARSET
        if isinstance(type_, sqltypes.Text) or _base_name(col.type_name).endswith("TEXT"):
            max_bytes = _mysql_limit(length, col.type_name)
            length = None
    else:
        charset = None
    fast_length = length if length is not None else (max_bytes // 4 if max_bytes else 1 << 62)

    def slow(value: Any) -> Any:
        if value is None:
            return col.none()
        if isinstance(value, Enum):
            return slow(value.value)
        if isinstance(value, pathlib.PurePath):
            return slow(str(value))
        if not isinstance(value, str):
            raise col.wrong_type(value, "str")
        value = str.__str__(value)
        if not value.isascii():
            try:
                encoded = value.encode("utf-8")
            except UnicodeEncodeError:
                raise col.error(value, "it is not valid Unicode (a lone surrogate)") from None
            if max_bytes is not None and len(encoded) > max_bytes:
                raise col.error(value, f"{len(encoded)} bytes of UTF-8, more than its {max_bytes}")
            problem = _charset_problem(value, charset) if charset else None
            if problem:
                raise col.error(value, problem)
        elif max_bytes is not None and len(value) > max_bytes:
            raise col.error(value, f"{len(value)} bytes, more than its {max_bytes}")
        if length is not None and len(value) > length:
            raise col.error(value, f"{len(value)} characters, more than its {length}")
        if no_nul and "\x00" in value:
            raise col.error(value, "PostgreSQL text cannot contain NUL characters")
        if fixed:
            if dialect == "mysql" and value.endswith(" "):
                raise col.error(value, "MySQL strips trailing spaces from CHAR values")
            if dialect == "postgresql" and len(value) != length:
                raise col.error(value, f"PostgreSQL pads CHAR values to {length} characters")
        return value

    if fixed:
        return slow
    if no_nul:

        def check(value: Any) -> Any:
            if (
                type(value) is str
                and len(value) <= fast_length
                and value.isascii()
                and "\x00" not in value
            ):
                return value
            return slow(value)

    else:

        def check(value: Any) -> Any:
            if type(value) is str and len(value) <= fast_length and value.isascii():
                return value
            return slow(value)

    return check


def binary_checker(col: ColumnInfo, type_: sqltypes._Binary) -> Checker:
    length = type_.length
    limit: int | None = length
    fixed = col.dialect == "mysql" and isinstance(type_, sqltypes.BINARY)
    if col.dialect == "mysql" and _base_name(col.type_name).endswith("BLOB"):
        limit = _mysql_limit(length, col.type_name)
    elif isinstance(type_, sqltypes.LargeBinary):
        limit = None  # BYTEA and SQLite's BLOB: up to the server's limits, a gigabyte or so

    def check(value: Any) -> Any:
        if type(value) is bytes and (limit is None or len(value) <= limit) and not fixed:
            return value
        if value is None:
            return col.none()
        if isinstance(value, Enum):
            return check(value.value)
        if not isinstance(value, bytes):
            if isinstance(value, bytearray | memoryview):
                raise col.error(value, "give bytes(value): a bytearray hashes differently")
            raise col.wrong_type(value, "bytes")
        value = bytes(value)
        if limit is not None and len(value) > limit:
            raise col.error(value, f"{len(value)} bytes, more than its {limit}")
        if fixed and len(value) != length:
            raise col.error(value, f"MySQL pads BINARY values to {length} bytes")
        return value

    return check
