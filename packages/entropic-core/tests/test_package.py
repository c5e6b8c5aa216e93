"""The package around the Store: errors, logging, repr, executors and where entropic comes from."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import re
import sys
from collections.abc import Iterator
from importlib.metadata import EntryPoint, EntryPoints
from pathlib import Path

import pytest
import sqlalchemy.orm
from _core_models import (
    ClientToken,
    CountingRunner,
    SimResult,
    StoreFactory,
    TokenExecutor,
    model_on_table,
    new_table_name,
)
from sqlalchemy import create_engine, delete, inspect, text

import entropic
from entropic import (
    EntropicError,
    FailedRun,
    HashCollisionError,
    MissingResultError,
    ParameterError,
    ReservedColumnError,
    SchemaError,
    Store,
    SweepError,
    UnknownExecutorError,
    executors,
)

# ---------------------------------------------------------------- errors


def test_errors_are_exported_with_their_builtins() -> None:
    for name in (
        "EntropicError",
        "ParameterError",
        "HashCollisionError",
        "UnknownExecutorError",
        "SweepError",
        "MissingResultError",
        "ReservedColumnError",
        "SchemaError",
    ):
        assert name in entropic.__all__
        assert issubclass(getattr(entropic, name), EntropicError)
    assert issubclass(EntropicError, Exception)
    assert issubclass(ParameterError, ValueError)
    assert issubclass(UnknownExecutorError, ValueError)
    assert issubclass(HashCollisionError, EntropicError)
    assert issubclass(SweepError, ExceptionGroup)
    assert issubclass(MissingResultError, FileNotFoundError)
    assert issubclass(ReservedColumnError, TypeError)
    assert issubclass(ReservedColumnError, SchemaError)


def test_every_public_name_exists() -> None:
    for name in entropic.__all__:
        assert hasattr(entropic, name), name
    for name in ("Store", "Base", "Mapped", "mapped_column", "expand_grid", "hash_params"):
        assert name in entropic.__all__


def test_mapped_and_mapped_column_are_sqlalchemys() -> None:
    assert entropic.Mapped is sqlalchemy.orm.Mapped
    assert entropic.mapped_column is sqlalchemy.orm.mapped_column


def test_sweep_error_splits_keep_their_failures() -> None:
    bad_value = ValueError("bad value")
    bad_key = KeyError("bad key")
    failures = [FailedRun("a", {"n": 1}, bad_value), FailedRun("b", {"n": 2}, bad_key)]
    error = SweepError("2 of 2 runs failed", [bad_value, bad_key], failures, [None, None])
    values, rest = error.split(ValueError)
    assert isinstance(values, SweepError)
    assert isinstance(rest, SweepError)
    assert [f.id for f in values.failures] == ["a"]
    assert [f.id for f in rest.failures] == ["b"]
    caught: list[BaseException] = []
    try:
        raise error
    except* ValueError as group:
        caught.extend(group.exceptions)
    except* KeyError as group:
        caught.extend(group.exceptions)
    assert caught == [bad_value, bad_key]


# ---------------------------------------------------------------- logging and repr


def test_the_package_logger_has_only_a_null_handler() -> None:
    handlers = logging.getLogger("entropic").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)
    assert all(isinstance(h, logging.NullHandler) for h in handlers)


def test_runs_log_at_info_with_timing_and_hits_at_debug(
    store: Store[SimResult], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="entropic")
    record = store.run_or_retrieve({"n": 1, "dt": 0.1})
    ran = [r for r in caplog.records if r.levelno == logging.INFO and record.id in r.getMessage()]
    assert ran
    assert all(r.name.startswith("entropic") for r in ran)
    assert re.search(r"\d+\.\d+ ?s\b", ran[0].getMessage())
    caplog.clear()
    store.run_or_retrieve({"n": 1, "dt": 0.1})
    mentions = [r for r in caplog.records if record.id in r.getMessage()]
    assert mentions
    assert all(r.levelno == logging.DEBUG for r in mentions)
    assert any("hit" in r.getMessage() for r in mentions)


def test_repr_names_the_store(store: Store[SimResult], results_dir: Path, db_url: str) -> None:
    text = repr(store)
    assert "SimResult" in text
    assert str(results_dir.resolve()) in text
    assert "'.json'" in text
    assert db_url in text


PASSWORD_URL = "postgresql+psycopg://postgres:secret@127.0.0.1:5432/test"


@pytest.fixture
def postgres_table() -> Iterator[str]:
    """A fresh table name on the PostgreSQL server; the table and entropic's notes go after."""
    engine = create_engine(PASSWORD_URL)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        engine.dispose()
        message = f"PostgreSQL not reachable at 127.0.0.1:5432: {type(exc).__name__}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    name = new_table_name()
    try:
        yield name
    finally:
        from entropic._internal import claims_table, id_map_table, meta_table

        with engine.begin() as conn:
            if inspect(conn).has_table(name):
                conn.execute(text(f'DROP TABLE "{name}"'))
            for internal in (meta_table, claims_table, id_map_table):
                if inspect(conn).has_table(internal.name):
                    conn.execute(delete(internal).where(internal.c.table_name == name))
        engine.dispose()


@pytest.mark.postgres
def test_repr_hides_the_database_password(
    postgres_table: str, runner: CountingRunner, results_dir: Path
) -> None:
    model = model_on_table(postgres_table)
    with Store(runner, model, results_dir, ".json", PASSWORD_URL) as store:
        record = store.run_or_retrieve({"n": 1, "dt": 0.1})
        assert store.retrieve({"n": 1, "dt": 0.1}) is not None
        shown = repr(store)
        assert "secret" not in shown
        assert "postgres:***@127.0.0.1:5432/test" in shown
        assert "secret" not in str(store)
        assert record.id == store.key({"n": 1, "dt": 0.1})


# ---------------------------------------------------------------- executors


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[EntryPoint]]:
    """Entry points of the ``entropic.executors`` group as the test lists them."""
    listed: list[EntryPoint] = []

    def entry_points(*, group: str) -> EntryPoints:
        assert group == executors.ENTRY_POINT_GROUP
        return EntryPoints(listed)

    monkeypatch.setattr(executors, "entry_points", entry_points)
    executors._entry_points.cache_clear()
    executors.load.cache_clear()
    yield listed
    executors._entry_points.cache_clear()
    executors.load.cache_clear()


def _ep(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=executors.ENTRY_POINT_GROUP)


def test_serial_is_always_available() -> None:
    assert "serial" in executors.available()
    assert executors.registry()["serial"] == "entropic-core"
    assert executors.load("serial") is executors.SerialExecutor
    with pytest.raises(TypeError):
        executors.registry()["serial"] = "elsewhere"  # type: ignore[index]


def test_an_unknown_executor_lists_the_known_ones() -> None:
    with pytest.raises(UnknownExecutorError, match="serial") as caught:
        executors.load("no-such-executor")
    assert isinstance(caught.value, ValueError)
    assert "'no-such-executor'" in str(caught.value)


def test_an_unknown_executor_in_a_sweep_runs_nothing(
    store: Store[SimResult], runner: CountingRunner
) -> None:
    with pytest.raises(UnknownExecutorError):
        store.sweep([{"n": 1, "dt": 0.1}], executor="no-such-executor")
    assert runner.count == 0


def test_a_broken_plugin_asked_for_by_name_keeps_its_error(plugins: list[EntryPoint]) -> None:
    plugins.append(_ep("broken", "entropic_no_such_plugin.executor:Executor"))
    assert "broken" in executors.available()  # listing imports nothing...
    assert "entropic_no_such_plugin" not in sys.modules
    with pytest.raises(EntropicError) as caught:
        executors.load("broken")
    assert not isinstance(caught.value, UnknownExecutorError)
    assert "No module named 'entropic_no_such_plugin'" in str(caught.value)
    assert isinstance(caught.value.__cause__, ModuleNotFoundError)


def test_a_broken_plugin_is_skipped_when_looking_for_a_client(
    plugins: list[EntryPoint], make_store: StoreFactory, runner: CountingRunner
) -> None:
    plugins.append(_ep("broken", "entropic_no_such_plugin.executor:Executor"))
    plugins.append(_ep("token", "_core_models:TokenExecutor"))
    assert executors.available() == ["broken", "serial", "token"]
    with pytest.warns(UserWarning, match="broken"):
        chosen = executors.resolve(None, ClientToken())
    assert isinstance(chosen, TokenExecutor)

    store = make_store(runner, SimResult)
    TokenExecutor.used.clear()
    with pytest.warns(UserWarning, match="broken"):
        records = store.sweep([{"n": 1, "dt": 0.1}, {"n": 2, "dt": 0.1}], client=ClientToken())
    assert sorted(TokenExecutor.used) == sorted(r.id for r in records)
    assert runner.count == 2


def test_a_client_nobody_accepts_is_a_type_error(
    plugins: list[EntryPoint], store: Store[SimResult], runner: CountingRunner
) -> None:
    with pytest.raises(TypeError, match="client"):
        store.sweep([{"n": 1, "dt": 0.1}], client=object())
    assert runner.count == 0


# ---------------------------------------------------------------- where entropic comes from

PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def test_entropic_is_imported_from_this_repository() -> None:
    assert PACKAGE_ROOT.name == "entropic-core"
    assert PACKAGE_ROOT.parent.name == "packages"
    source = Path(entropic.__file__).resolve()
    assert source.is_relative_to(PACKAGE_ROOT / "src" / "entropic")


def test_the_installed_distribution_is_this_folder() -> None:
    try:
        dist = importlib.metadata.distribution("entropic-core")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("entropic-core is not installed (running from the source folder)")
    assert importlib.metadata.version("entropic-core") == entropic.__version__
    origin = dist.read_text("direct_url.json")
    assert origin is not None, "entropic-core was installed from an index, not from its folder"
    url = json.loads(origin)["url"]
    assert url.startswith("file://")
    assert Path(url.removeprefix("file://")).resolve() == PACKAGE_ROOT


def test_the_distribution_needs_only_sqlalchemy() -> None:
    try:
        requires = importlib.metadata.requires("entropic-core")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("entropic-core is not installed (running from the source folder)")
    required = [r for r in requires or [] if "extra ==" not in r]
    assert [re.split(r"[<>=!~ ;\[]", r)[0].lower() for r in required] == ["sqlalchemy"]


def test_a_hit_on_postgresql_survives_its_connection_being_killed(
    postgres_table: str, runner: CountingRunner, results_dir: Path
) -> None:
    model = model_on_table(postgres_table)
    with Store(runner, model, results_dir, ".json", PASSWORD_URL) as store:
        record = store.run_or_retrieve({"n": 1, "dt": 0.1})
        assert store.retrieve({"n": 1, "dt": 0.1}) is not None
        # the reader's own connection, ended by the server as a restart or a network cut would
        admin = create_engine(PASSWORD_URL)
        try:
            with admin.connect() as conn:
                mine = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
                killed = conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = 'test' AND pid <> :mine AND query LIKE :q"
                    ),
                    {"mine": mine, "q": f"%{postgres_table}%"},
                ).scalar_one()
        finally:
            admin.dispose()
        assert killed >= 1
        again = store.run_or_retrieve({"n": 1, "dt": 0.1})
        assert again.id == record.id
        assert runner.count == 1
