"""Executors: how the missing runs of a sweep are carried out.

An executor takes run tasks and the runner and yields one :class:`~entropic.running.RunOutcome`
per task as runs complete. It never touches the database and never raises for a failed run.

Built in is ``serial``. Other packages register executor classes under the entry-point group
``entropic.executors`` (``name = "package.module:Class"``); entropic-dask registers ``dask``.
Entry points are read lazily, once, and a plugin is imported only when it is asked for.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Iterable, Iterator, Mapping
from importlib.metadata import EntryPoint, entry_points
from types import MappingProxyType
from typing import Any, Final, Protocol, runtime_checkable

from entropic.errors import EntropicError, UnknownExecutorError
from entropic.running import Runner, RunOutcome, RunTask, perform, release_scratch

__all__ = [
    "ENTRY_POINT_GROUP",
    "Executor",
    "ExecutorClass",
    "SerialExecutor",
    "available",
    "load",
    "registry",
    "resolve",
]

logger = logging.getLogger(__name__)

#: The entry-point group executor plugins register under.
ENTRY_POINT_GROUP: Final = "entropic.executors"


@runtime_checkable
class Executor(Protocol):
    """What :meth:`entropic.Store.sweep` needs of an executor."""

    def execute(self, tasks: Iterable[RunTask], runner: Runner) -> Iterator[RunOutcome]:
        """Perform every task and yield its outcome as it completes, in any order.

        A runner's exception is an outcome with ``error`` set, never raised. On
        ``KeyboardInterrupt`` an executor stops outstanding work and lets the interrupt
        propagate; outcomes already yielded are kept by the caller.
        """
        ...


class ExecutorClass(Protocol):
    """What the registry needs of a registered executor class."""

    def __call__(self, *, client: Any = None) -> Executor: ...

    def accepts(self, client: Any) -> bool:
        """Whether this executor can run on ``client`` (for ``sweep(params, client=...)``)."""
        ...


class SerialExecutor:
    """Runs every task in the calling process, one after the other."""

    name: Final = "serial"

    def __init__(self, *, client: Any = None, fallback: bool = True) -> None:
        if client is not None:
            raise TypeError("the serial executor does not take a client")

    @classmethod
    def accepts(cls, client: Any) -> bool:
        """The serial executor takes no client."""
        return client is None

    def execute(self, tasks: Iterable[RunTask], runner: Runner) -> Iterator[RunOutcome]:
        """Perform the tasks one by one in this process."""
        folders = set()
        try:
            for task in tasks:
                folders.add(task.results_dir)
                yield perform(task, runner)
        finally:
            for folder in folders:
                release_scratch(folder)

    def __repr__(self) -> str:
        return "SerialExecutor()"


_BUILTINS: Final[Mapping[str, Any]] = MappingProxyType({"serial": SerialExecutor})


@functools.cache
def _entry_points() -> Mapping[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in _BUILTINS:
            found.setdefault(ep.name, ep)
    return MappingProxyType(found)


def available() -> list[str]:
    """Return the names of every executor: the built-ins and the installed plugins.

    Listing does not import the plugins.
    """
    return sorted({*_BUILTINS, *_entry_points()})


def registry() -> Mapping[str, str]:
    """Return a read-only map from each executor's name to where it comes from.

    Built-ins map to ``"entropic-core"``; plugins to their distribution's name (or the entry
    point's value when the distribution is unknown).
    """
    where: dict[str, str] = dict.fromkeys(_BUILTINS, "entropic-core")
    for name, ep in _entry_points().items():
        where[name] = ep.dist.name if ep.dist is not None else ep.value
    return MappingProxyType(dict(sorted(where.items())))


@functools.cache
def load(name: str) -> Any:
    """Return the executor class registered as ``name``.

    Raises:
        UnknownExecutorError: No executor of that name is installed (the message lists them).
        EntropicError: The plugin is installed but fails to import; the original error is kept.
    """
    if name in _BUILTINS:
        return _BUILTINS[name]
    ep = _entry_points().get(name)
    if ep is None:
        known = ", ".join(available())
        raise UnknownExecutorError(
            f"unknown executor {name!r}; installed executors: {known}"
            + (" (install entropic-dask for 'dask')" if name == "dask" else "")
        )
    try:
        return ep.load()
    except Exception as exc:
        raise EntropicError(
            f"executor {name!r} ({ep.value}) failed to load: {type(exc).__name__}: {exc}"
        ) from exc


def _plugins_accepting(client: Any) -> Any:
    for name, ep in _entry_points().items():
        try:
            cls = load(name)
        except EntropicError as exc:
            warnings.warn(f"skipping executor plugin {name!r}: {exc}", stacklevel=3)
            continue
        accepts = getattr(cls, "accepts", None)
        if accepts is not None and accepts(client):
            return cls
        logger.debug("executor %s (%s) does not accept %r", name, ep.value, client)
    return None


def _build(cls: Any, client: Any, fallback: bool) -> Executor:
    if fallback:
        instance: Executor = cls(client=client)
        return instance
    try:
        refusing: Executor = cls(client=client, fallback=False)
    except TypeError as exc:
        raise TypeError(
            f"executor {getattr(cls, '__name__', cls)!r} cannot be told not to fall back "
            f"(fallback=False): {exc}"
        ) from exc
    return refusing


def resolve(
    executor: str | Executor | None = None, client: Any = None, *, fallback: bool = True
) -> Executor:
    """Turn ``sweep``'s ``executor`` and ``client`` arguments into an executor.

    Args:
        executor: A registered name, an executor object, or ``None``.
        client: A client object for a plugin (a ``distributed.Client`` for ``dask``), or
            ``None``.
        fallback: Whether a plugin may run work in this process when its cluster cannot;
            ``False`` is passed on to the plugin as ``fallback=False``.

    Returns:
        An executor: the object given, the named one (built with ``client``), the plugin that
        accepts ``client``, or the serial executor.

    Raises:
        UnknownExecutorError: ``executor`` names no installed executor.
        TypeError: ``client`` is given but no installed executor accepts it.
    """
    if executor is not None and not isinstance(executor, str):
        if not isinstance(executor, Executor):
            raise TypeError(
                f"executor must be a registered name or an object with an execute() method, "
                f"not {type(executor).__name__}"
            )
        return executor
    if isinstance(executor, str):
        return _build(load(executor), client, fallback)
    if client is None:
        return SerialExecutor()
    cls = _plugins_accepting(client)
    if cls is None:
        raise TypeError(
            f"no installed executor accepts a client of type {type(client).__module__}."
            f"{type(client).__qualname__}; for a Dask client, install entropic-dask"
        )
    return _build(cls, client, fallback)
