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
from collections.abc import Iterable, Mapping, Sequence
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


def jsonable(value: Any) -> Any:
    """``value`` as something :func:`json.dumps` writes faithfully."""
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


def _dumps(value: Any, **kwargs: Any) -> str:
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
        out.write(_dumps(record))
        out.write("\n")
        count += 1
    return count


def _csv_cell(value: Any) -> Any:
    value = jsonable(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if value is None:
        return ""
    return value


def write_csv(records: Iterable[Mapping[str, Any]], columns: Sequence[str], out: IO[str]) -> int:
    """Write CSV with a header row; return how many records were written."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    count = 0
    for record in records:
        writer.writerow([_csv_cell(record.get(c)) for c in columns])
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
