"""Shared helpers for the integration tests: database URLs, throw-away models, a test runner.

The helpers live in a plain module (not in conftest.py) so that the worker scripts started as
separate processes can import them too.
"""

import enum
import inspect as pyinspect
import os
import time
import types
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, delete, inspect, text
from sqlalchemy.orm import Mapped

from entropic import Base
from entropic._internal import claims_table, meta_table, params_table

POSTGRES_URL = os.environ.get(
    "ENTROPIC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("ENTROPIC_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
SERVER_URLS = {"postgresql": POSTGRES_URL, "mysql": MYSQL_URL}


class Mode(enum.Enum):
    FAST = "fast"
    SLOW = "slow"


_MODELS: dict[str, type[Base]] = {}


def new_table_name() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


def point_model(table: str) -> type[Base]:
    """A model with one column of each kind entropic cares about, on table ``table``."""
    if table in _MODELS:
        return _MODELS[table]

    def body(ns: dict[str, Any]) -> None:
        ns["__tablename__"] = table
        ns["__annotations__"] = {
            "n": Mapped[int],
            "x": Mapped[float],
            "label": Mapped[str],
            "mode": Mapped[Mode | None],
            "shape": Mapped[list[Any] | None],
            "when": Mapped[datetime | None],
        }
        ns["mode"] = None
        ns["shape"] = None
        ns["when"] = None
        ns["__module__"] = __name__

    cls = types.new_class(f"Point_{table}", (Base,), {}, body)
    _MODELS[table] = cls
    return cls


def heated_model(table: str) -> type[Base]:
    """:func:`point_model` with one parameter more, ``temperature`` (for schema changes)."""
    key = f"heated:{table}"
    if key in _MODELS:
        return _MODELS[key]
    base = point_model(f"_unused_{table}")

    def body(ns: dict[str, Any]) -> None:
        ns["__tablename__"] = table
        ns["__annotations__"] = {
            **pyinspect.get_annotations(base),
            "temperature": Mapped[float],
        }
        ns["mode"] = None
        ns["shape"] = None
        ns["when"] = None
        ns["__module__"] = __name__

    cls = types.new_class(f"Heated_{table}", (Base,), {}, body)
    _MODELS[key] = cls
    return cls


def drop_table(url: str, table: str) -> None:
    """Remove a test's table and what entropic recorded about it."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            if inspect(conn).has_table(table):
                conn.execute(text(f"DROP TABLE {conn.dialect.identifier_preparer.quote(table)}"))
            for internal in (meta_table, params_table, claims_table):
                if inspect(conn).has_table(internal.name):
                    conn.execute(delete(internal).where(internal.c.table_name == table))
    finally:
        engine.dispose()


def reachable(url: str) -> str | None:
    """``None`` when the server answers, else why not."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    finally:
        engine.dispose()
    return None


def content_for(params: dict[str, Any]) -> str:
    """The exact text a test runner writes for ``params`` (so files can be checked)."""
    return f"n={params['n']} x={params['x']!r} label={params['label']}\n" * 50


def record_call(calls: Path, run_id: str) -> None:
    """Append ``run_id`` to the call log; O_APPEND keeps lines whole across processes."""
    fd = os.open(calls, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{run_id}\n".encode())
    finally:
        os.close(fd)


def call_counts(calls: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    if calls.exists():
        for line in calls.read_text().split():
            counts[line] = counts.get(line, 0) + 1
    return counts


def points(start: int, stop: int) -> list[dict[str, Any]]:
    return [{"n": i, "x": i / 10, "label": f"p{i}"} for i in range(start, stop)]


def wait_until(condition: Callable[[], bool], timeout: float) -> None:
    """Return once ``condition()`` holds; raise ``TimeoutError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(0.01)
