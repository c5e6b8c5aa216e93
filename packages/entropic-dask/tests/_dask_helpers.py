"""Shared helpers of the Dask executor's tests: the model, parameter sets, runners, counters.

The workers of a cluster with processes cannot import the test modules, so this module is sent
to them by value.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import cloudpickle
from distributed.diagnostics.plugin import SchedulerPlugin

from entropic import Base, Mapped

cloudpickle.register_pickle_by_value(sys.modules[__name__])


class Point(Base):
    """A record with two parameters."""

    __tablename__ = "dask_points"

    x: Mapped[int]
    label: Mapped[str]


def params(n: int, start: int = 0) -> list[dict[str, Any]]:
    """``n`` parameter sets."""
    return [{"x": i, "label": f"p{i}"} for i in range(start, start + n)]


class RecordingRunner:
    """Writes a JSON result (the parameters and the pid) and notes each call in ``calls``.

    Runs with ``x`` in ``fail_on`` raise ``ValueError`` instead.
    """

    def __init__(self, calls: Path, fail_on: frozenset[int] = frozenset()) -> None:
        self.calls = calls
        self.fail_on = fail_on

    def __call__(self, p: dict[str, Any]) -> None:
        (self.calls / f"{p['id']}-{uuid.uuid4().hex}").touch()
        if p["x"] in self.fail_on:
            raise ValueError(f"x={p['x']} is not allowed")
        body = {
            "x": p["x"],
            "label": p["label"],
            "pid": os.getpid(),
            "thread": threading.current_thread().name,
        }
        Path(p["result_file"]).write_text(json.dumps(body))

    def count(self) -> int:
        """Runner calls so far."""
        return sum(1 for _ in self.calls.iterdir())


class SlowRunner(RecordingRunner):
    """A :class:`RecordingRunner` whose runs take ``seconds`` each."""

    def __init__(self, calls: Path, seconds: float) -> None:
        super().__init__(calls)
        self.seconds = seconds

    def __call__(self, p: dict[str, Any]) -> None:
        time.sleep(self.seconds)  # the workload, not a synchronisation
        super().__call__(p)


def read_result(path: str) -> dict[str, Any]:
    """The JSON a :class:`RecordingRunner` wrote."""
    data: dict[str, Any] = json.loads(Path(path).read_text())
    return data


class TaskCounter(SchedulerPlugin):  # type: ignore[misc]
    """Counts entropic's tasks on the scheduler: keys seen and most not yet computed at once."""

    name = "entropic-task-counter"
    _PENDING = frozenset({"waiting", "queued", "processing", "no-worker"})

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.pending: set[str] = set()
        self.max_pending = 0
        self.alive: set[str] = set()
        self.all_forgotten = threading.Event()

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        if not str(key).startswith("entropic-"):
            return
        self.keys.add(str(key))
        if finish == "forgotten":
            self.alive.discard(str(key))
            if not self.alive:
                self.all_forgotten.set()
        else:
            self.alive.add(str(key))
            self.all_forgotten.clear()
        if finish in self._PENDING:
            self.pending.add(str(key))
            self.max_pending = max(self.max_pending, len(self.pending))
        else:
            self.pending.discard(str(key))


def stranger() -> tuple[str, None]:
    """What another sweep's task might answer under one of our keys."""
    return ("someone-else", None)
