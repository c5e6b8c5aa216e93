"""Records built by the fast read path behave like records an ORM query loads."""

from __future__ import annotations

import datetime as dt
import gc
import pickle
from collections.abc import Iterator
from typing import Any

import pytest
from _core_models import Annotated, CountingRunner, SimResult, StoreFactory
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.mutable import MutableDict
from sqlalchemy.orm import Session

from entropic import Store
from entropic._reading import _sqlite_utc
from entropic.schema import CustomData, UTCDateTime


def _fresh(store: Store[Any], params: dict[str, Any]) -> Any:
    """The stored record of ``params``, read back through a new Store on the same database."""
    again: Store[Any] = Store(
        CountingRunner(),
        store.result_cls,
        results_dir=store.results_dir,
        file_suffix=store.file_suffix,
        db_url=store.engine.url,
    )
    try:
        return again.retrieve(params)
    finally:
        again.close()


@pytest.mark.parametrize("how", ["retrieve", "sweep", "run_or_retrieve"])
def test_in_place_changes_to_custom_data_are_saved_by_a_session(
    store: Store[SimResult], how: str
) -> None:
    params = {"n": 1, "dt": 0.5}
    store.run(params, tag="first")
    if how == "retrieve":
        record = store.retrieve(params)
    elif how == "sweep":
        [record] = store.sweep([params])
    else:
        record = store.run_or_retrieve(params)
    assert record is not None
    assert isinstance(record.custom_data, CustomData)
    assert record.custom_data["tag"] == "first"
    elapsed = record.custom_data["elapsed_seconds"]
    with Session(store.engine) as session:
        session.add(record)
        record.custom_data["reviewed"] = True
        assert record in session.dirty
        session.commit()
    assert _fresh(store, params).custom_data == {
        "tag": "first",
        "reviewed": True,
        "elapsed_seconds": elapsed,
    }


def test_an_empty_custom_data_is_a_fresh_dict_per_record(store: Store[SimResult]) -> None:
    params = [{"n": i, "dt": 0.1} for i in range(3)]
    store.sweep(params)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE core_sim_results SET custom_data = '{}'")
    records = store.sweep(params)
    assert [r.custom_data for r in records] == [{}, {}, {}]
    records[0].custom_data["x"] = 1
    assert records[1].custom_data == {}


def test_a_model_with_mutable_columns_of_its_own(
    make_store: StoreFactory, runner: CountingRunner
) -> None:
    store = make_store(runner, Annotated)
    store.run({"n": 1})
    with Session(store.engine) as session:
        session.add(store.retrieve({"n": 1}))
        session.commit()
    [record] = store.sweep([{"n": 1}])
    assert isinstance(record.notes, MutableDict)
    assert isinstance(record.custom_data, CustomData)
    with Session(store.engine) as session:
        session.add(record)
        record.notes["checked"] = "yes"
        record.custom_data["seen"] = 1
        session.commit()
    fresh = _fresh(store, {"n": 1})
    assert fresh.notes == {"checked": "yes"}
    assert fresh.custom_data["seen"] == 1


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Start and end with the collector enabled and nothing in its permanent generation."""
    gc.unfreeze()
    gc.enable()
    yield
    gc.unfreeze()
    gc.enable()


def test_a_sweep_leaves_the_collector_as_it_found_it(
    store: Store[SimResult], unfrozen: None
) -> None:
    params = [{"n": i, "dt": 0.1} for i in range(50)]
    store.sweep(params)
    assert gc.isenabled()
    store.sweep(params)
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    gc.freeze()  # an application that froze its heap, say before forking workers
    frozen = gc.get_freeze_count()
    assert frozen > 0
    assert len(store.sweep(params)) == 50
    assert gc.get_freeze_count() == frozen
    gc.disable()
    try:
        store.sweep(params)
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-26 10:20:30.123456", dt.datetime(2026, 11, 26, 10, 20, 30, 123456, dt.UTC)),
        ("2026-11-26 10:20:30", dt.datetime(2026, 11, 26, 10, 20, 30, tzinfo=dt.UTC)),
        ("2026-11-26T12:20:30+02:00", dt.datetime(2026, 11, 26, 10, 20, 30, tzinfo=dt.UTC)),
        (None, None),
    ],
)
def test_sqlite_times_come_back_as_aware_utc(text: str | None, expected: dt.datetime) -> None:
    value = _sqlite_utc(text)
    assert value == expected
    if value is not None:
        assert value.utcoffset() == dt.timedelta(0)


def test_records_survive_pickling(store: Store[SimResult]) -> None:
    store.run({"n": 2, "dt": 0.25}, tag="kept")
    [record] = store.sweep([{"n": 2, "dt": 0.25}])
    copy = pickle.loads(pickle.dumps(record))
    assert (copy.id, copy.n, copy.dt) == (record.id, 2, 0.25)
    assert isinstance(copy.custom_data, CustomData)
    assert copy.custom_data == record.custom_data
    with Session(store.engine) as session:
        session.add(copy)
        copy.custom_data["again"] = True
        assert copy in session.dirty


@given(
    st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)),
    st.none() | st.timezones(),
)
def test_sqlite_times_are_written_as_sqlalchemy_writes_them(
    when: dt.datetime, zone: dt.tzinfo | None
) -> None:
    # UTCDateTime formats SQLite's text itself, for speed: it must be SQLAlchemy's text exactly
    from sqlalchemy.dialects import sqlite
    from sqlalchemy.types import TypeDecorator

    dialect = sqlite.dialect()
    value = when if zone is None else when.replace(tzinfo=zone)
    ours = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    general = TypeDecorator.bind_processor(UTCDateTime().dialect_impl(dialect), dialect)
    assert ours is not None
    assert general is not None
    try:
        expected = general(value)
    except OverflowError:  # a zone that moves the time out of range: both must refuse
        with pytest.raises(OverflowError):
            ours(value)
        return
    assert ours(value) == expected
    assert ours(None) is None
