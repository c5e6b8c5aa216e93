"""Reflected models: the parameter kinds a Store records, and the types reflect_model rebuilds."""

from __future__ import annotations

import datetime as dt
import enum
import json
from pathlib import Path
from typing import Any

from _core_models import Color, CountingRunner, Level, Ranked, Shaped, StoreFactory
from sqlalchemy import JSON, Double, Engine, create_engine, delete, event, select, text, update
from sqlalchemy import Enum as SAEnum

from entropic import entropic_tables, reflect_model
from entropic._internal import params_table
from entropic.schema import UTCDateTime

WHEN = dt.datetime(2024, 3, 4, 5, 6, 7, 123456, tzinfo=dt.UTC)
SHAPED = {"mode": Color.BLUE, "shape": [2, 3], "start": WHEN, "naive_start": WHEN}


def _kinds(engine: Engine, table: str) -> dict[str, tuple[str, Any]]:
    c = params_table.c
    with engine.connect() as conn:
        rows = conn.execute(select(c.param, c.kind, c.detail).where(c.table_name == table))
        return {name: (kind, json.loads(detail) if detail else None) for name, kind, detail in rows}


def _forget_kinds(engine: Engine, table: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(params_table).where(params_table.c.table_name == table))


def _raw(engine: Engine, query: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(query))]


def test_a_store_records_the_kind_of_each_parameter(
    make_store: StoreFactory, runner: CountingRunner, db_url: str
) -> None:
    make_store(runner, Shaped)
    kinds = _kinds(create_engine(db_url), "core_shaped")
    assert {name: kind for name, (kind, _) in kinds.items()} == {
        "mode": "enum",
        "shape": "json",
        "start": "datetime",
        "naive_start": "other",  # a plain DateTime: reflected as the database says
        "label": "str",
    }
    assert kinds["mode"][1] == {
        "name": "Color",
        "type_name": "color",
        "members": [["RED", "red"], ["BLUE", "blue"]],
    }


def test_a_reflected_model_reads_and_ingests_like_the_model(
    make_store: StoreFactory, runner: CountingRunner, db_url: str
) -> None:
    original = make_store(runner, Shaped).run_or_retrieve(SHAPED)
    engine = create_engine(db_url)
    model = reflect_model(engine, "core_shaped")
    columns = model.__table__.c
    assert isinstance(columns.mode.type, SAEnum)
    assert isinstance(columns.shape.type, JSON)
    assert isinstance(columns.start.type, UTCDateTime)
    assert not isinstance(columns.naive_start.type, UTCDateTime)

    reflected = make_store(runner, model)
    (found,) = reflected.find(mode="blue")
    assert isinstance(found.mode, enum.Enum)
    assert (found.mode.name, found.mode.value) == ("BLUE", "blue")
    assert (found.shape, found.start) == ([2, 3], WHEN)
    assert reflected.key(SHAPED) == original.id  # the same hash from the rebuilt enum

    with engine.begin() as conn:
        conn.execute(text("DELETE FROM core_shaped"))
    assert reflected.ingest() == 1
    assert _raw(engine, "SELECT mode, shape FROM core_shaped") == [("BLUE", "[2, 3]")]
    again = make_store(runner, Shaped).run_or_retrieve(SHAPED)  # a hit, no false collision
    assert runner.count == 1
    assert (again.id, again.mode, again.shape, again.start) == (
        original.id,
        Color.BLUE,
        [2, 3],
        WHEN,
    )


def test_enums_stored_by_value_and_integer_enums_round_trip(
    make_store: StoreFactory, runner: CountingRunner, db_url: str
) -> None:
    params = {"level": Level.HIGH, "color": Color.RED, "flag": True}
    original = make_store(runner, Ranked).run_or_retrieve(params)
    engine = create_engine(db_url)
    assert _kinds(engine, "core_ranked")["color"][1]["members"] == [
        ["red", "red"],
        ["blue", "blue"],
    ]
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM core_ranked"))
    reflected = make_store(runner, reflect_model(engine, "core_ranked"))
    assert reflected.ingest() == 1
    assert _raw(engine, "SELECT level, color FROM core_ranked") == [("HIGH", "red")]
    (found,) = reflected.find(level=3)
    assert (found.level.value, found.color.value, found.flag) == (3, "red", True)
    assert make_store(runner, Ranked).run_or_retrieve(params).id == original.id
    assert runner.count == 1


def test_without_a_record_the_table_is_reflected_as_the_database_says(
    make_store: StoreFactory, runner: CountingRunner, db_url: str
) -> None:
    make_store(runner, Shaped).run_or_retrieve(SHAPED)
    engine = create_engine(db_url)
    _forget_kinds(engine, "core_shaped")
    model = reflect_model(engine, "core_shaped")
    assert not isinstance(model.__table__.c.mode.type, SAEnum)
    (found,) = make_store(runner, model).find()
    assert found.mode == "BLUE"  # the label SQLAlchemy stored, as text
    # a Store on a reflected model records nothing: it would only record the database's guess
    assert _kinds(engine, "core_shaped") == {}
    make_store(runner, Shaped)  # the model's own Store records the kinds again
    assert _kinds(engine, "core_shaped")["mode"][0] == "enum"


def test_a_reflected_model_records_only_the_columns_its_caller_declares(
    make_store: StoreFactory, runner: CountingRunner, db_url: str
) -> None:
    make_store(runner, Shaped)
    engine = create_engine(db_url)
    _forget_kinds(engine, "core_shaped")
    model = reflect_model(engine, "core_shaped", extra_columns={"temperature": Double()})
    make_store(runner, model)
    assert _kinds(engine, "core_shaped") == {"temperature": ("float", None)}


def test_an_unusable_or_stale_record_falls_back_and_is_repaired(
    make_store: StoreFactory, runner: CountingRunner, db_url: str
) -> None:
    make_store(runner, Shaped).run_or_retrieve(SHAPED)
    engine = create_engine(db_url)
    broken = json.dumps({"name": "Color", "members": [["_sunder_", "red"]]})
    with engine.begin() as conn:
        conn.execute(
            update(params_table)
            .where(params_table.c.table_name == "core_shaped", params_table.c.param == "mode")
            .values(detail=broken)
        )
    model = reflect_model(engine, "core_shaped")  # not a valid enum member name: plain text
    assert not isinstance(model.__table__.c.mode.type, SAEnum)
    assert make_store(runner, model).find()[0].mode == "BLUE"
    make_store(runner, Shaped)  # the model's Store rewrites a record that differs
    (found,) = make_store(runner, reflect_model(engine, "core_shaped")).find()
    assert found.mode.value == "blue"


def test_reflection_reads_kinds_from_a_database_without_the_table(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'plain.db'}")
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE legacy (id VARCHAR(128) PRIMARY KEY, result_file VARCHAR(1024), "
                "created_at DATETIME, custom_data JSON, n INTEGER)"
            )
        )
    model = reflect_model(engine, "legacy")  # no entropic_params at all: no error
    assert "n" in model.__table__.c


def test_a_table_dropped_while_tables_are_listed_is_left_out(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    engine = create_engine(url)
    columns = (
        "(id VARCHAR(128) PRIMARY KEY, result_file TEXT, created_at DATETIME, custom_data JSON)"
    )
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE kept {columns}"))
        conn.execute(text(f"CREATE TABLE doomed {columns}"))
    other = create_engine(url)

    @event.listens_for(engine, "before_cursor_execute")
    def drop_first(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # another process drops the table after it was listed, before its columns are read
        if '"doomed"' in statement:
            with other.begin() as conn:
                conn.execute(text("DROP TABLE IF EXISTS doomed"))

    assert entropic_tables(engine) == ["kept"]
    other.dispose()
    engine.dispose()
