"""What ``verify`` reports and ``gc`` cleans: a store's files compared with its rows.

The rules:

- A row's result file is *missing* when no file exists at its ``result_file``, and *empty* when
  the file has no bytes. These are reported, never removed: ``entropic rm`` removes rows.
- A manifest (``.<id>.entropic.json``) whose id has no row is *unindexed* when its result file
  exists (``entropic ingest`` indexes it; ``gc`` keeps it unless told otherwise) and *stale* when
  its result file is gone (``gc`` removes it).
- A regular file directly in the results directory whose name does not start with a dot is an
  *orphan* when no row of any entropic table in the database refers to it and no unindexed
  manifest names it. Ids never start with a dot, so hidden files are never results and are left
  alone, as are sub-folders.
- Anything under ``.entropic-tmp`` is a *leftover* of an interrupted run, except the scratch
  folders of runs in progress: those of live processes on this host, and those of other hosts
  that changed within the last day.
- A run some process is doing right now (a live claim in ``entropic_claims``) is never reported:
  its file may briefly exist before its row.

Files are listed before the database is read, so a run that finishes meanwhile is seen as a row.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sqlalchemy import MetaData, Table, select
from sqlalchemy.exc import NoSuchTableError

from entropic.manifests import read_manifest, scan_manifests
from entropic.running import TEMP_DIR_NAME
from entropic_cli._store import StoreHandle

__all__ = ["KINDS", "Problem", "find_problems", "remove"]

#: Problem kinds, each with a short description and whether ``gc`` removes it.
KINDS: Final = {
    "missing-file": ("row whose result file is missing", False),
    "empty-file": ("row whose result file is empty", False),
    "orphan-file": ("result file without a row", True),
    "unindexed-manifest": ("manifest without a row, result file present (entropic ingest)", False),
    "stale-manifest": ("manifest without a row or result file", True),
    "leftover": ("leftover temporary file of an interrupted run", True),
}

#: A scratch folder of another host counts as in use while it changed this recently.
FOREIGN_SCRATCH_SECONDS: Final = 24 * 3600

_MANIFEST_SUFFIX: Final = ".entropic.json"


@dataclass(frozen=True, slots=True)
class Problem:
    """One inconsistency between the rows and the files.

    Attributes:
        kind: One of :data:`KINDS`.
        path: The file or folder concerned.
        id: The run's id, when known.
        size: Bytes on disk (a folder counts its contents), when there is something on disk.
    """

    kind: str
    path: Path
    id: str | None
    size: int | None

    @property
    def removable(self) -> bool:
        """Whether ``gc`` removes it."""
        return KINDS[self.kind][1]


def _size(path: Path) -> int:
    if path.is_dir() and not path.is_symlink():
        total = 0
        for folder, _dirs, files in os.walk(path):
            for name in files:
                with contextlib.suppress(FileNotFoundError):
                    total += os.lstat(os.path.join(folder, name)).st_size
        return total
    try:
        return path.lstat().st_size
    except FileNotFoundError:
        return 0


def _newest_change(path: Path) -> float:
    newest = path.lstat().st_mtime
    if path.is_dir():
        for folder, dirs, files in os.walk(path):
            for name in [*dirs, *files]:
                with contextlib.suppress(FileNotFoundError):
                    newest = max(newest, os.lstat(os.path.join(folder, name)).st_mtime)
    return newest


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _in_use(entry: Path, now: float) -> bool:
    """Whether a scratch folder belongs to a run that may still be going.

    Scratch folders are named ``<host>-<pid>-<thread>-<random>``.
    """
    if not entry.is_dir():
        return False
    parts = entry.name.rsplit("-", 3)
    if len(parts) == 4 and parts[1].isdigit():
        host, pid = parts[0], int(parts[1])
        if host == socket.gethostname():
            return _pid_alive(pid)
    try:
        return now - _newest_change(entry) < FOREIGN_SCRATCH_SECONDS
    except FileNotFoundError:
        return False


def _leftovers(results_dir: Path) -> Iterator[Problem]:
    scratch = results_dir / TEMP_DIR_NAME
    try:
        entries = sorted(scratch.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return
    now = time.time()
    for entry in entries:
        if not _in_use(entry, now):
            yield Problem("leftover", entry, None, _size(entry))


def _listing(results_dir: Path) -> tuple[dict[str, Path], list[Path]]:
    """Manifests by id, and the candidate result files, of ``results_dir``."""
    manifests = {p.name[1 : -len(_MANIFEST_SUFFIX)]: p for p in scan_manifests(results_dir)}
    files: list[Path] = []
    try:
        entries = os.scandir(results_dir)
    except FileNotFoundError:
        return manifests, files
    with entries:
        for entry in entries:
            if not entry.name.startswith(".") and entry.is_file(follow_symlinks=False):
                files.append(Path(entry.path))
    return manifests, sorted(files)


def _resolved(path: Path) -> str:
    return os.path.normcase(os.path.abspath(path))


def find_problems(store: StoreHandle) -> tuple[list[Problem], int]:
    """Compare the store's rows with its results directory.

    Returns:
        The problems found, and how many rows were checked.
    """
    results_dir = store.results_dir
    manifests, files = _listing(results_dir)
    leftovers = list(_leftovers(results_dir))
    table = store.table
    in_flight = store.claimed_ids()  # before the rows: a run that ends in between is a row
    problems: list[Problem] = []
    referenced: set[str] = set()
    all_ids: set[str] = set()
    rows = 0
    with store.engine.connect() as conn:
        query = select(table.c.id, table.c.result_file).order_by(table.c.id)
        for run_id, stored in conn.execution_options(yield_per=1000).execute(query):
            rows += 1
            all_ids.add(run_id)
            path = store.result_path(stored)
            referenced.add(_resolved(path))
            try:
                size = path.stat().st_size
            except (FileNotFoundError, NotADirectoryError):
                problems.append(Problem("missing-file", path, run_id, None))
                continue
            if size == 0:
                problems.append(Problem("empty-file", path, run_id, 0))
        # rows of the database's other entropic tables may share this results directory
        for name in store.tables():
            if name == table.name:
                continue
            try:
                other = Table(name, MetaData(), autoload_with=conn)
            except NoSuchTableError:  # dropped since it was listed: it refers to nothing
                continue
            for run_id, stored in conn.execute(select(other.c.id, other.c.result_file)):
                all_ids.add(run_id)
                referenced.add(_resolved(store.result_path(stored)))
    claimed_files: set[str] = set()
    for run_id, path in sorted(manifests.items()):
        if run_id in all_ids or run_id in in_flight:
            continue
        result = _manifest_result(path, results_dir)
        if result is not None and result.is_file():
            claimed_files.add(_resolved(result))
            problems.append(Problem("unindexed-manifest", path, run_id, _size(path)))
        else:
            problems.append(Problem("stale-manifest", path, run_id, _size(path)))
    for path in files:
        key = _resolved(path)
        if key in referenced or key in claimed_files:
            continue
        if any(path.name.startswith(run_id) for run_id in in_flight):
            continue
        problems.append(Problem("orphan-file", path, None, _size(path)))
    problems += leftovers
    return problems, rows


def _manifest_result(path: Path, results_dir: Path) -> Path | None:
    """The result file a manifest names, or ``None`` when the manifest cannot be read."""
    try:
        return Path(read_manifest(path, results_dir).result_file)
    except (ValueError, KeyError, TypeError, OSError):
        return None


def remove(problem: Problem) -> int:
    """Remove what ``problem`` points at; return the bytes freed."""
    path = problem.path
    size = problem.size or 0
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    return size
