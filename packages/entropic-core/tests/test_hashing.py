"""Parameter hashing: the golden vectors of entropic 2.3.0 and the properties of the scheme."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path, PosixPath
from typing import Any

import pytest
from _core_models import Color, CountingRunner, Knobs, Level, SimResult, StoreFactory
from hypothesis import given
from hypothesis import strategies as st

import entropic
from entropic import Store, hash_params
from entropic._json import compiled_encoder

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "hash-vectors.json").read_text(encoding="utf-8")
)

#: The Python values the equivalences of the vector file describe by their repr.
PYTHON_VALUES: dict[str, dict[str, Any]] = {
    "{'shape': (1, 2)}": {"shape": (1, 2)},
    "{'mode': <Color.RED: 'red'>}": {"mode": Color.RED},
    "{'level': <Level.HIGH: 3>}": {"level": Level.HIGH},
    "{'mesh': PosixPath('meshes/a.msh')}": {"mesh": PosixPath("meshes/a.msh")},
    "{'n': 1, 'result_file': 'x.h5'}": {"n": 1, "result_file": "x.h5"},
    "{'n': 1, 'custom_data': {'a': 1}}": {"n": 1, "custom_data": {"a": 1}},
    "{'n': 1, 'created_at': '2020-01-01'}": {"n": 1, "created_at": "2020-01-01"},
}


def test_the_vector_file_is_the_one_we_test() -> None:
    assert len(VECTORS["cases"]) == 22
    assert len(VECTORS["equivalences"]) == 7
    assert {e["python_value"] for e in VECTORS["equivalences"]} == set(PYTHON_VALUES)


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["name"])
def test_hash_vector(case: dict[str, Any]) -> None:
    assert hash_params(case["params"]) == case["id"]


@pytest.mark.parametrize("case", VECTORS["equivalences"], ids=lambda c: c["name"])
def test_hash_equivalence(case: dict[str, Any]) -> None:
    value = PYTHON_VALUES[case["python_value"]]
    assert repr(value) == case["python_value"]
    assert hash_params(value) == case["id"]
    assert hash_params(case["same_id_as_params"]) == case["id"]


@pytest.mark.parametrize(("name", "value"), [("nan", math.nan), ("inf", math.inf)])
def test_special_float(name: str, value: float) -> None:
    assert hash_params({"x": value}) == VECTORS["special_floats"][name]


def test_explicit_id_is_used_verbatim(store: Store[SimResult], runner: CountingRunner) -> None:
    case = VECTORS["explicit_id"]
    assert store.key(case["params"]) == case["id"]
    assert store.retrieve(case["params"]) is None
    record = store.run_or_retrieve({**case["params"], "dt": 0.5})
    assert record.id == case["id"]
    assert store.result_path(case["id"]).is_file()
    found = store.retrieve(case["params"])
    assert found is not None
    assert found.id == case["id"]
    assert found.n == 1
    assert runner.count == 1
    # hash_params itself ignores an explicit id: it is a reserved key
    assert hash_params(case["params"]) == hash_params({"n": 1})


def test_store_key_is_the_hash(store: Store[SimResult]) -> None:
    assert store.key({"n": 100, "dt": 0.1}) == "e4ded0fc6efdb871"
    assert store.key({"dt": 0.1, "n": 100, "result_file": "elsewhere.h5"}) == "e4ded0fc6efdb871"


# ---------------------------------------------------------------- properties

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9)
    | st.text(max_size=8)
)
_keys = st.text(min_size=1, max_size=6).filter(
    lambda k: k not in {"id", "result_file", "created_at", "custom_data"}
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=12,
)
_params = st.dictionaries(_keys, _values, max_size=6)


def _reversed_keys(value: Any) -> Any:
    """The same data with every dict's keys inserted in reverse order."""
    if isinstance(value, dict):
        return {k: _reversed_keys(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reversed_keys(v) for v in value]
    return value


def _as_tuples(value: Any) -> Any:
    """The same data with every list turned into a tuple."""
    if isinstance(value, dict):
        return {k: _as_tuples(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_as_tuples(v) for v in value)
    return value


@given(_params)
def test_key_order_is_irrelevant_at_every_depth(params: dict[str, Any]) -> None:
    assert hash_params(_reversed_keys(params)) == hash_params(params)


@given(_params)
def test_tuples_hash_as_lists(params: dict[str, Any]) -> None:
    assert hash_params(_as_tuples(params)) == hash_params(params)


@given(
    # away from zero: there the sign survives rounding (-0.0 has its own key, as in 2.3.0)
    st.floats(min_value=-1e3, max_value=1e3, allow_nan=False)
    .map(lambda x: round(x, 6))
    .filter(lambda x: abs(x) >= 1e-6),
    st.floats(min_value=-3e-13, max_value=3e-13),
)
def test_float_noise_below_1e12_is_irrelevant(x: float, noise: float) -> None:
    assert hash_params({"x": x + noise}) == hash_params({"x": x})
    assert hash_params({"cfg": {"a": [x + noise]}}) == hash_params({"cfg": {"a": [x]}})


@given(st.floats(min_value=-1e3, max_value=1e3, allow_nan=False).map(lambda x: round(x, 6)))
def test_float_differences_above_1e12_change_the_key(x: float) -> None:
    assert hash_params({"x": x + 1e-9}) != hash_params({"x": x})


def _canonical_text(value: Any) -> str:
    return json.dumps(entropic.hashing.normalize(value), separators=(",", ":"))


@given(_params, _params)
def test_nested_values_are_keyed_by_their_content(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert hash_params({"outer": a}) == hash_params({"outer": _reversed_keys(a)})
    same = _canonical_text(a) == _canonical_text(b)
    assert (hash_params({"outer": a}) == hash_params({"outer": b})) == same
    assert hash_params({"outer": a}) != hash_params({"outer": [a]})
    assert hash_params({"outer": a}) != hash_params({"outer": {"inner": a}})


@given(_params)
def test_the_key_is_the_documented_scheme(params: dict[str, Any]) -> None:
    # the scheme written out plainly: normalised values, compact JSON with sorted keys, SHA-256,
    # the first 16 hex digits; the Store's encoder, built for speed, must give the same text
    body = {k: entropic.hashing.normalize(v) for k, v in params.items()}
    text = json.dumps(body, separators=(",", ":"), sort_keys=True)
    assert hash_params(params) == hashlib.sha256(text.encode()).hexdigest()[:16]


@given(st.dictionaries(_keys, _scalars, max_size=5))
def test_reserved_keys_never_change_the_key(params: dict[str, Any]) -> None:
    polluted = {**params, "result_file": "x.h5", "custom_data": {"k": 1}, "created_at": "now"}
    assert hash_params(polluted) == hash_params(params)


# ---------------------------------------------------------------- NumPy scalars


def test_numpy_scalars_hash_as_python_numbers() -> None:
    np = pytest.importorskip("numpy")
    assert hash_params({"n": np.int64(100), "dt": np.float64(0.1)}) == "e4ded0fc6efdb871"
    assert hash_params({"flag": np.bool_(True)}) == "2a8199939ad03f40"
    assert hash_params({"x": np.float32(0.5)}) == hash_params({"x": 0.5})
    assert hash_params({"shape": [np.int32(3), np.int16(1), np.uint8(2)]}) == "d17417546864c22d"


def test_numpy_scalars_persist_as_python_numbers(
    make_store: StoreFactory, runner: CountingRunner
) -> None:
    np = pytest.importorskip("numpy")
    store = make_store(runner, Knobs)
    record = store.run_or_retrieve(
        {"n": np.int64(3), "x": np.float64(0.25), "flag": np.bool_(True), "seed": np.int32(7)}
    )
    assert record.id == hash_params({"n": 3, "x": 0.25, "flag": True, "seed": 7})
    assert runner.calls[0]["n"] == 3
    assert type(runner.calls[0]["n"]) is int
    assert type(runner.calls[0]["flag"]) is bool
    again = make_store(runner, Knobs).retrieve({"n": 3, "x": 0.25, "flag": True, "seed": 7})
    assert again is not None
    assert (type(again.n), type(again.x), type(again.flag), type(again.seed)) == (
        int,
        float,
        bool,
        int,
    )
    assert (again.n, again.x, again.flag, again.seed) == (3, 0.25, True, 7)
    # a NumPy request hits the record stored from Python numbers
    assert store.run_or_retrieve({"n": 3, "x": 0.25, "flag": True, "seed": 7}).id == record.id
    assert runner.count == 1


def test_hashing_and_a_run_do_not_import_numpy(tmp_path: Path) -> None:
    source = Path(entropic.__file__).parent.parent
    script = (
        "import sys\n"
        "import entropic\n"
        "from entropic import Base, Mapped, Store, hash_params\n"
        "assert hash_params({'n': 100, 'dt': 0.1}) == 'e4ded0fc6efdb871'\n"
        "class M(Base):\n"
        "    __tablename__ = 'm'\n"
        "    n: Mapped[int]\n"
        "def run(p):\n"
        "    open(p['result_file'], 'w').write('x')\n"
        "s = Store(run, M, 'results', '.txt', 'sqlite:///db.sqlite3')\n"
        "s.run_or_retrieve({'n': 1})\n"
        "s.sweep([{'n': 2}, {'n': 1}])\n"
        "print('numpy' in sys.modules)\n"
    )
    path = [str(source), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


_json_trees = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


@pytest.mark.parametrize(
    "options",
    [{"separators": (",", ":"), "sort_keys": True}, {"sort_keys": True, "allow_nan": True}, {}],
)
@given(tree=_json_trees)
def test_the_compiled_encoder_writes_what_json_writes(options: dict[str, Any], tree: Any) -> None:
    # keys and manifests are encoded by one C encoder built once; its text must be json's
    encoder = json.JSONEncoder(**options)
    assert compiled_encoder(encoder)(tree) == encoder.encode(tree)
