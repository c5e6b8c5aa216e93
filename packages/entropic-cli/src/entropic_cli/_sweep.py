"""What ``entropic sweep`` and ``ingest`` need: importing code, building parameter sets."""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from entropic import Base
from entropic_cli._errors import Failure, UsageFailure, first_line
from entropic_cli._options import parse_assignment

__all__ = [
    "connect_scheduler",
    "import_object",
    "load_model",
    "load_runner",
    "parameter_sets",
    "parse_grid",
    "read_params_file",
]

#: Seconds to wait for a Dask scheduler to answer.
SCHEDULER_TIMEOUT: Final = 10


def import_object(spec: str, what: str) -> Any:
    """Import ``module:attribute`` (the attribute may be dotted), with the working directory on
    the import path.

    Raises:
        UsageFailure: ``spec`` is malformed, or the module or attribute cannot be found.
        Failure: Importing the module raised.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise UsageFailure(f"{what} must be given as module:attribute, not {spec!r}")
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        if importlib.util.find_spec(module_name) is None:
            raise UsageFailure(f"{what}: no module named {module_name!r}")
    except ModuleNotFoundError as exc:
        raise UsageFailure(f"{what}: no module named {exc.name!r}") from None
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise Failure(
            f"{what}: importing {module_name!r} failed: {type(exc).__name__}: "
            f"{first_line(str(exc))}"
        ) from None
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UsageFailure(f"{what}: {module_name!r} has no attribute {attribute!r}") from None
    return obj


def load_runner(spec: str) -> Any:
    """Import the runner and check it is callable."""
    runner = import_object(spec, "RUNNER")
    if not callable(runner):
        raise UsageFailure(f"RUNNER {spec!r} is not callable")
    return runner


def load_model(spec: str) -> type[Base]:
    """Import the model and check it is a mapped entropic model."""
    model = import_object(spec, "MODEL")
    if not (isinstance(model, type) and issubclass(model, Base) and hasattr(model, "__table__")):
        raise UsageFailure(f"MODEL {spec!r} is not a mapped subclass of entropic.Base")
    return model


def parse_grid(options: Sequence[str]) -> dict[str, list[str]]:
    """``--grid KEY=V1,V2,...`` options as each key's values, still as text.

    :func:`entropic_cli._options.convert_grid` converts them to the columns' types.
    """
    grid: dict[str, list[str]] = {}
    for text in options:
        key, raw = parse_assignment(text, "--grid")
        if key in grid:
            raise UsageFailure(f"--grid gives {key!r} twice")
        if raw == "":
            raise UsageFailure(f"--grid {key}= has no values")
        grid[key] = raw.split(",")
    return grid


def read_params_file(path: Path) -> list[dict[str, Any]]:
    """Parameter sets from a JSON array of objects or a JSON-lines file.

    Raises:
        UsageFailure: The file is neither, or an element is not an object.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageFailure(f"cannot read --params file {str(path)!r}: {exc.strerror}") from None
    sets: list[Any]
    stripped = text.lstrip()
    try:
        if stripped.startswith("["):
            sets = json.loads(text)
        else:
            sets = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise UsageFailure(
            f"--params file {str(path)!r} is not a JSON array or JSON lines: {exc}"
        ) from None
    for index, item in enumerate(sets):
        if not isinstance(item, dict):
            raise UsageFailure(
                f"--params file {str(path)!r}: parameter set #{index} is not a JSON object"
            )
    return sets


def parameter_sets(
    grid: Mapping[str, Sequence[Any]], base: Sequence[Mapping[str, Any]] | None
) -> list[dict[str, Any]]:
    """Every parameter set of a sweep.

    With only a grid, its full product; with only ``--params``, those sets; with both, each set
    of the file combined with each point of the grid.

    Raises:
        UsageFailure: Neither is given, or a grid key is also in a parameter set.
    """
    if not grid and base is None:
        raise UsageFailure("nothing to sweep: give --grid KEY=V1,V2,... and/or --params FILE")
    points = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    if base is None:
        return points
    sets = []
    for item in base:
        clash = sorted(set(item) & set(grid))
        if clash:
            raise UsageFailure(
                f"--grid and --params both give {', '.join(map(repr, clash))}; give each once"
            )
        sets += [{**item, **point} for point in points] if grid else [dict(item)]
    return sets


def connect_scheduler_file(path: Path, timeout: float = SCHEDULER_TIMEOUT) -> Any:
    """A ``distributed.Client`` for the scheduler that wrote ``path`` (``--scheduler-file``).

    Raises:
        Failure: entropic-dask is not installed, the file is missing, or the scheduler does not
            answer.
    """
    if not path.is_file():
        raise Failure(f"no scheduler file at {path}: start the scheduler with --scheduler-file")
    try:
        info = json.loads(path.read_text())
        address = str(info["address"])
    except (ValueError, KeyError, TypeError) as exc:
        raise Failure(f"{path} is not a Dask scheduler file: {exc}") from None
    return connect_scheduler(address, timeout)


def connect_scheduler(address: str, timeout: float = SCHEDULER_TIMEOUT) -> Any:
    """A ``distributed.Client`` connected to the scheduler at ``address``.

    Raises:
        Failure: entropic-dask (and with it Dask) is not installed, or the scheduler does not
            answer.
    """
    if importlib.util.find_spec("entropic_dask") is None:
        raise Failure(
            "--scheduler needs the entropic-dask package, which is not installed "
            "(pip install entropic-dask, or entropic-cli[dask])"
        )
    try:
        from distributed import Client
    except ImportError as exc:
        raise Failure(
            f"--scheduler needs the entropic-dask package with Dask distributed: {exc}"
        ) from None
    try:
        client: Any = Client  # distributed is only partly typed
        return client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        reason = first_line(str(exc)) or type(exc).__name__
        raise Failure(f"cannot reach the Dask scheduler at {address}: {reason}") from None
