"""The collision guard: do stored parameters match a request, up to floating-point noise?"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import os
from collections.abc import Mapping
from enum import Enum
from typing import Any, Final

from entropic.hashing import to_python

__all__ = ["REL_TOL", "same_value"]

#: Relative tolerance for floats: far above arithmetic noise (``0.1 + 0.2`` vs ``0.3``), far
#: below any difference a user means.
REL_TOL: Final = 1e-9


def _canonical(value: Any) -> Any:
    value = to_python(value)
    if isinstance(value, Enum):
        return _canonical(value.value)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def same_value(stored: Any, requested: Any) -> bool:
    """Whether a stored value and a requested one are the same parameter value.

    Enum members equal their values, tuples equal lists, aware datetimes equal the naive UTC
    values SQLite hands back, and floats are compared with a relative tolerance of ``REL_TOL``.
    """
    if type(stored) is type(requested) and stored == requested:
        return True  # the common case, decided without converting anything
    a = _canonical(stored)
    b = _canonical(requested)
    if a is b:
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a == b)
    if isinstance(a, int | float) and isinstance(b, int | float):
        if a == b:
            return True
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            return True
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=0.0)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, str) != isinstance(b, str):
        return str(a) == str(b)
    return bool(a == b)
