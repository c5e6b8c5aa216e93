"""Parameters checked against the model, explicit ids, and the collision guard."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _core_models import Color, CountingRunner, Knobs, Shaped, SimResult, StoreFactory, files_under
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from entropic import EntropicError, HashCollisionError, ParameterError, Store
from entropic.manifests import manifest_path

# ---------------------------------------------------------------- checked before anything runs


def test_unknown_keys_are_named(
    store: Store[SimResult], runner: CountingRunner, results_dir: Path
) -> None:
    with pytest.raises(ParameterError, match="'steps'") as caught:
        store.run_or_retrieve({"n": 1, "dt": 0.1, "steps": 5, "method": "rk4"})
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, EntropicError)
    assert "'method'" in str(caught.value)
    with pytest.raises(ParameterError, match="'steps'"):
        store.run({"n": 1, "dt": 0.1, "steps": 5})
    with pytest.raises(ParameterError, match="'steps'"):
        store.retrieve({"n": 1, "steps": 5})
    assert runner.count == 0
    assert files_under(results_dir) == []


def test_missing_required_columns_are_named(
    store: Store[SimResult], runner: CountingRunner, results_dir: Path
) -> None:
    with pytest.raises(ParameterError, match="'dt'"):
        store.run_or_retrieve({"n": 1})
    with pytest.raises(ParameterError, match="'dt'") as caught:
        store.run({"n": 1})
    assert isinstance(caught.value, ValueError)
    assert runner.count == 0
    assert files_under(results_dir) == []


def test_optional_and_defaulted_columns_may_be_left_out(
    make_store: StoreFactory, runner: CountingRunner
) -> None:
    knobs = make_store(runner, Knobs)
    record = knobs.run_or_retrieve({"n": 1, "x": 0.5, "flag": False})
    assert record.seed is None
    with pytest.raises(ParameterError, match="'flag'"):
        knobs.run_or_retrieve({"n": 1, "x": 0.5})
    shaped = make_store(runner, Shaped)
    when = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    full = {"mode": Color.RED, "shape": [1], "start": when, "naive_start": when}
    assert shaped.run_or_retrieve(full).label == "plain"
    with pytest.raises(ParameterError) as caught:
        shaped.run_or_retrieve({"mode": Color.RED})
    for name in ("'shape'", "'start'", "'naive_start'"):
        assert name in str(caught.value)
    assert "'label'" not in str(caught.value)


@pytest.mark.parametrize("params", [[("n", 1), ("dt", 0.1)], "n=1", 7, None])
def test_params_that_are_not_a_mapping_are_a_type_error(
    params: Any, store: Store[SimResult], runner: CountingRunner
) -> None:
    with pytest.raises(TypeError):
        store.run_or_retrieve(params)
    with pytest.raises(TypeError):
        store.run(params)
    with pytest.raises(TypeError):
        store.retrieve(params)
    with pytest.raises(TypeError):
        store.sweep([{"n": 1, "dt": 0.1}, params])
    assert runner.count == 0


def test_a_sweep_checks_every_set_before_running_any(
    store: Store[SimResult], runner: CountingRunner, results_dir: Path
) -> None:
    consumed: list[int] = []

    def sets() -> Iterator[dict[str, Any]]:
        for n in range(1200):  # more than one lookup chunk
            consumed.append(n)
            yield {"n": n, "dt": 0.1}
        yield {"n": 1200, "dt": 0.1, "bogus": True}

    with pytest.raises(ParameterError, match="'bogus'"):
        store.sweep(sets())
    assert len(consumed) == 1200
    assert runner.count == 0
    assert len(store) == 0
    assert files_under(results_dir) == []
    with pytest.raises(ParameterError, match="'dt'"):
        store.sweep([{"n": 1, "dt": 0.1}, {"n": 2}])
    assert runner.count == 0


# ---------------------------------------------------------------- explicit ids

INVALID_IDS: list[Any] = [
    "",
    "x" * 129,
    ".hidden",
    ".",
    "..",
    "a/b",
    "../escape",
    "/abs",
    "a\\b",
    "..\\up",
    "with space",
    " lead",
    "tab\there",
    "new\nline",
    "trailing\n",
    "nul\0",
    "é",
    "a:b",
    "*",
    5,
    1.5,
    ["a"],
    b"bytes",
]


@pytest.mark.parametrize("bad", INVALID_IDS, ids=repr)
def test_invalid_explicit_ids_are_refused_before_any_file(
    bad: Any, store: Store[SimResult], runner: CountingRunner, results_dir: Path
) -> None:
    params = {"id": bad, "n": 1, "dt": 0.1}
    for call in (store.run_or_retrieve, store.run, store.retrieve, store.key):
        with pytest.raises(ValueError, match="id"):
            call(params)
    with pytest.raises(ValueError, match="id"):
        store.sweep([params])
    with pytest.raises(ValueError, match="id"):
        store.register(params, Path(__file__))
    assert runner.count == 0
    assert len(store) == 0
    assert list(results_dir.iterdir()) == []


@pytest.mark.parametrize("good", ["a", "x" * 128, "run-7", "A.b_c-d", "0", "a..b", "_x", "-x"])
def test_valid_explicit_ids_are_used(good: str, store: Store[SimResult], results_dir: Path) -> None:
    record = store.run_or_retrieve({"id": good, "n": 1, "dt": 0.1})
    assert record.id == good
    assert Path(record.result_file).parent == results_dir.resolve()
    assert Path(record.result_file).name == f"{good}.json"


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(candidate=st.text(max_size=140) | st.text(alphabet="./\\-_aZ09 ", max_size=8))
def test_no_id_escapes_results_dir(candidate: str, store: Store[SimResult]) -> None:
    try:
        key = store.key({"id": candidate, "n": 1})
    except ValueError:
        return
    assert key == candidate
    assert not key.startswith(".")
    root = store.results_dir.resolve()
    for path in (store.result_path(key), manifest_path(store.results_dir, key)):
        assert path.resolve().parent == root
        assert path.name.startswith(key if path == store.result_path(key) else f".{key}")


# ---------------------------------------------------------------- the collision guard


def test_values_that_round_to_the_same_key_are_a_collision(
    store: Store[SimResult], runner: CountingRunner
) -> None:
    stored = store.run_or_retrieve({"n": 1, "dt": 1e-13})
    assert store.key({"n": 1, "dt": 2e-13}) == stored.id  # both round to 0.0
    with pytest.raises(HashCollisionError, match="round") as caught:
        store.run_or_retrieve({"n": 1, "dt": 2e-13})
    assert isinstance(caught.value, EntropicError)
    assert "dt" in str(caught.value)
    with pytest.raises(HashCollisionError):
        store.retrieve({"n": 1, "dt": 2e-13})
    with pytest.raises(HashCollisionError):
        store.sweep([{"n": 1, "dt": 2e-13}])
    with pytest.raises(HashCollisionError):
        store.delete({"n": 1, "dt": 2e-13})
    assert runner.count == 1
    kept = store.retrieve({"n": 1, "dt": 1e-13})
    assert kept is not None
    assert kept.dt == 1e-13


def test_two_colliding_sets_in_one_sweep(store: Store[SimResult], runner: CountingRunner) -> None:
    with pytest.raises(HashCollisionError):
        store.sweep([{"n": 1, "dt": 1e-13}, {"n": 1, "dt": 2e-13}])
    assert runner.count == 0


def test_float_noise_is_not_a_collision(store: Store[SimResult], runner: CountingRunner) -> None:
    stored = store.run_or_retrieve({"n": 1, "dt": 0.3})
    hit = store.run_or_retrieve({"n": 1, "dt": 0.1 + 0.2})
    assert hit.id == stored.id
    found = store.retrieve({"n": 1, "dt": 0.1 + 0.2})
    assert found is not None
    assert store.sweep([{"n": 1, "dt": 0.1 + 0.2}])[0].id == stored.id
    assert runner.count == 1


def _shaped(**overrides: Any) -> dict[str, Any]:
    when = dt.datetime(2024, 3, 4, 5, 6, 7, 123456, tzinfo=dt.UTC)
    return {"mode": Color.RED, "shape": [1, 2], "start": when, "naive_start": when, **overrides}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (_shaped(mode=Color.RED), _shaped(mode="red")),
        (_shaped(mode="red"), _shaped(mode=Color.RED)),
        (_shaped(shape=(1, 2)), _shaped(shape=[1, 2])),
        (_shaped(shape=[1, 2]), _shaped(shape=(1, 2))),
        (_shaped(), _shaped()),
    ],
    ids=["member-then-value", "value-then-member", "tuple-then-list", "list-then-tuple", "dates"],
)
def test_values_the_database_hands_back_differently_still_hit(
    first: dict[str, Any],
    second: dict[str, Any],
    make_store: StoreFactory,
    runner: CountingRunner,
) -> None:
    store = make_store(runner, Shaped)
    stored = store.run_or_retrieve(first)
    reader = make_store(runner, Shaped)  # reads the row back from SQLite
    found = reader.retrieve(second)
    assert found is not None
    assert found.id == stored.id
    assert found.mode is Color.RED
    assert found.shape == [1, 2]
    assert found.naive_start.tzinfo is None  # SQLite hands a plain DateTime back naive
    assert reader.run_or_retrieve(second).id == stored.id
    assert reader.sweep([second])[0].id == stored.id
    assert reader.delete(second) is True
    assert runner.count == 1


def test_an_unknown_enum_value_is_a_parameter_error(
    make_store: StoreFactory, runner: CountingRunner
) -> None:
    store = make_store(runner, Shaped)
    with pytest.raises(ParameterError, match="green"):
        store.run_or_retrieve(_shaped(mode="green"))
    assert runner.count == 0


@pytest.mark.parametrize("how", ["run_or_retrieve", "run", "sweep", "register"])
def test_nan_is_refused_on_sqlite_before_anything_runs(
    how: str, store: Store[SimResult], runner: CountingRunner, results_dir: Path, tmp_path: Path
) -> None:
    bad = {"n": 1, "dt": math.nan}
    existing = tmp_path / "made-elsewhere.json"
    existing.write_text("{}")
    calls: dict[str, Callable[[], object]] = {
        "run_or_retrieve": lambda: store.run_or_retrieve(bad),
        "run": lambda: store.run(bad),
        "sweep": lambda: store.sweep([{"n": 0, "dt": 0.5}, bad]),
        "register": lambda: store.register(bad, existing),
    }
    with pytest.raises(ParameterError, match=r"'dt' is nan.*reads back as NULL"):
        calls[how]()
    assert runner.count == 0
    assert store.count() == 0
    assert files_under(results_dir) == []


def test_infinities_are_stored_on_sqlite(store: Store[SimResult], runner: CountingRunner) -> None:
    first = store.run_or_retrieve({"n": 1, "dt": math.inf})
    again = store.run_or_retrieve({"n": 1, "dt": math.inf})
    assert again.id == first.id
    assert again.dt == math.inf
    assert runner.count == 1
