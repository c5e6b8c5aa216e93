"""Typing test, checked by mypy (``nox -s typecheck``): a Store of SimResult returns SimResult.

Nothing here runs; mypy --strict reads it and ``assert_type`` fails the check when a method's
declared return type drifts from the model the Store was built with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, assert_type

from entropic import Base, Mapped, Store, SweepProgress, expand_grid, hash_params


class SimResult(Base):
    """The contract's example model."""

    __tablename__ = "typing_sim_results"

    n: Mapped[int]
    dt: Mapped[float]


def runner(params: dict[str, Any]) -> None:
    """Write one result file."""
    Path(params["result_file"]).write_text(str(params["n"]))


def check_store_methods(store: Store[SimResult], params: dict[str, Any]) -> None:
    """Each record-returning method returns the model, so its columns are typed."""
    assert_type(store.run_or_retrieve(params), SimResult)
    assert_type(store.run_or_retrieve(params, note="x"), SimResult)
    assert_type(store.run(params), SimResult)
    assert_type(store.retrieve(params), SimResult | None)
    assert_type(store.register(params, "result.h5"), SimResult)
    assert_type(store.register(params, Path("result.h5"), source="cluster"), SimResult)
    assert_type(store.sweep([params]), list[SimResult])
    assert_type(store.sweep(expand_grid({"n": [1, 2], "dt": [0.1]})), list[SimResult])
    assert_type(store.sweep(iter([params]), progress=True), list[SimResult])
    assert_type(store.patch(params, {"custom_data": {}}), SimResult)
    assert_type(store.delete(params), bool)
    assert_type(store.delete(params, remove_file=True), bool)
    assert_type(store.ingest(), int)
    assert_type(store.key(params), str)
    assert_type(hash_params(params), str)


def check_columns(store: Store[SimResult]) -> None:
    """The model's own and reserved columns keep their types through the Store."""
    record = store.run_or_retrieve({"n": 1, "dt": 0.1})
    assert_type(record.n, int)
    assert_type(record.dt, float)
    assert_type(record.id, str)
    assert_type(record.result_file, str)
    assert_type(record.custom_data, dict[str, Any])
    found = store.retrieve({"n": 1, "dt": 0.1})
    if found is not None:
        assert_type(found.dt, float)


def check_construction(path: Path) -> None:
    """The Store's type parameter is inferred from result_cls."""
    assert_type(Store(runner, SimResult), Store[SimResult])
    assert_type(Store(runner, SimResult, path, ".json", "sqlite:///db.sqlite3"), Store[SimResult])


def check_callback(store: Store[SimResult]) -> None:
    """A sweep callback receives SweepProgress."""

    def show(progress: SweepProgress) -> None:
        assert_type(progress.done, int)

    assert_type(store.sweep([], callback=show), list[SimResult])
