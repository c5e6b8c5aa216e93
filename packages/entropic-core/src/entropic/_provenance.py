"""What made a result: the runner's identity, its code and the environment, gathered once.

A :class:`ProvenanceSource` belongs to one Store. It describes the runner the first time it is
asked: its qualified name and module, a hash of its source and of its module's source, the
version the user declared, the git commit of the runner's repository and whether the work tree
is dirty, the Python version, the versions of entropic-core and of the runner's top-level
package, the host and the user. :func:`entropic.running.perform` adds what differs per run (pid,
host, start and end). Nothing here touches the database.

The *code* of a runner is what decides whether a stored result was made by the current code:
``"version:<V>"`` when the user declared a version, otherwise ``"source:<hash>"``; ``None``
when neither is known (a builtin, say).
"""

from __future__ import annotations

import datetime as dt
import functools
import getpass
import hashlib
import importlib.metadata
import inspect
import logging
import os
import platform
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from entropic.__about__ import __version__

__all__ = [
    "GIT_TIMEOUT",
    "ProvenanceSource",
    "code_of",
    "describe_runner",
    "git_state",
    "unknown_provenance",
]

logger = logging.getLogger(__name__)

#: Seconds each ``git`` command may take before the commit is recorded as unknown.
GIT_TIMEOUT: Final = 2.0
#: Hex digits of a source hash kept in a code (the full hash is in the provenance).
CODE_DIGITS: Final = 16
#: Environment variables that would point ``git`` at another repository than the runner's.
_GIT_REDIRECTS: Final = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def code_of(version: str | None, source_hash: str | None) -> str | None:
    """The code a run counts as made by: the declared version, else the source hash."""
    if version is not None:
        return f"version:{version}"
    if source_hash is not None:
        return f"source:{source_hash[:CODE_DIGITS]}"
    return None


def _target(runner: Any) -> Any:
    """The function whose code a runner runs: partials unwrapped, decorators followed."""
    while isinstance(runner, functools.partial):
        runner = runner.func
    return inspect.unwrap(runner) if callable(runner) else runner


def _source_hash(target: Any) -> tuple[str | None, str | None]:
    """A hash of the runner's source and how it was obtained, or ``(None, None)``."""
    if inspect.isfunction(target) or inspect.ismethod(target):
        try:
            return _sha256(inspect.getsource(target).encode()), "source"
        except (OSError, TypeError):  # defined in a REPL or by exec: hash its bytecode
            code = getattr(target, "__code__", None)
            if code is not None:
                body = code.co_code + repr(code.co_consts).encode() + repr(code.co_names).encode()
                return _sha256(body), "bytecode"
            return None, None
    if inspect.isbuiltin(target) or inspect.isroutine(target) or inspect.isclass(target):
        return None, None
    try:  # a callable object: its class's source
        return _sha256(inspect.getsource(type(target)).encode()), "class source"
    except (OSError, TypeError):
        return None, None


def _source_file(target: Any) -> Path | None:
    for candidate in (target, type(target)):
        try:
            found = inspect.getsourcefile(candidate)
        except TypeError:
            continue
        if found and os.path.isfile(found):
            return Path(found).resolve()
    return None


@functools.lru_cache(maxsize=1)
def _distributions() -> Mapping[str, list[str]]:
    """Top-level import names to the distributions that provide them (read once a process)."""
    return importlib.metadata.packages_distributions()


def _package(module_name: str | None) -> tuple[str | None, str | None]:
    """The runner's top-level package and the version of the distribution that provides it."""
    if not module_name or module_name == "__main__":
        return None, None
    top = module_name.partition(".")[0]
    for name in _distributions().get(top, ()):
        try:
            return top, importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return top, None


def git_state(folder: Path | None, timeout: float = GIT_TIMEOUT) -> dict[str, Any]:
    """The commit of the git work tree ``folder`` is in, and whether it has local changes.

    Both are ``None`` when git is not installed, ``folder`` is not in a work tree, or git does
    not answer within ``timeout`` seconds.
    """
    unknown: dict[str, Any] = {"git_commit": None, "git_dirty": None}
    if folder is None or not folder.is_dir():
        return unknown
    env = {k: v for k, v in os.environ.items() if k not in _GIT_REDIRECTS}
    env["GIT_OPTIONAL_LOCKS"] = "0"  # never take the index lock of the user's repository

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(folder), *args],
                capture_output=True,
                text=True,
                timeout=timeout,
                env=env,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout if done.returncode == 0 else None

    commit = git("rev-parse", "--verify", "HEAD")
    if commit is None:
        return unknown
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit.strip(), "git_dirty": None if status is None else bool(status)}


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError, ImportError):
        return None


def describe_runner(runner: Any, version: str | None) -> dict[str, Any]:
    """What identifies ``runner``'s code, cheaply: names, source hashes, version and code.

    Args:
        runner: The runner (a function, a method, a partial or a callable object).
        version: The version the user declared, or ``None``.

    Returns:
        ``runner`` (``module:qualname``), ``module``, ``qualname``, ``source_hash`` (SHA-256 of
        its source, or ``None``), ``source_kind``, ``module_hash``, ``version`` and ``code``.
    """
    target = _target(runner)
    qualname = getattr(target, "__qualname__", None) or type(target).__qualname__
    module = getattr(target, "__module__", None) or type(target).__module__
    source_hash, kind = _source_hash(target)
    path = _source_file(target)
    module_hash = None
    if path is not None:
        try:
            module_hash = _sha256(path.read_bytes())
        except OSError:
            module_hash = None
    return {
        "runner": f"{module}:{qualname}",
        "module": module,
        "qualname": qualname,
        "source_file": None if path is None else str(path),
        "source_hash": source_hash,
        "source_kind": kind,
        "module_hash": module_hash,
        "version": version,
        "code": code_of(version, source_hash),
    }


def _environment(identity: Mapping[str, Any]) -> dict[str, Any]:
    """What else made a result, beyond the runner's code: git, Python, versions, host, user."""
    source = identity.get("source_file")
    package, package_version = _package(identity.get("module"))
    return {
        **git_state(Path(source).parent if source else None),
        "python": f"{platform.python_version()} ({sys.implementation.name})",
        "entropic": __version__,
        "package": package,
        "package_version": package_version,
        "store_host": socket.gethostname(),
        "user": _user(),
    }


class ProvenanceSource:
    """The provenance of one Store's runs, gathered the first time it is needed.

    Args:
        runner: The runner, or ``None`` for a Store that never runs.
        version: The version the user declared (``Store(..., runner_version=...)``).
    """

    def __init__(self, runner: Any, version: str | None) -> None:
        self._lock = threading.Lock()
        self._version = version
        self._runner = runner
        self._identity: dict[str, Any] | None = None
        self._static: dict[str, Any] | None = None

    @property
    def runner(self) -> Any:
        """The runner described."""
        return self._runner

    @runner.setter
    def runner(self, runner: Any) -> None:
        with self._lock:
            self._runner = runner
            self._identity = self._static = None

    def identity(self) -> dict[str, Any]:
        """The runner's names, source hashes, version and code (see :func:`describe_runner`)."""
        identity = self._identity
        if identity is None:
            with self._lock:
                if self._identity is None:
                    self._identity = describe_runner(self._runner, self._version)
                identity = self._identity
        return identity

    @property
    def code(self) -> str | None:
        """The current code: ``version:<V>``, ``source:<hash>``, or ``None`` when unknown."""
        code = self.identity()["code"]
        return None if code is None else str(code)

    def static(self) -> Mapping[str, Any]:
        """Everything but what differs per run, gathered once (git runs here, the first time)."""
        static = self._static
        if static is None:
            identity = self.identity()
            gathered = {"origin": "run", **identity, **_environment(identity)}
            with self._lock:
                if self._static is None:
                    self._static = gathered
                static = self._static
        return static


def unknown_provenance(origin: str, note: str) -> dict[str, Any]:
    """The provenance of a run entropic did not make: what is known, saying the rest is not.

    Args:
        origin: How the run came to be indexed (``"register"``, ``"ingest"``).
        note: What the record says about its provenance.
    """
    return {
        "origin": origin,
        "known": False,
        "note": note,
        "code": None,
        "indexed_at": dt.datetime.now(dt.UTC).isoformat(),
        "indexed_by": {
            "host": socket.gethostname(),
            "user": _user(),
            "pid": os.getpid(),
            "entropic": __version__,
        },
    }
