"""Models and runners shared by entropic-core's tests.

Models are declared once, here: every model lives in ``entropic.Base.metadata``, which refuses a
table name declared twice. Table names carry a ``core_`` prefix so they do not meet the models of
the other packages' tests when everything runs in one pytest process.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import JSON, CheckConstraint, DateTime
from sqlalchemy import Enum as SAEnum
from sqlalchemy.ext.mutable import MutableDict

from entropic import Base, Mapped, Store, mapped_column

#: What the ``make_store`` fixture is: ``make_store(runner, model, **overrides)``.
StoreFactory = Callable[..., Store[Any]]


class Color(enum.Enum):
    """An enum parameter, stored by an Enum column."""

    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    """An integer enum, as in the hash vectors."""

    LOW = 1
    HIGH = 3


class SimResult(Base):
    """The contract's example model."""

    __tablename__ = "core_sim_results"

    n: Mapped[int]
    dt: Mapped[float]


class Picky(Base):
    """A table whose CHECK constraint refuses ``n == 13``: the database, not entropic, says no."""

    __tablename__ = "core_picky"
    __table_args__ = (CheckConstraint("n <> 13", name="core_picky_not_13"),)

    n: Mapped[int]


class Knobs(Base):
    """Ints, floats, bools and an optional column (numpy scalars, missing parameters)."""

    __tablename__ = "core_knobs"

    n: Mapped[int]
    x: Mapped[float]
    flag: Mapped[bool]
    seed: Mapped[int | None]


class Shaped(Base):
    """Columns whose values come back from the database in another form than they went in."""

    __tablename__ = "core_shaped"

    mode: Mapped[Color]
    shape: Mapped[list[int]] = mapped_column(JSON)
    start: Mapped[dt.datetime]
    naive_start: Mapped[dt.datetime] = mapped_column(DateTime())
    label: Mapped[str] = mapped_column(default="plain")


class Ranked(Base):
    """Enums stored in other ways: an integer enum by name, an enum by its values."""

    __tablename__ = "core_ranked"

    level: Mapped[Level]
    color: Mapped[Color] = mapped_column(
        SAEnum(Color, name="ranked_color", values_callable=lambda cls: [m.value for m in cls])
    )
    flag: Mapped[bool] = mapped_column(default=False)


class Annotated(Base):
    """A model with a mutable JSON column of its own beside custom_data."""

    __tablename__ = "core_annotated"

    n: Mapped[int]
    notes: Mapped[dict[str, Any]] = mapped_column(MutableDict.as_mutable(JSON()), default=dict)


_DYNAMIC: dict[str, type[Base]] = {}


def model_on_table(table: str) -> type[Base]:
    """A model like :class:`SimResult` on a table of its own (for shared database servers)."""
    model = _DYNAMIC.get(table)
    if model is None:
        namespace: dict[str, Any] = {
            "__tablename__": table,
            "__annotations__": {"n": Mapped[int], "dt": Mapped[float]},
        }
        model = type(f"Model_{table}", (Base,), namespace)
        _DYNAMIC[table] = model
    return model


def new_table_name() -> str:
    """A table name no other test uses."""
    return f"core_t_{uuid.uuid4().hex[:12]}"


class CountingRunner:
    """A runner that writes its parameters as JSON and remembers every call.

    Attributes:
        calls: A copy of the parameters of each call, in call order.
    """

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, params: dict[str, Any]) -> None:
        """Record the call and write the result file."""
        with self._lock:
            self.calls.append(dict(params))
            number = len(self.calls)
        body = {k: v for k, v in params.items() if k != "result_file"}
        body["call"] = number
        Path(params["result_file"]).write_text(json.dumps(body, default=str))

    @property
    def count(self) -> int:
        """How many times the runner was called."""
        with self._lock:
            return len(self.calls)

    def ran(self, **values: Any) -> int:
        """How many calls had all of ``values`` among their parameters."""
        with self._lock:
            return sum(all(c.get(k) == v for k, v in values.items()) for c in self.calls)


def files_under(folder: Path) -> list[Path]:
    """Every file (not folder) under ``folder``, sorted."""
    return sorted(p for p in folder.rglob("*") if not p.is_dir())


class ClientToken:
    """A stand-in "client" that only :class:`TokenExecutor` accepts."""


class TokenExecutor:
    """A small executor plugin for the registry tests: serial, but counts what it ran."""

    used: ClassVar[list[str]] = []

    def __init__(self, *, client: Any = None) -> None:
        self.client = client

    @classmethod
    def accepts(cls, client: Any) -> bool:
        """Only a :class:`ClientToken`."""
        return isinstance(client, ClientToken)

    def execute(self, tasks: Any, runner: Any) -> Any:
        """Perform each task in this thread."""
        from entropic.running import perform, release_scratch

        folders = set()
        try:
            for task in tasks:
                folders.add(task.results_dir)
                TokenExecutor.used.append(task.id)
                yield perform(task, runner)
        finally:
            for folder in folders:
                release_scratch(folder)
