"""Issue 13's property, on every database: a request the Store accepts runs once and is then a
hit with no error; a request it refuses is refused before the runner runs.

The parameter values are drawn broadly (ints of any size, floats with NaN, infinities and -0.0,
text with odd characters, bools, None, bytes, sets, Decimals, nested JSON with non-string keys,
datetimes with offsets) against a model with one column of each common type.
"""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import JSON, String

from entropic import Base, Mapped, ParameterError, Store, mapped_column

_MODELS: dict[str, type[Base]] = {}


def _model(table: str) -> type[Base]:
    if table not in _MODELS:
        namespace: dict[str, Any] = {
            "__tablename__": table,
            "__annotations__": {
                "count": Mapped[int],
                "rate": Mapped[float],
                "label": Mapped[str],
                "flag": Mapped[bool],
                "doc": Mapped[Any],
                "when": Mapped[dt.datetime],
                "note": Mapped[str | None],
            },
            "label": mapped_column(String(12)),
            "doc": mapped_column(JSON, nullable=True),
        }
        _MODELS[table] = type(f"Prop_{table}", (Base,), namespace)
    return _MODELS[table]


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=16),
    st.binary(max_size=4),
    st.decimals(allow_nan=False, places=3),
    st.datetimes(timezones=st.sampled_from([None, dt.UTC, dt.timezone(dt.timedelta(hours=3))])),
)
documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=4) | st.integers(0, 3), inner, max_size=3)
        | st.frozensets(st.integers(0, 5), max_size=2)
    ),
    max_leaves=6,
)


def _mostly(valid: st.SearchStrategy[Any], anything: st.SearchStrategy[Any]) -> Any:
    """Values of the column's own kind nine times in ten, anything else otherwise."""
    return st.integers(0, 9).flatmap(lambda pick: anything if pick == 0 else valid)


requests = st.fixed_dictionaries(
    {
        "count": _mostly(st.integers(-(2**40), 2**40), scalars),
        "rate": _mostly(st.floats(allow_nan=False) | st.integers(-1000, 1000), scalars),
        "label": _mostly(st.text(max_size=12), scalars),
        "flag": _mostly(st.booleans(), scalars),
        "doc": _mostly(st.none() | st.lists(st.integers(0, 9), max_size=3), documents),
        "when": _mostly(st.datetimes(), scalars),
    },
    optional={"note": _mostly(st.none() | st.text(max_size=5), scalars)},
)


class _Runner:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, params: dict[str, Any]) -> None:
        self.calls += 1
        Path(params["result_file"]).write_text(str(self.calls))


def test_accepted_requests_run_once_and_then_hit_refused_ones_never_run(
    db_url: str, table_name: str, tmp_path: Path
) -> None:
    runner = _Runner()
    store = Store(runner, _model(table_name), tmp_path / "results", ".txt", db_url)
    seen: set[str] = set()
    counts = {"accepted": 0, "refused": 0}

    @settings(
        max_examples=100,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(params=requests)
    def check(params: dict[str, Any]) -> None:
        before = runner.calls
        try:
            record = store.run_or_retrieve(params)
        except ParameterError:
            counts["refused"] += 1
            assert runner.calls == before, f"refused after running: {params!r}"
            return
        counts["accepted"] += 1
        expected = before if record.id in seen else before + 1
        assert runner.calls == expected, params
        seen.add(record.id)
        again = store.run_or_retrieve(params)  # a hit: no error, no run
        assert again.id == record.id
        assert runner.calls == expected
        assert store.retrieve(params) is not None

    try:
        check()
    finally:
        store.close()
    # the draw reaches both sides of the check
    assert counts["accepted"] > 0, counts
    assert counts["refused"] > 0, counts


def test_a_few_values_the_issue_names_are_refused_before_running(
    db_url: str, table_name: str, tmp_path: Path
) -> None:
    runner = _Runner()
    base = {
        "count": 1,
        "rate": 0.5,
        "label": "a",
        "flag": True,
        "doc": None,
        "when": dt.datetime(2024, 1, 1),
    }
    refused = [
        {"count": 1.5},
        {"count": "abc"},
        {"count": b"1"},
        {"count": 2**64},
        {"label": True},
        {"label": "x" * 13},
        {"doc": {1: "a"}},
        {"doc": {"a": {1, 2}}},
        {"rate": decimal.Decimal("0.1")},
        {"rate": "1.0"},
        {"flag": None},
    ]
    with Store(runner, _model(table_name), tmp_path / "results", ".txt", db_url) as store:
        for change in refused:
            with pytest.raises(ParameterError) as caught:
                store.run_or_retrieve({**base, **change})
            (key,) = change
            assert repr(key) in str(caught.value)
        assert runner.calls == 0
        import enum

        class Shade(enum.Enum):
            DARK = "dark"

        stored = store.run_or_retrieve({**base, "label": Shade.DARK})  # stored as its value
        assert stored.label == "dark"
        assert store.run_or_retrieve({**base, "label": "dark"}).id == stored.id
        assert runner.calls == 1
