"""Value checks: can a column hold a parameter value exactly, on this database?

A parameter value that its column cannot hold (an int out of range, ``1.5`` in an integer
column), or that would read back as something else (``True`` in a string column reads back
``"1"``, a JSON ``{1: ...}`` reads back ``{"1": ...}``), must be refused before its runner is
called: otherwise the run is wasted when its row fails to insert, or every later request for it
is a :class:`~entropic.HashCollisionError`. :func:`column_checker` builds, once per column and
dialect, a function that returns the value to persist or raises :class:`~entropic.ParameterError`
naming the parameter, the value, the column type and the reason.

A checker never changes the hash of a value: what it returns normalises (see
:func:`entropic.hashing.normalize`) to what it was given. So an enum member given to a non-enum
column becomes its ``.value`` and a tuple in a JSON column becomes a list, both of which the hash
already treats that way; a value whose stored form would hash differently (``2.0`` in an integer
column, a ``Decimal`` in a float column) is refused rather than converted.

Decisions, per column type (``dialect`` is ``sqlite``, ``postgresql`` or ``mysql``; ``mariadb``
is taken as ``mysql``; any other name gets the strictest rules of the three):

- ``None``: accepted for nullable columns only.
- Enum members, for any column but an ``Enum`` one: checked and stored as their ``.value``.
- Integer types: ``int`` only, within the column's range: 64-bit signed for every integer type on
  SQLite; SMALLINT 16-bit, INTEGER 32-bit, BIGINT 64-bit signed on PostgreSQL and MySQL (and
  MySQL's TINYINT 8-bit, MEDIUMINT 24-bit, UNSIGNED from 0). ``bool`` is refused (it reads back
  ``1``/``0``, which hash differently), and so is every ``float``, ``2.0`` included (``2.0`` hashes
  as a float, the stored ``2`` as an int: pass ``int(x)``).
- Float types: ``float``, or an ``int`` that the float holds exactly (kept as an int, as its hash
  is). NaN is refused on SQLite (it reads back NULL) and MySQL, infinities on MySQL, and ``-0.0``
  on SQLite and MySQL (both read back ``0.0``, which hashes differently). Single-precision
  columns (PostgreSQL ``REAL``/``FLOAT(p <= 24)``, MySQL ``FLOAT``) take only the floats they give
  back unchanged (``0.1`` is fine, ``1.2345678`` is not on MySQL, ``16777217.0`` nowhere).
  ``bool``, ``str`` and ``Decimal`` are refused.
- Numeric/Decimal: a finite ``Decimal``, ``int`` or exact ``float`` that the column's precision
  and scale hold without rounding (MySQL's bare ``DECIMAL`` is ``DECIMAL(10, 0)``; SQLite keeps a
  float and hands back the column's scale, 10 places by default, so its rounding is emulated).
  The value reads back equal, with the column's scale (``Decimal("1.5")`` as ``Decimal("1.50")``).
- String/Text: ``str`` (a ``pathlib`` path is stored as its text) that is valid Unicode (no lone
  surrogates), at most the declared length in characters (on every dialect, SQLite included, so
  a store can move to a server), without NUL on PostgreSQL, within MySQL's byte limits for TEXT
  types and within the MySQL column's character set (``utf8mb4`` unless told otherwise; a charset
  this module does not know is not checked). A fixed-length ``CHAR`` refuses trailing spaces on
  MySQL (they are stripped) and values shorter than its length on PostgreSQL (they are padded).
  ``bool``, numbers and ``bytes`` are refused.
- Boolean: ``bool`` only; ``0`` and ``1`` are refused (they read back ``False``/``True``).
- Enum: a member of the enum class (or a value of one, or a member of another enum with such a
  value); for an enum of plain strings, one of its strings.
- JSON: ``None``, ``bool``, ``int``, finite ``float``, ``str``, lists, tuples (stored as lists)
  and dicts with ``str`` keys, nested at most 31 deep on MySQL (MariaDB's limit) and 256
  elsewhere. Refused: non-``str`` keys (they read back as strings), NaN and infinities (not
  JSON), sets, bytes, ``Decimal``, datetimes and other objects, lone surrogates, ints beyond
  64 bits on MySQL. PostgreSQL ``JSONB`` also refuses NUL characters, ``-0.0`` and integral floats
  written with an exponent (``1e20``), which JSONB hands back as ints.
- DateTime: entropic's UTC datetime takes naive values (taken as UTC, as it documents) and aware
  ones (read back as the same instant in UTC). A plain ``DateTime`` takes naive values only; one
  with ``timezone=True`` takes aware values only on PostgreSQL and naive only elsewhere (SQLite
  and MySQL drop the offset). MySQL's ``DATETIME`` without fractional seconds refuses
  microseconds; MySQL's ``TIMESTAMP`` its range outside 1970-2038. Date: ``date`` but not
  ``datetime``. Time: naive ``time``; microseconds refused on MySQL without fractional seconds.
- LargeBinary and the other binary types: ``bytes`` (not ``bytearray``, whose text, and so hash,
  differs), within MySQL's BLOB tiers or the declared length.
- Passed through unchecked (but ``None`` for NOT NULL is still refused): custom
  ``TypeDecorator`` types other than entropic's UTC datetime, and types without a Python type
  (``NullType``, user-defined types). Any other type (``Uuid``, ``Interval``, ``ARRAY``, MySQL's
  ``SET``...) accepts values of the Python type it reports, unchecked further, and refuses others.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import pathlib
import reprlib
import struct
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any, Final

from sqlalchemy import Column
from sqlalchemy import types as sqltypes
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from entropic.errors import ParameterError
from entropic.hashing import normalize
from entropic.schema import UTCDateTime

__all__ = ["Checker", "checkers", "column_checker"]

#: A column's check: takes a value, returns the value to persist or raises ``ParameterError``.
Checker = Callable[[Any], Any]

_DIALECTS: Final[dict[str, Callable[[], Dialect]]] = {
    "sqlite": sqlite.dialect,
    "postgresql": postgresql.dialect,
    "mysql": mysql.dialect,
}

_INF: Final = math.inf
_DEFAULT_CHARSET: Final = "utf8mb4"

#: How deep JSON may nest (containers inside containers): MariaDB refuses 32 levels.
_JSON_DEPTH: Final = {"mysql": 31}
_JSON_DEPTH_DEFAULT: Final = 256

#: MySQL's TEXT and BLOB tiers: the most bytes each holds.
_MYSQL_TIERS: Final = (("TINY", 255), ("MEDIUM", 16_777_215), ("LONG", 4_294_967_295))
_MYSQL_DEFAULT_TIER: Final = 65_535

_shown = reprlib.Repr()
_shown.maxstring = 60
_shown.maxother = 60
_shown.maxlist = _shown.maxtuple = _shown.maxdict = _shown.maxset = 4


def _show(value: Any) -> str:
    return f"{_shown.repr(value)} ({type(value).__name__})"


class _Column:
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
            f"parameter {self.name!r} is {_show(value)}, which column type {self.type_name} "
            f"cannot hold exactly on {self.dialect}: {reason}"
        )

    def none(self) -> None:
        """``None`` for a nullable column; a NOT NULL column refuses it."""
        if not self.nullable:
            raise self.error(None, "the column is NOT NULL; give a value")

    def wrong_type(self, value: Any, holds: str) -> ParameterError:
        """The error that refuses a value of the wrong Python type."""
        return self.error(value, f"it holds {holds}, not {type(value).__name__}")


def checkers(
    columns: Mapping[str, Column[Any]],
    dialect: str,
    *,
    charsets: Mapping[str, str] | None = None,
) -> dict[str, Checker]:
    """Build the checker of each of a model's parameter columns.

    Args:
        columns: The parameter columns by name (the reserved columns left out).
        dialect: The database's dialect name (``engine.dialect.name``).
        charsets: For MySQL/MariaDB, the character set of each text column where it is not
            ``utf8mb4`` (see :func:`column_checker`).

    Returns:
        The checker of each column, by name.
    """
    given = charsets or {}
    return {
        name: column_checker(name, column, dialect, charset=given.get(name))
        for name, column in columns.items()
    }


def column_checker(
    name: str, column: Column[Any], dialect: str, *, charset: str | None = None
) -> Checker:
    """Build the function that checks one parameter's values against its column.

    The function takes a value as the Store prepared it (NumPy scalars already turned into
    Python numbers by :func:`entropic.hashing.to_python`) and returns the value to persist. It
    is built once, so the common cases cost a type check or two. The rules are listed in this
    module's docstring.

    Args:
        name: The parameter's name, for the messages.
        column: The model's column.
        dialect: The database's dialect name (``sqlite``, ``postgresql``, ``mysql``,
            ``mariadb``); another name gets the strictest rules of those.
        charset: For MySQL/MariaDB, the character set of the column's text (``utf8mb4`` when
            not given; a character set declared on the column type wins).

    Returns:
        The checker: ``value -> value to persist``. It raises
        :class:`~entropic.ParameterError` naming the parameter, the value and the column type
        when the column cannot hold the value exactly or would hand back something else.
    """
    asked = dialect
    dialect = "mysql" if dialect == "mariadb" else dialect
    type_: TypeEngine[Any] = column.type
    # the type this dialect uses (Base's ``str`` is TEXT on MySQL), kept as the class the model
    # names: a dialect's implementation class can lose it (PostgreSQL's REAL becomes a FLOAT)
    variants: Mapping[str, TypeEngine[Any]] = getattr(type_, "_variant_mapping", None) or {}
    type_ = variants.get(asked, variants.get(dialect, type_))
    type_name = repr(type_)
    make_dialect = _DIALECTS.get(dialect)
    if make_dialect is not None:
        try:
            type_name = str(column.type.compile(dialect=make_dialect()))
        except Exception:  # a type this dialect cannot render: keep its repr for the messages
            type_name = repr(type_)
    col = _Column(name, type_name, dialect, bool(column.nullable))
    return _build(col, type_, charset)


def _build(col: _Column, type_: TypeEngine[Any], charset: str | None) -> Checker:
    if isinstance(type_, UTCDateTime):
        return _datetime(col, type_, utc=True)
    if isinstance(type_, TypeDecorator):
        return _passthrough(col)
    if isinstance(type_, sqltypes.Enum):
        return _enum(col, type_)
    if isinstance(type_, sqltypes.Boolean):
        return _boolean(col)
    if isinstance(type_, sqltypes.Integer):
        return _integer(col, type_)
    if isinstance(type_, sqltypes.Float):
        return _float(col, type_)
    if isinstance(type_, sqltypes.Numeric):
        return _numeric(col, type_)
    if isinstance(type_, sqltypes.JSON):
        return _json(col, type_)
    if isinstance(type_, mysql.SET):
        return _by_python_type(col, type_)
    if isinstance(type_, sqltypes.String):
        return _string(col, type_, charset)
    if isinstance(type_, sqltypes.DateTime):
        return _datetime(col, type_, utc=False)
    if isinstance(type_, sqltypes.Date):
        return _date(col)
    if isinstance(type_, sqltypes.Time):
        return _time(col, type_)
    if isinstance(type_, sqltypes._Binary):
        return _binary(col, type_)
    return _by_python_type(col, type_)


# ---------------------------------------------------------------------- fallbacks


def _passthrough(col: _Column) -> Checker:
    def check(value: Any) -> Any:
        if value is None:
            col.none()
        return value

    return check


def _by_python_type(col: _Column, type_: TypeEngine[Any]) -> Checker:
    try:
        python_type = type_.python_type
    except NotImplementedError:
        return _passthrough(col)

    def check(value: Any) -> Any:
        if value is None:
            return col.none()
        if isinstance(value, Enum):
            return check(value.value)
        if not isinstance(value, python_type) or (
            isinstance(value, bool) and python_type is not bool
        ):
            raise col.wrong_type(value, python_type.__name__)
        return value

    return check


# ---------------------------------------------------------------------- numbers


def _int_range(col: _Column, type_: TypeEngine[Any]) -> tuple[int, int]:
    if col.dialect == "sqlite":
        bits = 64
    elif isinstance(type_, mysql.TINYINT):
        bits = 8
    elif isinstance(type_, sqltypes.SmallInteger):
        bits = 16
    elif isinstance(type_, mysql.MEDIUMINT):
        bits = 24
    elif isinstance(type_, sqltypes.BigInteger):
        bits = 64
    else:
        bits = 32
    if col.dialect == "mysql" and getattr(type_, "unsigned", False):
        return 0, 2**bits - 1
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def _integer(col: _Column, type_: TypeEngine[Any]) -> Checker:
    lo, hi = _int_range(col, type_)

    def check(value: Any) -> Any:
        if type(value) is int and lo <= value <= hi:
            return value
        return slow(value)

    def slow(value: Any) -> Any:
        if value is None:
            return col.none()
        if isinstance(value, Enum):
            return slow(value.value)
        if isinstance(value, bool):
            raise col.error(
                value, "a bool reads back as 1 or 0, which hash differently; give an int"
            )
        if isinstance(value, int):
            if lo <= value <= hi:
                return int(value)
            raise col.error(value, f"out of the column's range [{lo}, {hi}]")
        if isinstance(value, float):
            if math.isfinite(value) and value.is_integer():
                raise col.error(
                    value,
                    "it holds ints; a float hashes as a float, so give int(value) if you "
                    "mean the integer",
                )
            raise col.error(value, "it holds ints, and this float would be rounded or refused")
        raise col.wrong_type(value, "ints")

    return check


def _is_single(col: _Column, type_: sqltypes.Float[Any]) -> bool:
    if col.dialect == "sqlite" or isinstance(type_, sqltypes.Double):
        return False
    precision = type_.precision
    if col.dialect == "postgresql":
        if isinstance(type_, sqltypes.REAL):
            return True
        return precision is not None and precision <= 24
    if col.dialect == "mysql":
        if isinstance(type_, sqltypes.REAL) and not isinstance(type_, mysql.FLOAT):
            return False  # REAL is DOUBLE on MySQL
        return col.type_name.startswith("FLOAT") and (precision is None or precision <= 24)
    return True  # an unknown dialect: the strictest reading


def _float32(value: float) -> float:
    result: float = struct.unpack("f", struct.pack("f", value))[0]
    return result


def _single_reads_back(value: float, dialect: str) -> bool:
    """Whether a single-precision column hands ``value`` back unchanged.

    PostgreSQL sends the shortest text that identifies the stored float32, and the driver reads
    it as a double; MariaDB sends six significant digits.
    """
    if not math.isfinite(value) or value == 0.0:
        return True
    try:
        stored = _float32(value)
    except OverflowError:
        return False
    for digits in range(1, 10):
        shortest = f"{stored:.{digits}g}"
        if _float32(float(shortest)) == stored:
            break
    if float(shortest) != value:
        return False
    return dialect == "postgresql" or float(f"{stored:.6g}") == value


def _float(col: _Column, type_: sqltypes.Float[Any]) -> Checker:
    dialect = col.dialect
    nan_ok = dialect in ("postgresql",)
    inf_ok = dialect in ("postgresql", "sqlite")
    negative_zero_ok = dialect in ("postgresql",)
    single = _is_single(col, type_)

    def float_ok(value: float) -> None:
        if value != value:
            if not nan_ok:
                why = "it reads back as NULL" if dialect == "sqlite" else "it refuses NaN"
                raise col.error(value, f"{why}; use PostgreSQL, or encode the value, e.g. as None")
        elif value in (_INF, -_INF):
            if not inf_ok:
                raise col.error(value, "it refuses infinities; use PostgreSQL, or encode the value")
        elif value == 0.0 and not negative_zero_ok and math.copysign(1.0, value) < 0:
            raise col.error(value, "-0.0 reads back as 0.0, which hashes differently; give 0.0")
        if single and not _single_reads_back(value, dialect):
            raise col.error(value, "a single-precision column would hand back a rounded value")

    def slow(value: Any) -> Any:
        if value is None:
            return col.none()
        if isinstance(value, Enum):
            return slow(value.value)
        if isinstance(value, bool):
            raise col.error(value, "a bool reads back as 1.0 or 0.0; give a float")
        if isinstance(value, float):
            value = float(value)
            float_ok(value)
            return value
        if isinstance(value, int):
            try:
                exact = float(value) == value
            except OverflowError:
                exact = False
            if not exact:
                raise col.error(value, "a float cannot hold this int exactly")
            if single:
                float_ok(float(value))
            return int(value)
        raise col.wrong_type(value, "floats")

    if single:
        return slow
    if dialect == "postgresql":

        def check(value: Any) -> Any:
            if type(value) is float:
                return value
            return slow(value)

    elif dialect == "sqlite":

        def check(value: Any) -> Any:
            if type(value) is float and value == value and value != 0.0:
                return value
            return slow(value)

    else:

        def check(value: Any) -> Any:
            if type(value) is float and -_INF < value < _INF and value != 0.0:
                return value
            return slow(value)

    return check


def _places(value: decimal.Decimal) -> tuple[int, int]:
    """The digits before and after the point of a finite Decimal, trailing zeros ignored."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    kept = list(digits)
    while exponent < 0 and len(kept) > 1 and kept[-1] == 0:
        kept.pop()
        exponent += 1
    if not any(kept):
        return 0, 0
    while kept and kept[0] == 0:
        kept.pop(0)
    return max(0, len(kept) + exponent), max(0, -exponent)


def _numeric(col: _Column, type_: sqltypes.Numeric[Any]) -> Checker:
    dialect = col.dialect
    precision, scale = type_.precision, type_.scale
    if dialect == "mysql":
        # a bare NUMERIC is DECIMAL(10, 0) on MySQL, whatever the scale says
        precision, scale = (10, 0) if precision is None else (precision, scale or 0)
    elif precision is not None and scale is None:
        scale = 0
    asdecimal = bool(type_.asdecimal)
    sqlite_scale = (
        scale
        if scale is not None
        else (type_._effective_decimal_return_scale or type_._default_decimal_return_scale)
    )

    def fits(value: Any, exact: decimal.Decimal) -> None:
        if not exact.is_finite():
            raise col.error(value, "only finite numbers are stored")
        if dialect == "sqlite":
            # SQLite keeps a float; SQLAlchemy formats it with the scale on the way back
            stored = float(exact)
            back: Any = (
                decimal.Decimal(f"{stored:.{sqlite_scale}f}") if asdecimal else float(stored)
            )
            if back != exact:
                raise col.error(value, f"SQLite keeps a float and hands back {back!r}")
            return
        if precision is None or scale is None:
            return  # PostgreSQL's unconstrained NUMERIC stores any finite number exactly
        before, after = _places(exact)
        if after > scale or before > precision - scale:
            raise col.error(
                value, f"NUMERIC({precision}, {scale}) would round it or refuse it as too large"
            )
        if not asdecimal and float(exact) != exact:
            raise col.error(value, "the column hands back a float, which cannot hold it exactly")

    def check(value: Any) -> Any:
        if value is None:
            return col.none()
        if isinstance(value, Enum):
            return check(value.value)
        if isinstance(value, bool):
            raise col.error(value, "a bool reads back as a number; give a Decimal or an int")
        if isinstance(value, decimal.Decimal):
            fits(value, value)
            return value
        if isinstance(value, int):
            fits(value, decimal.Decimal(int(value)))
            return int(value)
        if isinstance(value, float):
            value = float(value)
            if not math.isfinite(value):
                raise col.error(value, "only finite numbers are stored")
            text = decimal.Decimal(repr(value))
            if asdecimal and text != value:
                raise col.error(
                    value,
                    "it hands back a Decimal, which would not equal this float; give "
                    f"Decimal({str(text)!r})",
                )
            fits(value, text)
            return value
        raise col.wrong_type(value, "Decimals, ints and exact floats")

    return check


# ---------------------------------------------------------------------- text


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


def _string(col: _Column, type_: sqltypes.String, charset: str | None) -> Checker:
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


def _binary(col: _Column, type_: sqltypes._Binary) -> Checker:
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


# ---------------------------------------------------------------------- choices


def _boolean(col: _Column) -> Checker:
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


def _enum(col: _Column, type_: sqltypes.Enum) -> Checker:
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


def _json(col: _Column, type_: sqltypes.JSON) -> Checker:
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
            raise col.error(
                value, f"at {where}, {_show(refusal.value)}: {refusal.reason}"
            ) from None
        except RecursionError:
            raise col.error(value, "it nests too deeply") from None

    return check


# ---------------------------------------------------------------------- dates and times


def _datetime(col: _Column, type_: TypeEngine[Any], *, utc: bool) -> Checker:
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
        if aware:
            if naive_only:
                raise col.error(value, "it keeps no offset and would hand back a naive datetime")
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


def _date(col: _Column) -> Checker:
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


def _time(col: _Column, type_: TypeEngine[Any]) -> Checker:
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
