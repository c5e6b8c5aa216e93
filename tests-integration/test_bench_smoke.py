"""The benchmark code keeps working: ours and the raw floor on a tiny case, and the report.

Not a timed test: nothing here asserts how fast anything is. ``nox -s bench`` runs the real
benchmarks.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import bench_common
import bench_config
import bench_dask_cases
import bench_floors
import bench_machine
import bench_measuring
import bench_ours
import bench_report
import bench_run


def _postgres() -> str | None:
    """Why the PostgreSQL floors cannot be tried here, or ``None`` when they can."""
    try:
        bench_floors.RawPostgres.connect_server().close()
    except Exception as exc:
        return f"PostgreSQL not reachable: {exc!r}"
    return None


_PG = pytest.mark.skipif(_postgres() is not None, reason="PostgreSQL not reachable")


def _finite(value: object) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value >= 0


def test_key_scheme_matches_the_store() -> None:
    from entropic import hash_params

    for i in (0, 1, 96, 97, 12_345):
        assert bench_common.key(bench_common.point(i)) == hash_params(bench_common.point(i))


@pytest.mark.parametrize(
    "impl",
    [
        bench_ours.Ours,
        bench_floors.RawFloor,
        pytest.param(bench_ours.OursPostgres, marks=_PG),
        pytest.param(bench_floors.RawPostgres, marks=_PG),
    ],
)
def test_tiny_case(impl: type[bench_common.Implementation], tmp_path: Path) -> None:
    bench = impl()
    try:
        _tiny_case(bench, tmp_path)
    finally:
        cleanup = getattr(bench, "cleanup", None)
        if cleanup is not None:
            cleanup(tmp_path)


def _tiny_case(bench: bench_common.Implementation, tmp_path: Path) -> None:
    prepared = bench.prepare(tmp_path, 60)
    assert prepared["n"] == 60
    hit = bench.hit(tmp_path, calls=20, warmup=5, spread=60)
    assert hit["calls"] == 20
    assert _finite(hit["seconds"])
    sweep = bench.sweep(tmp_path, 50)
    assert sweep["n"] == 50
    assert _finite(sweep["seconds"])
    misses = bench.misses(tmp_path, 10)
    assert misses["n"] == 10
    assert _finite(misses["wall"])
    assert _finite(misses["runner"])
    results = next(tmp_path.glob("misses-*/results"))
    assert {f.stat().st_size for f in results.glob("*.txt")} == {len(bench_common.PAYLOAD)}


def test_memory_case(tmp_path: Path) -> None:
    ours = bench_ours.Ours()
    ours.prepare(tmp_path, 300)
    memory = ours.memory(tmp_path, 300)
    assert memory["n"] == memory["sample"] == 300
    assert memory["record_bytes"] > 0
    assert memory["input_bytes"] > 0


def test_a_hit_measurement_refuses_to_run(tmp_path: Path) -> None:
    ours = bench_ours.Ours()
    ours.prepare(tmp_path, 5)
    with pytest.raises(AssertionError, match="called for a cached point"):
        ours.hit(tmp_path, calls=10, warmup=0, spread=6)  # the 6th point is not cached


def test_report_renders_every_row() -> None:
    hit = bench_measuring.Row("Cache hit", "µs", values={"ours": 30.0, "raw": 12.0})
    bench_measuring.ratio_target(hit, "raw", 3.0, "≤ 3x floor")
    hit.notes.append("a note")
    empty = bench_measuring.Row("Dask executor", "s", notes=["skipped"])
    info = {"machine": bench_machine.machine(), "versions": {}}
    text = bench_report.render([hit, empty], info, bench_config.Config.quick(), 1.0)
    lines = text.splitlines()
    row = next(line for line in lines if line.startswith("| Cache hit"))
    assert "| 30.0 | 12.0 |" in row
    assert "| 2.50 |" in row
    assert "met (2.50x)" in row
    assert any(line.startswith("| Dask executor") for line in lines)
    assert "- Dask executor: skipped" in lines
    assert info["machine"]["cores"] >= 1


def test_alternating_rounds_give_the_spread_and_the_worst_round() -> None:
    figures = {"ours": iter([2.0, 5.0, 3.0]), "raw": iter([1.0, 1.0, 2.0])}
    row = bench_measuring.Row("Misses", "ms")
    contenders = {k: (lambda k=k: {"x": next(figures[k])}) for k in figures}
    bench_measuring.alternate(row, contenders, 3, lambda r: r["x"])
    assert row.values == {"ours": 3.0, "raw": 1.0}
    assert row.round_ratios() == [2.0, 5.0, 1.5]
    bench_measuring.ratio_target(row, "raw", 2.0, "≤ 2x floor", every_round=True)
    assert row.target == "≤ 2x floor: NOT met (worst round 5.00x)"
    info = {"machine": bench_machine.machine(), "versions": {}}
    text = bench_report.render([row], info, bench_config.Config.quick(), 1.0)
    line = next(line for line in text.splitlines() if line.startswith("| Misses"))
    assert "ours 2.000-5.000; floor 1.000-2.000; ours/floor 1.50-5.00" in line


def test_the_entry_point_keeps_its_names() -> None:
    assert bench_run.Row is bench_measuring.Row
    assert bench_run.DaskCase is bench_dask_cases.DaskCase
    args, config = bench_config.parse(["--quick", "--dask-sizes", "100,200", "--no-postgres"])
    assert args.quick
    assert config.dask_sizes == (100, 200)
    assert not config.postgres
    assert config.memory_n < bench_config.Config().memory_n


def test_dask_report_takes_each_ratio_against_its_own_floor() -> None:
    case = bench_dask_cases.DaskCase("trivial", 2000)
    case.seconds = {"raw": [2.0, 4.0, 3.0], "ours": [3.6], "ours-pack16": [1.5]}
    case.seconds["entropic230"] = [6.0]
    case.legacy_raw = [4.0]
    lines = bench_report.render_dask([case], bench_config.Config.quick())
    ours = next(line for line in lines if "| entropic (ours) |" in line)
    assert "| 3.600 | 1.800 | +0.300 | 1.20 | ≤ 1.3x raw: met |" in ours
    legacy = next(line for line in lines if "| entropic 2.3.0 |" in line)
    assert "| 6.000 | 3.000 | +1.000 | 1.50 |" in legacy  # against the 4.0 s of its own cluster
    assert any("its floor there was 4.000 s" in line for line in lines)
