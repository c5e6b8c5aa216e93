"""JSON conversion of parameter values, both ways: one owner for manifests, meta and kinds."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any, Final

from sqlalchemy import Column
from sqlalchemy import Enum as SAEnum

__all__ = ["compiled_encoder", "from_json", "to_json"]


def compiled_encoder(encoder: json.JSONEncoder) -> Callable[[Any], str]:
    """``encoder.encode``, by a C encoder built once instead of on every call.

    ``JSONEncoder.encode`` builds a new C encoder each time it is called, which for a small
    body (a parameter set, a manifest) costs as much as the encoding. The text is the same;
    only the check for circular references is left out, so that one encoder can serve every
    thread: entropic encodes trees it has just converted, where a cycle would already have
    raised ``RecursionError`` (and still does here). Without CPython's C accelerator, this is
    ``encoder.encode``.
    """
    make: Any = getattr(json.encoder, "c_make_encoder", None)  # CPython's, not typed
    indent: Any = encoder.indent
    if make is None or indent is not None:  # pragma: no cover - no C accelerator, or indented
        return encoder.encode
    quote = json.encoder.encode_basestring_ascii if encoder.ensure_ascii else None
    compiled = make(
        None,
        encoder.default,
        quote or json.encoder.encode_basestring,
        None,
        encoder.key_separator,
        encoder.item_separator,
        encoder.sort_keys,
        encoder.skipkeys,
        encoder.allow_nan,
    )

    def encode(body: Any) -> str:
        if type(body) is str:
            return encoder.encode(body)
        return "".join(compiled(body, 0))

    return encode


#: Types that are JSON already: no conversion, no recursion.
_PLAIN: Final = frozenset({str, int, float, bool, type(None)})


def to_json(value: Any) -> Any:
    """``value`` as plain JSON data: enums by value, dates as ISO text, tuples as lists."""
    cls = type(value)
    if cls in _PLAIN:
        return value
    if cls is dict:  # the common case, flat: one pass, no call per value
        return {
            (k if type(k) is str else str(k)): (v if type(v) in _PLAIN else to_json(v))
            for k, v in value.items()
        }
    if isinstance(value, Enum):
        return to_json(value.value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def from_json(column: Column[Any] | None, value: Any) -> Any:
    """Turn ``value``, read from JSON, back into what ``column`` holds (enum, date, ...)."""
    if column is None or value is None:
        return value
    type_ = column.type
    if isinstance(type_, SAEnum) and type_.enum_class is not None:
        return type_.enum_class(value)
    try:
        python_type = type_.python_type
    except NotImplementedError:
        return value
    if python_type is dt.datetime and isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    if python_type is dt.date and isinstance(value, str):
        return dt.date.fromisoformat(value)
    if isinstance(python_type, type) and issubclass(python_type, Enum):
        return python_type(value)
    return value
