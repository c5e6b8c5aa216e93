"""Helpers for the chaos tests: child processes with deadlines, the store's invariants, a private
PostgreSQL server and a small tmpfs.

Everything here talks to 127.0.0.1 only and ends by itself: every wait has a deadline, every
server or mount a test makes is stopped or unmounted when it ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from glob import glob
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))

import _manywriters as mw  # noqa: E402
from sqlalchemy import create_engine, select, text  # noqa: E402

from entropic.manifests import manifest_id, read_manifest, scan_manifests  # noqa: E402

WORKER = str(HERE / "_chaosworker.py")
#: Longest a child process may take before the test gives up on it.
DEADLINE = 120.0
SUFFIX = ".txt"


def system_tool(name: str) -> str | None:
    """Where the administration tool ``name`` is: on ``PATH``, or in ``/usr/sbin`` and ``/sbin``.

    A root shell on Debian started with only ``/usr/bin:/bin`` on ``PATH`` still has these.
    """
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return shutil.which(name, path=path)


def skip_or_fail(message: str) -> None:
    """Skip on a user's machine; under CI (env ``CI``) a missing tool is a failure."""
    if os.environ.get("CI"):
        pytest.fail(message + " (CI is set, so this fails instead of skipping)")
    pytest.skip(message)


# ---------------------------------------------------------------------- what a run writes


def content(params: Mapping[str, Any], tag: str, pad: int = 0) -> str:
    """The complete text the chaos runner writes for ``params``, signed by writer ``tag``."""
    padding = "#" * pad + "\n" if pad else ""
    return mw.content_for(params) + padding + f"written by {tag}\n"


def writer_of(text: str, params: Mapping[str, Any]) -> str | None:
    """The tag of a complete result file for ``params``, or ``None`` when it is partial."""
    head = mw.content_for(params)
    if not text.startswith(head):
        return None
    tail = text[len(head) :]
    padded = tail.lstrip("#")
    if padded != tail:
        if not padded.startswith("\n"):
            return None
        tail = padded[1:]
    if not (tail.startswith("written by ") and tail.endswith("\n") and tail.count("\n") == 1):
        return None
    return tail[len("written by ") : -1]


# ---------------------------------------------------------------------- child processes


def spawn(*args: str, stdin: Any = None) -> subprocess.Popen[str]:
    """Start the chaos worker with ``args``; its output is collected by :func:`finish`."""
    return subprocess.Popen(
        [sys.executable, WORKER, *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@dataclass
class Ended:
    """How a child process ended."""

    returncode: int
    out: str
    err: str


def finish(proc: subprocess.Popen[str], timeout: float = DEADLINE) -> Ended:
    """Wait for ``proc`` (killing it after ``timeout``) and return how it ended."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=30)
        raise AssertionError(f"worker did not end within {timeout} s:\n{err[-4000:]}") from None
    return Ended(proc.returncode, out, err)


def kill(proc: subprocess.Popen[str]) -> bool:
    """SIGKILL ``proc``; return whether it was still running (a kill that hit something)."""
    alive = proc.poll() is None
    if alive:
        proc.send_signal(signal.SIGKILL)
    ended = finish(proc, timeout=30)
    return alive and ended.returncode == -signal.SIGKILL


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Return once ``condition()`` holds; fail the test, saying ``what``, after ``timeout``."""
    deadline = time.monotonic() + timeout
    pause = 0.002
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def lines(path: Path) -> list[str]:
    """The lines of a log the workers append to (empty when it does not exist yet)."""
    try:
        return path.read_text().split()
    except FileNotFoundError:
        return []


# ---------------------------------------------------------------------- the invariants


@dataclass
class Snapshot:
    """What a store holds at one moment, checked against its invariants.

    Attributes:
        rows: Each stored id with its ``result_file``.
        files: The ids with a complete result file at their final path, and its writer.
        manifests: The ids with a complete, readable manifest at its final path.
        finished: The ids that are done: a row, or a manifest with its complete file.
    """

    rows: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    manifests: set[str] = field(default_factory=set)

    @property
    def finished(self) -> set[str]:
        return set(self.rows) | (self.manifests & set(self.files))


def stored_rows(db_url: str, table: str) -> dict[str, str]:
    """Every row of ``table``: id to result_file (read without a Store)."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            quoted = conn.dialect.identifier_preparer.quote(table)
            rows = conn.execute(text(f"SELECT id, result_file FROM {quoted}")).all()
    finally:
        engine.dispose()
    return {r[0]: r[1] for r in rows}


def snapshot(
    db_url: str,
    table: str,
    results: Path,
    expected: Mapping[str, Mapping[str, Any]],
    *,
    rows: Mapping[str, str] | None = None,
    rows_have_files: bool = True,
) -> Snapshot:
    """Check the store's invariants and return what it holds.

    Checked: every file at a final path in ``results`` is a complete result of a known run
    (never partial); every manifest at a final path is complete and names its own id and a
    result file inside ``results``; every row has its complete file.

    Args:
        db_url: The store's database.
        table: Its table.
        results: Its results directory.
        expected: Every id the store may hold, with its parameters.
        rows: The rows, when the caller has read them already.
        rows_have_files: Whether to check that every row has its complete file (not while a
            store is half re-keyed: files move before their rows).
    """
    snap = Snapshot()
    snap.rows = dict(stored_rows(db_url, table) if rows is None else rows)
    for entry in os.scandir(results):
        if entry.name.startswith(".") or not entry.name.endswith(SUFFIX):
            continue
        run_id = entry.name[: -len(SUFFIX)]
        assert run_id in expected, f"a file of no known run at a final path: {entry.path}"
        assert entry.is_file(follow_symlinks=False), f"not a regular file: {entry.path}"
        tag = writer_of(Path(entry.path).read_text(), expected[run_id])
        assert tag is not None, f"a partial result file at its final path: {entry.path}"
        snap.files[run_id] = tag
    for path in scan_manifests(results):
        manifest = read_manifest(path, results)  # a partial manifest raises here
        assert manifest.id == manifest_id(path), f"manifest {path} names {manifest.id}"
        assert Path(manifest.result_file).resolve().is_relative_to(results.resolve())
        snap.manifests.add(manifest.id)
    for run_id, stored in snap.rows.items():
        assert run_id in expected, f"a row of no known run: {run_id}"
        if not rows_have_files:
            continue
        path = Path(stored)
        path = path if path.is_absolute() else results / path
        assert path.is_file(), f"row {run_id} without its file {path}"
        assert run_id in snap.files, f"row {run_id} whose file is not complete: {path}"
    return snap


def expected_ids(start: int, stop: int) -> dict[str, dict[str, Any]]:
    """The ids of :func:`_manywriters.points` ``start..stop``, with their parameters."""
    from entropic.hashing import hash_params

    return {hash_params(p): p for p in mw.points(start, stop)}


# ---------------------------------------------------------------------- a private PostgreSQL


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin() -> Path | None:
    found = sorted(glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("pg_ctl")
    return Path(which).parent if which else None


class PrivatePostgres:
    """A PostgreSQL server of the test's own (``initdb`` and ``pg_ctl`` on a free port).

    As root, the server runs as the ``postgres`` user in a folder that user owns. Stopping it
    never touches any other server: ``pg_ctl`` acts on this data folder only.
    """

    def __init__(self) -> None:
        bindir = _pg_bin()
        if bindir is None:
            skip_or_fail("no PostgreSQL server binaries (initdb, pg_ctl) found")
        assert bindir is not None
        self.bindir = bindir
        self.folder = Path(tempfile.mkdtemp(prefix="entropic-chaos-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            runuser = system_tool("runuser")
            if runuser is None:
                skip_or_fail("running as root without runuser to start PostgreSQL as postgres")
            self._as = [str(runuser), "-u", "postgres", "--"]
            shutil.chown(self.folder, "postgres", "postgres")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            [*self._as, *args],
            check=True,
            timeout=timeout,
            capture_output=True,
            cwd=self.folder,
        )

    def init(self) -> None:
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off "
            "-c max_connections=60"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.folder / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
            timeout=90,
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", timeout=90
        )

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def close(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            if self.running():
                self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started private PostgreSQL server, stopped and removed afterwards."""
    server = PrivatePostgres()
    try:
        try:
            server.init()
            server.start()
        except (subprocess.SubprocessError, OSError) as exc:
            log = server.folder / "server.log"
            detail = log.read_text()[-2000:] if log.exists() else ""
            skip_or_fail(f"could not start a private PostgreSQL: {exc}\n{detail}")
        yield server
    finally:
        server.close()


# ---------------------------------------------------------------------- a small tmpfs


@contextlib.contextmanager
def small_tmpfs(size: str = "2m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on a new folder, unmounted and removed afterwards.

    Mounting needs root (CI runs as root, so there it must work); elsewhere the test is skipped.
    """
    mount, umount = system_tool("mount"), system_tool("umount")
    if os.geteuid() != 0 or mount is None or umount is None:
        skip_or_fail("mounting a tmpfs needs root, mount(8) and umount(8)")
    assert mount is not None
    assert umount is not None
    folder = Path(tempfile.mkdtemp(prefix="entropic-chaos-disk-"))
    done = subprocess.run(
        [mount, "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if done.returncode != 0:
        folder.rmdir()
        skip_or_fail(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        gone = subprocess.run([umount, str(folder)], capture_output=True, timeout=30)
        if gone.returncode != 0:
            subprocess.run([umount, "-l", str(folder)], capture_output=True, timeout=30)
        with contextlib.suppress(OSError):
            folder.rmdir()


def fill(folder: Path, leave: int = 0) -> Path:
    """Fill the file system of ``folder`` with one file, then free about ``leave`` bytes."""
    filler = folder / ".filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for size in (1 << 20, 65536, 4096, 512, 1):
            block = b"\0" * size
            with contextlib.suppress(OSError):
                while os.write(fd, block) == size:
                    pass
    finally:
        os.close(fd)
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def free_bytes(folder: Path) -> int:
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize


def rows_in(db_url: str, table: str, ids: Sequence[str]) -> int:
    """How many of ``ids`` have a row."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            quoted = conn.dialect.identifier_preparer.quote(table)
            found = conn.execute(text(f"SELECT id FROM {quoted}")).scalars().all()
    finally:
        engine.dispose()
    return len(set(found) & set(ids))


__all__ = [
    "DEADLINE",
    "Ended",
    "PrivatePostgres",
    "Snapshot",
    "content",
    "expected_ids",
    "fill",
    "finish",
    "free_bytes",
    "kill",
    "lines",
    "mw",
    "private_postgres",
    "rows_in",
    "select",
    "skip_or_fail",
    "small_tmpfs",
    "snapshot",
    "spawn",
    "stored_rows",
    "wait_for",
    "writer_of",
]
