"""The checks of number columns: integers, floats, numerics."""

from __future__ import annotations

import decimal
import math
import struct
from enum import Enum
from typing import Any, Final

from sqlalchemy import types as sqltypes
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeEngine

from entropic._values.common import Checker, ColumnInfo

__all__ = ["float_checker", "integer_checker", "numeric_checker"]

_INF: Final = math.inf


def _int_range(col: ColumnInfo, type_: TypeEngine[Any]) -> tuple[int, int]:
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


def integer_checker(col: ColumnInfo, type_: TypeEngine[Any]) -> Checker:
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


def _is_single(col: ColumnInfo, type_: sqltypes.Float[Any]) -> bool:
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


def float_checker(col: ColumnInfo, type_: sqltypes.Float[Any]) -> Checker:
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


def numeric_checker(col: ColumnInfo, type_: sqltypes.Numeric[Any]) -> Checker:
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
