"""The results directory on disk, for :mod:`entropic.maintenance`: what may be a result, sizes,
scratch folders nobody uses any more, and the trash gc moves things into.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from entropic.scratch import scratch_root

__all__ = [
    "FOREIGN_SCRATCH_SECONDS",
    "TRASH_DIR_NAME",
    "candidate_files",
    "leftovers",
    "path_key",
    "delete_for_good",
    "size_of",
    "stored_path",
    "to_trash",
    "trash_folder",
]

#: Folder inside the results directory where gc moves what it removes, one dated folder per gc.
TRASH_DIR_NAME: Final = ".entropic-trash"
#: A scratch folder of another host counts as in use while it changed this recently.
FOREIGN_SCRATCH_SECONDS: Final = 24 * 3600


def size_of(path: Path) -> int:
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
    """Whether a scratch folder (``<host>-<pid>-<thread>-<random>``) may belong to a live run."""
    if not entry.is_dir():
        return False
    parts = entry.name.rsplit("-", 3)
    if len(parts) == 4 and parts[1].isdigit() and parts[0] == socket.gethostname():
        return _pid_alive(int(parts[1]))
    try:
        return now - _newest_change(entry) < FOREIGN_SCRATCH_SECONDS
    except FileNotFoundError:
        return False


def leftovers(results_dir: Path) -> Iterator[Path]:
    """The scratch folders (and loose files) of ``results_dir`` no live run may be using."""
    try:
        entries = sorted(scratch_root(results_dir).iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return
    now = time.time()
    for entry in entries:
        if not _in_use(entry, now):
            yield entry


def candidate_files(results_dir: Path) -> list[Path]:
    """Regular, non-hidden files directly in ``results_dir``: what may be a result."""
    found = []
    with contextlib.suppress(FileNotFoundError), os.scandir(results_dir) as entries:
        for entry in entries:
            if not entry.name.startswith(".") and entry.is_file(follow_symlinks=False):
                found.append(Path(entry.path))
    return sorted(found)


def path_key(path: str | Path) -> str:
    return os.path.normcase(os.path.abspath(path))


def stored_path(stored: str, results_dir: Path) -> Path:
    path = Path(stored)
    return path if path.is_absolute() else results_dir / path


def trash_folder(results_dir: Path) -> Path:
    """A new dated folder in the trash, such as ``.entropic-trash/2026-12-01T221500``."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M%S")
    base = results_dir / TRASH_DIR_NAME
    for attempt in range(1000):
        folder = base / (stamp if attempt == 0 else f"{stamp}-{attempt}")
        try:
            folder.mkdir(parents=True)
        except FileExistsError:
            continue
        return folder
    raise FileExistsError(f"no free name for a trash folder in {base}")


def delete_for_good(path: Path) -> None:
    """Delete ``path``, a file or a folder with its contents."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def to_trash(path: Path, results_dir: Path, trash: Path) -> None:
    target = trash / path.relative_to(results_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.replace(path, target)
