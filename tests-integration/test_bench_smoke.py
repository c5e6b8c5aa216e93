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
import bench_ours
import bench_run


def _finite(value: object) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value >= 0


def test_key_scheme_matches_the_store() -> None:
    from entropic import hash_params

    for i in (0, 1, 96, 97, 12_345):
        assert bench_common.key(bench_common.point(i)) == hash_params(bench_common.point(i))


@pytest.mark.parametrize("impl", [bench_ours.Ours, bench_ours.RawFloor])
def test_tiny_case(impl: type[bench_ours.Ours] | type[bench_ours.RawFloor], tmp_path: Path) -> None:
    bench = impl()
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
    hit = bench_run.Row("Cache hit", "µs", values={"ours": 30.0, "raw": 12.0})
    bench_run._ratio_target(hit, "raw", 3.0, "≤ 3x floor")
    hit.notes.append("a note")
    empty = bench_run.Row("Dask executor", "s", notes=["skipped"])
    info = {"machine": bench_run.machine(), "versions": {}}
    text = bench_run.render([hit, empty], info, bench_run.Config.quick(), 1.0)
    lines = text.splitlines()
    row = next(line for line in lines if line.startswith("| Cache hit"))
    assert "| 30.0 | 12.0 |" in row
    assert "| 2.50 |" in row
    assert "met (2.50x)" in row
    assert any(line.startswith("| Dask executor") for line in lines)
    assert "- Dask executor: skipped" in lines
    assert info["machine"]["cores"] >= 1


def test_dask_report_takes_each_ratio_against_its_own_floor() -> None:
    case = bench_run.DaskCase("trivial", 2000)
    case.seconds = {"raw": [2.0, 4.0, 3.0], "ours": [3.6], "ours-pack16": [1.5]}
    case.seconds["entropic230"] = [6.0]
    case.legacy_raw = [4.0]
    lines = bench_run.render_dask([case], bench_run.Config.quick())
    ours = next(line for line in lines if "| entropic (ours) |" in line)
    assert "| 3.600 | 1.800 | +0.300 | 1.20 | ≤ 1.3x raw: met |" in ours
    legacy = next(line for line in lines if "| entropic 2.3.0 |" in line)
    assert "| 6.000 | 3.000 | +1.000 | 1.50 |" in legacy  # against the 4.0 s of its own cluster
    assert any("its floor there was 4.000 s" in line for line in lines)
