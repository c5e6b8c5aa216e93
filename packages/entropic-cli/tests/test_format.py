"""The output formats write exactly what the plain conversion writes.

``_format`` converts plain values (by exact type) without its general chain of checks and
encodes JSON with an encoder built once. :class:`Reference` is that module's straightforward
conversion, kept here as it was: every writer must produce the same text for any value.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import decimal
import enum
import io
import json
import math
import types
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePath, PurePosixPath
from typing import IO, Any

from hypothesis import given, settings
from hypothesis import strategies as st

from entropic_cli import _format


class Reference:
    """The formats as written before any fast path: one ``isinstance`` chain per value."""

    @staticmethod
    def jsonable(value: Any) -> Any:
        if value is None or isinstance(value, bool | int | str):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else str(value)
        if isinstance(value, dt.datetime | dt.date | dt.time):
            return value.isoformat()
        if isinstance(value, decimal.Decimal):
            return float(value)
        if isinstance(value, enum.Enum):
            return Reference.jsonable(value.value)
        if isinstance(value, Mapping):
            return {str(k): Reference.jsonable(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [Reference.jsonable(v) for v in value]
        if isinstance(value, bytes):
            return base64.b64encode(value).decode("ascii")
        if isinstance(value, PurePath):
            return str(value)
        return str(value)

    @staticmethod
    def dumps(value: Any, **kwargs: Any) -> str:
        return json.dumps(Reference.jsonable(value), ensure_ascii=False, **kwargs)

    @staticmethod
    def write_json(records: Iterable[Mapping[str, Any]], out: IO[str]) -> None:
        count = 0
        out.write("[")
        for record in records:
            out.write(",\n  " if count else "\n  ")
            out.write(Reference.dumps(record))
            count += 1
        out.write("\n]\n" if count else "]\n")

    @staticmethod
    def write_jsonl(records: Iterable[Mapping[str, Any]], out: IO[str]) -> None:
        for record in records:
            out.write(Reference.dumps(record))
            out.write("\n")

    @staticmethod
    def csv_cell(value: Any) -> Any:
        value = Reference.jsonable(value)
        if isinstance(value, dict | list):
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        if value is None:
            return ""
        return value

    @staticmethod
    def write_csv(
        records: Iterable[Mapping[str, Any]], columns: Sequence[str], out: IO[str]
    ) -> None:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for record in records:
            writer.writerow([Reference.csv_cell(record.get(c)) for c in columns])

    @staticmethod
    def text_cell(value: Any, limit: int | None) -> str:
        value = Reference.jsonable(value)
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


class Colour(enum.Enum):
    RED = "red"
    NESTED = ("a", 1.5)


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Mode(enum.StrEnum):
    FAST = "fast"
    QUOTED = 'say "hi", then\nleave'


class Ratio(float):
    """A float subclass (as NumPy's ``float64`` is): it takes the general path."""


class Name(str):
    __slots__ = ()


class Count(int):
    pass


class Odd:
    def __str__(self) -> str:
        return 'odd, "value"\nhere'


#: Awkward text for CSV and JSON: separators, quotes, line breaks, non-ASCII, control characters.
TEXTS = st.one_of(
    st.text(),
    st.sampled_from(
        ["", "a,b", 'x"y', "l\nm", "r\r\nn", " lead", "é ✓ 💥", "\u2028", "\x00", "nan"]
    ),
)
FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e16, 5e-324, 0.1]),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    FLOATS,
    TEXTS,
    st.datetimes(timezones=st.one_of(st.none(), st.timezones())),
    st.dates(),
    st.times(timezones=st.one_of(st.none(), st.timezones())),
    # a signalling NaN cannot become a float: both raise ValueError, which is left alone here
    st.decimals(allow_nan=True, allow_infinity=True).filter(lambda d: not d.is_snan()),
    st.sampled_from([*Colour, *Level, *Mode]),
    st.binary(max_size=20),
    st.builds(PurePosixPath, st.text(max_size=10)),
    st.builds(Ratio, FLOATS),
    st.builds(Name, TEXTS),
    st.builds(Count, st.integers()),
    st.just(Odd()),
)
KEYS = st.one_of(TEXTS, st.integers(), st.booleans(), st.none(), st.sampled_from([*Colour, *Mode]))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.frozensets(st.one_of(st.integers(), st.text(max_size=5)), max_size=4),
        st.dictionaries(KEYS, inner, max_size=4),
        st.dictionaries(TEXTS, inner, max_size=4).map(OrderedDict),
        st.dictionaries(TEXTS, inner, max_size=4).map(types.MappingProxyType),
    ),
    max_leaves=8,
)
COLUMNS = ["id", "n", "x", "label", "mode", "created_at", "custom_data", "missing"]
RECORD = st.fixed_dictionaries(
    dict.fromkeys(COLUMNS[:-1], VALUES),
    optional={"missing": VALUES, "extra": VALUES},
)
#: Records as plain dicts, and now and then as another kind of mapping.
RECORDS = st.lists(
    st.one_of(RECORD, RECORD.map(types.MappingProxyType), RECORD.map(OrderedDict)), max_size=6
)

#: Named examples of what the property covers, always run.
EXAMPLES: list[dict[str, Any]] = [
    {
        "id": "0" * 16,
        "n": 1,
        "x": math.nan,
        "label": 'a,b "c"\nd',
        "mode": Mode.QUOTED,
        "created_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        "custom_data": {"nested": {"x": [1, 2.5, math.inf, None, "é"]}, "t": (True, False)},
    },
    {
        "id": "ü✓",
        "n": Level.HIGH,
        "x": -math.inf,
        "label": None,
        "mode": Colour.NESTED,
        "created_at": dt.datetime(2026, 1, 1, 12, 30, 0, 5),
        "custom_data": {},
        "missing": decimal.Decimal("NaN"),
    },
    {
        "id": "",
        "n": 2**80,
        "x": Ratio(1.5),
        "label": "\r\n",
        "mode": None,
        "created_at": dt.date(2026, 2, 3),
        "custom_data": {2: b"\x00\xff", True: PurePosixPath("/a b"), None: {Colour.RED: -0.0}},
    },
    {
        "id": Name("sub"),
        "n": Count(3),
        "x": 0.1,
        "label": Odd(),
        "mode": Level.LOW,
        "created_at": dt.time(1, 2, 3, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
        "custom_data": [[], {}, [{"k": math.nan}]],
    },
]


def _check(records: Sequence[Mapping[str, Any]]) -> None:
    """Every writer, and ``jsonable`` and ``text_cell`` per value, against the reference."""
    for writer, reference in (
        (_format.write_json, Reference.write_json),
        (_format.write_jsonl, Reference.write_jsonl),
    ):
        ours, theirs = io.StringIO(), io.StringIO()
        writer(records, ours)
        reference(records, theirs)
        assert ours.getvalue() == theirs.getvalue()
    ours, theirs = io.StringIO(), io.StringIO()
    _format.write_csv(records, COLUMNS, ours)
    Reference.write_csv(records, COLUMNS, theirs)
    assert ours.getvalue() == theirs.getvalue()
    for record in records:
        ours, theirs = io.StringIO(), io.StringIO()
        _format.write_json_object(record, ours)
        theirs.write(Reference.dumps(record, indent=2) + "\n")
        assert ours.getvalue() == theirs.getvalue()
        for value in [record, *record.values()]:
            converted = _format.jsonable(value)
            assert repr(converted) == repr(Reference.jsonable(value))
            assert type(converted) is type(Reference.jsonable(value))
            for limit in (None, _format.MAX_CELL, 3):
                assert _format.text_cell(value, limit) == Reference.text_cell(value, limit)


def test_the_formats_match_the_reference_on_awkward_values() -> None:
    _check(EXAMPLES)
    _check([])
    out = io.StringIO()
    _format.write_csv(EXAMPLES[:1], COLUMNS, out)
    assert (
        out.getvalue().splitlines()[1].startswith('0000000000000000,1,nan,"a,b ""c""')
    )  # the comparison above is not vacuous: the CSV quotes and the NaN are there


@settings(max_examples=100, deadline=None)
@given(RECORDS)
def test_the_formats_match_the_reference_for_any_records(records: list[Mapping[str, Any]]) -> None:
    _check(records)


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_jsonable_and_cells_match_the_reference_for_any_value(value: Any) -> None:
    _check([{"custom_data": value}, {"id": value, "custom_data": [value, {"v": value}]}])
