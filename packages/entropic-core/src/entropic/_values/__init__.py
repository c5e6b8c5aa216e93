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

from entropic._values.common import Checker
from entropic._values.dispatch import checkers, column_checker

__all__ = ["Checker", "checkers", "column_checker"]
