"""The executor is registered under entropic's entry-point group and picked for a Client."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest

from entropic import executors

distributed = pytest.importorskip("distributed")

import entropic_dask  # noqa: E402
from entropic_dask import DaskExecutor  # noqa: E402


def test_entry_point_names_the_executor_class() -> None:
    found = {ep.name: ep for ep in entry_points(group="entropic.executors")}
    assert found["dask"].value == "entropic_dask.executor:DaskExecutor"
    assert found["dask"].load() is DaskExecutor


def test_core_lists_and_loads_the_plugin() -> None:
    assert "dask" in executors.available()
    assert executors.registry()["dask"] == "entropic-dask"
    assert executors.load("dask") is DaskExecutor


def test_version_moves_with_the_core() -> None:
    import entropic

    assert entropic_dask.__version__ == entropic.__version__ == "3.0.0"


def test_siblings_come_from_this_repository() -> None:
    import entropic

    packages = Path(__file__).resolve().parents[2]
    assert Path(entropic.__file__).resolve().is_relative_to(packages / "entropic-core")
    assert Path(entropic_dask.__file__).resolve().is_relative_to(packages / "entropic-dask")


def test_accepts_a_client_only(client: distributed.Client) -> None:
    assert DaskExecutor.accepts(client)
    assert not DaskExecutor.accepts(None)
    assert not DaskExecutor.accepts("tcp://127.0.0.1:8786")


def test_resolve_picks_the_plugin_for_a_client(client: distributed.Client) -> None:
    chosen = executors.resolve(None, client)
    assert isinstance(chosen, DaskExecutor)
    assert chosen.client is client
    named = executors.resolve("dask", client)
    assert isinstance(named, DaskExecutor)
    assert named.client is client


def test_named_without_a_client_uses_the_current_one(client: distributed.Client) -> None:
    with client.as_current():
        chosen = executors.resolve("dask")
    assert isinstance(chosen, DaskExecutor)
    assert chosen.client is client


def test_options_are_checked(client: distributed.Client) -> None:
    for bad in ({"window": 0}, {"batch": -1}, {"pack": 0}):
        with pytest.raises(ValueError, match="positive integer"):
            DaskExecutor(client=client, **bad)
    with pytest.raises(TypeError, match=r"distributed\.Client"):
        DaskExecutor(client=object())


def test_without_any_client_the_named_executor_explains() -> None:
    with pytest.raises(ValueError, match=r"needs a distributed\.Client"):
        DaskExecutor()
