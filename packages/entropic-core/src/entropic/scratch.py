"""Scratch folders: where results are written before they are moved into place.

Every temporary file entropic writes lives under one folder inside the results directory,
:data:`SCRATCH_DIR_NAME`, so a temporary file is never mistaken for a result and a result is
never half-written at its final path. Each process and thread writes into a folder of its own
(named after host, process and thread), reused from run to run and removed when its work ends.
This module is the one owner of that layout: the Store, the executors (entropic-dask included)
and the maintenance commands ask it, never spell the folder names themselves.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Final

__all__ = [
    "SCRATCH_DIR_NAME",
    "leftover_files",
    "private_folder",
    "release",
    "scratch_root",
    "thread_folder",
]

#: Folder inside the results directory that holds results while their runner writes them.
SCRATCH_DIR_NAME: Final = ".entropic-tmp"

_HOST: Final = socket.gethostname()
_folders: dict[tuple[str, int, int], str] = {}


def scratch_root(results_dir: str | Path) -> Path:
    """The folder that holds every scratch folder of ``results_dir``."""
    return Path(results_dir) / SCRATCH_DIR_NAME


def thread_folder(results_dir: str) -> str:
    """This thread's scratch folder under ``results_dir``, created on first use.

    One folder per process and thread, reused from run to run: runs in one thread never overlap,
    and a folder per run would cost a ``mkdir`` and an ``rmdir`` every time.
    """
    key = (results_dir, os.getpid(), threading.get_ident())
    path = _folders.get(key)
    if path is None or not os.path.isdir(path):
        path = os.path.join(
            results_dir,
            SCRATCH_DIR_NAME,
            f"{_HOST}-{key[1]}-{key[2]}-{uuid.uuid4().hex[:8]}",
        )
        os.makedirs(path, exist_ok=True)
        _folders[key] = path
    return path


def release(results_dir: str | Path) -> None:
    """Remove this thread's scratch folder under ``results_dir``, with anything left in it."""
    path = _folders.pop((str(results_dir), os.getpid(), threading.get_ident()), None)
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)


def private_folder(results_dir: str | Path, purpose: str) -> Path:
    """A new, empty scratch folder for one operation (``purpose`` names it, e.g. ``merge``).

    The caller removes it when done (``shutil.rmtree``).
    """
    path = scratch_root(results_dir) / f"{purpose}-{uuid.uuid4().hex}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def leftover_files(results_dir: str | Path) -> Iterator[Path]:
    """Every file in the scratch folders of ``results_dir`` (runs interrupted mid-write)."""
    try:
        folders = [Path(e.path) for e in os.scandir(scratch_root(results_dir)) if e.is_dir()]
    except OSError:
        return
    for folder in folders:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            yield folder / name
