"""Base: the reserved columns, the reserved-name guard and patches of custom_data."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from _core_models import SimResult
from sqlalchemy import JSON, DateTime, String

from entropic import Base, EntropicError, Mapped, ReservedColumnError, mapped_column
from entropic.schema import RESERVED_COLUMNS


def test_base_has_the_four_reserved_columns() -> None:
    assert RESERVED_COLUMNS == ("id", "result_file", "created_at", "custom_data")
    columns = SimResult.__table__.columns
    assert set(RESERVED_COLUMNS) <= set(columns.keys())
    assert columns["id"].primary_key
    assert isinstance(columns["id"].type, String)
    assert isinstance(columns["created_at"].type.impl, DateTime)  # type: ignore[attr-defined]
    assert columns["created_at"].type.impl.timezone  # type: ignore[attr-defined]
    assert not columns["custom_data"].nullable
    assert isinstance(columns["custom_data"].type, JSON)
    assert {"n", "dt"} <= set(columns.keys())


def test_custom_data_defaults_to_an_empty_dict() -> None:
    record = SimResult(n=1, dt=0.1)
    assert record.custom_data == {}


def _declare(column: str, table: str) -> None:
    namespace: dict[str, Any] = {
        "__tablename__": table,
        "__annotations__": {"n": Mapped[int], column: Mapped[str]},
    }
    type(f"Redefines_{column}", (Base,), namespace)


@pytest.mark.parametrize("column", RESERVED_COLUMNS)
def test_redefining_a_reserved_column_fails_at_class_definition(column: str) -> None:
    table = f"core_reserved_{column}"
    with pytest.raises(ReservedColumnError, match=repr(column)) as caught:
        _declare(column, table)
    assert isinstance(caught.value, TypeError)
    assert isinstance(caught.value, EntropicError)
    assert table not in Base.metadata.tables  # nothing half-declared is left behind


def test_redefining_a_reserved_column_with_mapped_column_fails() -> None:
    with pytest.raises(ReservedColumnError, match="'created_at'"):

        class Stamped(Base):
            __tablename__ = "core_reserved_stamped"
            n: Mapped[int]
            created_at = mapped_column(DateTime())


def test_apply_patch_merges_custom_data() -> None:
    record = SimResult(n=1, dt=0.1, custom_data={"a": 1, "b": 2})
    record.apply_patch({"custom_data": {"b": 3, "c": 4}})
    assert record.custom_data == {"a": 1, "b": 3, "c": 4}


def test_apply_patch_none_removes_a_key() -> None:
    record = SimResult(n=1, dt=0.1, custom_data={"a": 1, "b": 2})
    record.apply_patch({"custom_data": {"a": None, "missing": None}})
    assert record.custom_data == {"b": 2}


def test_apply_patch_empty_dict_clears() -> None:
    record = SimResult(n=1, dt=0.1, custom_data={"a": 1, "b": 2})
    record.apply_patch({"custom_data": {}})
    assert record.custom_data == {}


def test_apply_custom_data_patch_directly() -> None:
    record = SimResult(n=1, dt=0.1, custom_data={"a": 1})
    record._apply_custom_data_patch({"b": 2})
    assert record.custom_data == {"a": 1, "b": 2}
    record._apply_custom_data_patch({"a": None})
    assert record.custom_data == {"b": 2}
    record._apply_custom_data_patch({})
    assert record.custom_data == {}


def test_apply_patch_sets_other_columns() -> None:
    record = SimResult(n=1, dt=0.1)
    when = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    record.apply_patch({"result_file": "/data/x.h5", "created_at": when})
    assert record.result_file == "/data/x.h5"
    assert record.created_at == when


def test_apply_patch_refuses_the_id() -> None:
    record = SimResult(id="abc", n=1, dt=0.1)
    with pytest.raises(ValueError, match="id"):
        record.apply_patch({"id": "other"})
    assert record.id == "abc"


def test_apply_patch_refuses_unknown_columns() -> None:
    record = SimResult(n=1, dt=0.1)
    with pytest.raises(ValueError, match="nope"):
        record.apply_patch({"nope": 1})
