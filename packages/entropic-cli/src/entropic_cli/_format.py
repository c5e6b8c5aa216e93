"""Output formats: aligned text tables, JSON, JSON lines and CSV.

JSON output is one array of objects (or one object for a single record); datetimes are ISO 8601
with their offset; ``custom_data`` stays an object. CSV has a header row and writes JSON-valued
cells as compact JSON.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import decimal
import enum
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import PurePath
from typing import IO, Any, Final

__all__ = [
    "jsonable",
    "text_cell",
    "write_csv",
    "write_json",
    "write_json_object",
    "write_jsonl",
    "write_table",
]

#: Longest cell in a text table; longer values are cut with an ellipsis.
MAX_CELL: Final = 48


#: Types whose values JSON writes as they are; by exact type, so that a subclass (an ``IntEnum``,
#: a ``StrEnum``) still takes the general path.
_PLAIN: Final = frozenset({str, int, bool, type(None)})


def _float(value: float) -> Any:
    return value if math.isfinite(value) else str(value)


def _dict(value: dict[Any, Any]) -> dict[str, Any]:
    if not value:  # often: custom_data
        return {}
    return {
        (k if type(k) is str else str(k)): (
            v if type(v) in _PLAIN else _converter(type(v), _jsonable)(v)
        )
        for k, v in value.items()
    }


def _list(value: list[Any] | tuple[Any, ...]) -> list[Any]:
    return [v if type(v) in _PLAIN else _converter(type(v), _jsonable)(v) for v in value]


#: What :func:`jsonable` does to a value of one of these exact types (what its general path
#: does, without the chain of ``isinstance`` checks).
_CONVERT: Final[Mapping[type, Callable[[Any], Any]]] = {
    float: _float,
    dt.datetime: dt.datetime.isoformat,
    dt.date: dt.date.isoformat,
    dt.time: dt.time.isoformat,
    dict: _dict,
    list: _list,
    tuple: _list,
}
_converter: Final = _CONVERT.get


def jsonable(value: Any) -> Any:
    """``value`` as something :func:`json.dumps` writes faithfully."""
    cls = type(value)
    if cls in _PLAIN:
        return value
    return _converter(cls, _jsonable)(value)


def _jsonable(value: Any) -> Any:
    """:func:`jsonable` for any value: the general path."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, PurePath):
        return str(value)
    return str(value)


def _compiled(separators: tuple[str, str]) -> Callable[[Any], str]:
    """``json.dumps(value, ensure_ascii=False, separators=separators)`` for what
    :func:`jsonable` returns, by an encoder built once rather than on every call.

    The text is the same; only the check for circular references is left out (a cycle makes
    :func:`jsonable` raise ``RecursionError`` first). Without CPython's C accelerator, this is
    the encoder's own ``encode``.
    """
    encoder = json.JSONEncoder(ensure_ascii=False, separators=separators)
    make: Any = getattr(json.encoder, "c_make_encoder", None)  # CPython's, not typed
    if make is None:  # pragma: no cover - no C accelerator
        return encoder.encode
    compiled = make(
        None,
        encoder.default,
        json.encoder.encode_basestring,
        None,
        encoder.key_separator,
        encoder.item_separator,
        encoder.sort_keys,
        encoder.skipkeys,
        encoder.allow_nan,
    )

    def encode(value: Any) -> str:
        return "".join(compiled(value, 0))

    return encode


#: One JSON record on a line (``json.dumps``' default separators), and a compact CSV cell.
_encode_line: Final = _compiled((", ", ": "))
_encode_compact: Final = _compiled((",", ":"))


def _dumps(value: Any, **kwargs: Any) -> str:
    if not kwargs:
        return _encode_line(jsonable(value))
    return json.dumps(jsonable(value), ensure_ascii=False, **kwargs)


def write_json(records: Iterable[Mapping[str, Any]], out: IO[str]) -> int:
    """Write one JSON array of objects, streaming; return how many were written."""
    count = 0
    out.write("[")
    for record in records:
        out.write(",\n  " if count else "\n  ")
        out.write(_dumps(record))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def write_json_object(record: Mapping[str, Any], out: IO[str]) -> None:
    """Write one JSON object, indented."""
    out.write(_dumps(record, indent=2))
    out.write("\n")


def write_jsonl(records: Iterable[Mapping[str, Any]], out: IO[str]) -> int:
    """Write one JSON object per line; return how many were written."""
    count = 0
    for record in records:
        out.write(_encode_line(jsonable(record)) + "\n")
        count += 1
    return count


#: Types whose values the CSV writer writes as they are: strings, numbers (a float by its
#: ``repr``, which is what ``str`` gives ``nan`` and ``inf`` as), and ``None`` as an empty cell.
_CSV_PLAIN: Final = frozenset({str, int, float, bool, type(None)})


def _csv_dict(value: dict[Any, Any]) -> str:
    return _encode_compact(_dict(value)) if value else "{}"  # often empty: custom_data


def _csv_list(value: list[Any] | tuple[Any, ...]) -> str:
    return _encode_compact(_list(value))


#: What :func:`_csv_cell` does to a value of one of these exact types, without its general path.
_CSV_CONVERT: Final[Mapping[type, Callable[[Any], Any]]] = {
    dt.datetime: dt.datetime.isoformat,
    dt.date: dt.date.isoformat,
    dt.time: dt.time.isoformat,
    dict: _csv_dict,
    list: _csv_list,
    tuple: _csv_list,
}


def _csv_cell(value: Any) -> Any:
    """One value as the CSV writer should write it: the general path."""
    value = jsonable(value)
    if isinstance(value, dict | list):
        return _encode_compact(value)
    if value is None:
        return ""
    return value


def write_csv(records: Iterable[Mapping[str, Any]], columns: Sequence[str], out: IO[str]) -> int:
    """Write CSV with a header row; return how many records were written."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    plain, converter, cell = _CSV_PLAIN, _CSV_CONVERT.get, _csv_cell
    count = 0
    for record in records:
        writer.writerow(
            [
                v if type(v) in plain else converter(type(v), cell)(v)
                for v in map(record.get, columns)
            ]
        )
        count += 1
    return count


def text_cell(value: Any, limit: int | None = MAX_CELL) -> str:
    """One value as text for a table cell."""
    value = jsonable(value)
    if value is None:
        text = ""
    elif isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = str(value)
    text = text.replace("\n", " ")
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def write_table(
    rows: Iterable[Sequence[Any]],
    columns: Sequence[str],
    out: IO[str],
    limit: int | None = MAX_CELL,
) -> int:
    """Write an aligned text table with a header; return how many rows were written.

    Cells longer than ``limit`` characters are cut (``None``: never).
    """
    cells = [[text_cell(v, limit) for v in row] for row in rows]
    widths = [len(c) for c in columns]
    for row in cells:
        widths = [max(w, len(v)) for w, v in zip(widths, row, strict=True)]
    out.write("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip() + "\n")
    for row in cells:
        out.write("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() + "\n")
    return len(cells)


def write_pairs(pairs: Iterable[tuple[str, Any]], out: IO[str]) -> None:
    """Write ``key: value`` lines, keys aligned (for one record or a summary)."""
    items = [(k, text_cell(v, limit=None)) for k, v in pairs]
    width = max((len(k) for k, _ in items), default=0)
    for key, value in items:
        out.write(f"{key.ljust(width)}  {value}\n")
