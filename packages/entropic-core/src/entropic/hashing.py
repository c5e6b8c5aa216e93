"""Parameter keys: normalisation, hashing and explicit-id validation.

The scheme is a compatibility contract with entropic 2.x, whose stores must keep their keys:

1. the reserved keys (``id``, ``result_file``, ``created_at``, ``custom_data``) are left out;
2. dictionary keys are sorted, recursively;
3. floats are rounded to 12 decimal places, enums replaced by their ``.value``, tuples become
   lists, and anything that is not a JSON scalar, list or dict becomes its ``str()``;
4. the result is serialised as compact JSON and hashed with SHA-256; the key is the first 16 hex
   characters (64 bits).

NumPy scalars are treated as the Python numbers they hold; NumPy itself is never imported.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from enum import Enum
from typing import Any, Final

from entropic._json import compiled_encoder
from entropic.errors import ParameterError

__all__ = [
    "HASH_SCHEME",
    "RESERVED_KEYS",
    "hash_params",
    "hash_values",
    "normalize",
    "to_python",
    "validate_id",
]

#: Name of the hashing scheme, recorded in every store so a future scheme cannot silently
#: re-key an old store.
HASH_SCHEME: Final = "sha256-16:round12:v2"

#: Keys that never take part in a hash.
RESERVED_KEYS: Final = frozenset({"id", "result_file", "created_at", "custom_data"})

_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9._\-]{0,127}")
_SCALARS: Final = (str, int, bool, type(None))
#: The value types hashed as they are (a float is rounded first).
_UNCHANGED: Final = frozenset(_SCALARS)

#: Compact JSON with sorted keys, as ``json.dumps(body, separators=(",", ":"), sort_keys=True)``.
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), sort_keys=True)


_encode: Final = compiled_encoder(_ENCODER)


def to_python(value: Any) -> Any:
    """Return the Python number a NumPy scalar holds; any other value unchanged.

    NumPy is recognised by the value's type, so NumPy need not be installed.
    """
    cls = type(value)
    if cls.__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def normalize(value: Any) -> Any:
    """Return the JSON-ready form of ``value`` that the hash is computed from.

    Args:
        value: A parameter value: scalars, enums, lists, tuples and dicts nest freely.

    Returns:
        Plain ``dict``/``list``/``str``/``int``/``float``/``bool``/``None`` data, with floats
        rounded to 12 decimal places and dict keys in sorted order.
    """
    cls = type(value)
    if cls is float:
        return round(value, 12)
    if cls in _SCALARS:
        return value
    if isinstance(value, Enum):
        return normalize(value.value)
    if isinstance(value, Mapping):
        try:
            keys = sorted(value)
        except TypeError:
            raise ParameterError(
                f"cannot key a mapping whose keys are of types that do not sort together "
                f"({', '.join(sorted({type(k).__name__ for k in value}))}): {_short(value)}"
            ) from None
        return {k: normalize(value[k]) for k in keys}
    if isinstance(value, list | tuple):
        return [normalize(v) for v in value]
    if isinstance(value, float):
        return round(float(value), 12)
    if isinstance(value, bool | int | str):
        return value
    converted = to_python(value)
    if converted is not value:
        return normalize(converted)
    return str(value)


def hash_params(params: Mapping[str, Any]) -> str:
    """Return the 16-hex-character key of a parameter set.

    The reserved keys are ignored; an explicit ``id`` is *not* honoured here (see
    :meth:`entropic.Store.retrieve` for that).

    Args:
        params: The parameter set.

    Returns:
        The first 16 hex characters of the SHA-256 of the normalised parameters as compact JSON.
    """
    return hash_values({k: v for k, v in params.items() if k not in RESERVED_KEYS})


def hash_values(values: Mapping[str, Any]) -> str:
    """:func:`hash_params` for a mapping known to hold no reserved key (the Store's hot path)."""
    if not _UNCHANGED.issuperset(map(type, values.values())):
        values = {
            name: round(value, 12)
            if type(value) is float
            else value
            if type(value) in _UNCHANGED
            else normalize(value)
            for name, value in values.items()
        }
    # the encoder sorts the keys, as normalize sorts those of nested mappings
    return hashlib.sha256(_encode(values).encode()).hexdigest()[:16]


def validate_id(value: object) -> str:
    """Check an explicit run id and return it.

    A valid id is 1 to 128 characters of ``A-Z a-z 0-9 . _ -`` that does not start with ``.``,
    so it is always a plain file name inside the results directory.

    Raises:
        ParameterError: The id is not a string of that form (a ``ValueError``).
    """
    if not isinstance(value, str) or _ID_PATTERN.fullmatch(value) is None:
        raise ParameterError(
            f"invalid id {value!r}: an explicit id is 1 to 128 characters of A-Z, a-z, 0-9, "
            "'.', '_' and '-', and does not start with '.'"
        )
    return value
