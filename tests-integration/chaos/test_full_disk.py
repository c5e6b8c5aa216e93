"""A full disk: sweeps into a results directory on a 2 MB tmpfs.

A run whose result file or manifest cannot be written whole is a failure, never a stored run:
no row is committed without its complete file and readable manifest, and nothing at a final path
is partial. Once space is freed, the next sweep runs exactly the runs that failed.
"""

from __future__ import annotations

import errno
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _chaos import content, expected_ids, fill, free_bytes, mw, small_tmpfs, snapshot

from entropic import Store, SweepError


@pytest.fixture
def disk() -> Iterator[Path]:
    """A 2 MB tmpfs (unmounted afterwards)."""
    with small_tmpfs("2m") as folder:
        yield folder


def _store(disk: Path, tmp_path: Path, runner: Any) -> Store[Any]:
    table = mw.new_table_name()
    return Store(
        runner, mw.point_model(table), disk / "results", ".txt", f"sqlite:///{tmp_path / 'db'}"
    )


def _check(store: Store[Any], expected: dict[str, dict[str, Any]]) -> set[str]:
    """The invariants, and that every row has its readable manifest; return the stored ids."""
    db_url = str(store.engine.url)
    snap = snapshot(db_url, store.result_cls.__tablename__, store.results_dir, expected)
    missing = set(snap.rows) - snap.manifests
    assert not missing, f"rows stored without a complete manifest: {sorted(missing)}"
    return set(snap.rows)


def _no_space(exc: BaseException) -> bool:
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


def test_sweep_into_a_nearly_full_disk(
    disk: Path, tmp_path: Path, rng: random.Random, tally: Counter[str]
) -> None:
    """Files of random sizes fill the disk mid-sweep: what cannot be written whole fails."""
    sizes: dict[str, int] = {}
    calls: Counter[str] = Counter()

    def runner(params: dict[str, Any]) -> None:
        calls[params["id"]] += 1
        text = content(params, "disk", pad=sizes.setdefault(params["id"], rng.randint(0, 30000)))
        with open(params["result_file"], "w") as f:
            for start in range(0, len(text), 4096):
                f.write(text[start : start + 4096])
                f.flush()

    store = _store(disk, tmp_path, runner)
    expected = expected_ids(0, 80)
    filler = fill(disk, leave=1024 * 1024)
    with pytest.raises(SweepError) as caught:
        store.sweep(mw.points(0, 80))
    failed = {f.id for f in caught.value.failures}
    assert failed, "the disk never filled up"
    assert all(_no_space(f.error) for f in caught.value.failures), caught.value.failures
    stored = _check(store, expected)
    assert stored.isdisjoint(failed)
    assert stored | failed == set(expected)
    for params, record in zip(mw.points(0, 80), caught.value.records, strict=True):
        assert (record is None) == (store.key(params) in failed)

    filler.unlink()  # room again: the next sweep runs the failed runs, and only those
    records = store.sweep(mw.points(0, 80))
    assert {r.id for r in records} == set(expected)
    assert _check(store, expected) == set(expected)
    assert {i for i, n in calls.items() if n == 2} == failed
    assert max(calls.values()) <= 2
    tally["full-disk runs refused"] += len(failed)
    tally["full-disk cases tried"] += 1


def test_room_for_the_file_but_not_its_manifest(
    disk: Path, tmp_path: Path, tally: Counter[str]
) -> None:
    """The result file takes the last free byte: the run fails, and no row is stored for it."""
    written: list[int] = []

    def runner(params: dict[str, Any]) -> None:
        room = free_bytes(Path(params["result_file"]).parent)
        head = content(params, "edge")
        text = content(params, "edge", pad=max(0, room - len(head) - 1))
        with open(params["result_file"], "w") as f:
            f.write(text)
        written.append(len(text))  # the file is whole: what fails is the manifest

    store = _store(disk, tmp_path, runner)
    params = mw.points(0, 1)[0]
    expected = expected_ids(0, 1)
    fill(disk, leave=64 * 1024)
    with pytest.raises(SweepError) as caught:
        store.sweep([params])
    (failure,) = caught.value.failures
    assert _no_space(failure.error), failure.error
    assert written, f"the runner itself failed: {failure.error!r}"
    assert free_bytes(disk) < 4096
    assert _check(store, expected) == set()
    assert store.retrieve(params) is None
    tally["full-disk cases tried"] += 1


def test_a_full_disk_before_the_first_byte(disk: Path, tmp_path: Path, tally: Counter[str]) -> None:
    """No room at all: every run fails with the runner's own error; nothing is stored."""

    def runner(params: dict[str, Any]) -> None:
        Path(params["result_file"]).write_text(content(params, "none"))

    store = _store(disk, tmp_path, runner)
    expected = expected_ids(0, 5)
    filler = fill(disk)
    with pytest.raises(SweepError) as caught:
        store.sweep(mw.points(0, 5))
    assert {f.id for f in caught.value.failures} == set(expected)
    assert _check(store, expected) == set()
    filler.unlink()
    assert len(store.sweep(mw.points(0, 5))) == 5
    assert _check(store, expected) == set(expected)
    tally["full-disk cases tried"] += 1
