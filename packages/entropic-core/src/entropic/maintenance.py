"""Looking after a store without running anything: open it, check it, clean it up.

:func:`verify` compares one table's rows with its results directory; :func:`collect_garbage`
removes what nothing needs, into a dated trash folder inside the results directory unless told to
delete for good. The rules, decided for the one table asked about:

- A row's result file is *missing* when nothing is at its ``result_file``, *empty* when it has no
  bytes. These are reported, never removed (``entropic rm`` removes runs).
- When most rows' files are missing and the results directory holds files of the same names, the
  folder was *moved*: ``entropic relocate OLD NEW`` mends the rows, and gc refuses to act without
  ``force``.
- A manifest that cannot be read, or whose content names another id, is a *bad manifest*; it and
  the files beside it (names starting with its id) are kept for a person to look at.
- A readable manifest whose id has no row in this table and whose result file no row of any table
  names is *unindexed* when that file exists (``entropic ingest`` indexes it) and *stale* when it
  does not (gc removes it). A file a readable manifest names is never removed.
- A regular, non-hidden file directly in the results directory is an *orphan* when no row of any
  entropic table in the database and no manifest names it, and it is not a run in flight.
- Scratch folders of interrupted runs are *leftovers*; those of live processes on this host, and
  those of other hosts that changed within a day, are in use. The scratch and trash folders are
  never scanned for results.

Files are listed before the database is read, so a run that finishes meanwhile is seen as a row.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import logging
import os
import shutil
import socket
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Engine, MetaData, Table
from sqlalchemy.engine import URL
from sqlalchemy.exc import NoSuchTableError

from entropic.errors import EntropicError, SchemaError
from entropic.inspection import (
    claims_in_flight,
    connect,
    recorded_location,
    select_records,
)
from entropic.manifests import manifest_id, read_manifest, scan_manifests
from entropic.reflection import entropic_tables, reflect_model
from entropic.scratch import scratch_root

if TYPE_CHECKING:
    from entropic.store import Store

__all__ = [
    "KINDS",
    "TRASH_DIR_NAME",
    "Checkup",
    "GcRefusedError",
    "GcReport",
    "Problem",
    "check",
    "collect_garbage",
    "empty_trash",
    "guess_suffix",
    "open_store",
    "verify",
]

logger = logging.getLogger(__name__)

#: Folder inside the results directory where gc moves what it removes, one dated folder per gc.
TRASH_DIR_NAME: Final = ".entropic-trash"
#: A scratch folder of another host counts as in use while it changed this recently.
FOREIGN_SCRATCH_SECONDS: Final = 24 * 3600

#: Problem kinds, each with a description and whether gc removes it.
KINDS: Final = {
    "moved-folder": ("rows point to another folder holding files of the same names", False),
    "missing-file": ("row whose result file is missing", False),
    "empty-file": ("row whose result file is empty", False),
    "orphan-file": ("result file without a row or manifest", True),
    "unindexed-manifest": ("manifest without a row, result file present (entropic ingest)", False),
    "stale-manifest": ("manifest without a row or result file", True),
    "bad-manifest": ("manifest that cannot be read; kept with its files", False),
    "leftover": ("leftover temporary file of an interrupted run", True),
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One inconsistency between a table's rows and its results directory.

    Attributes:
        kind: One of :data:`KINDS`.
        path: The file or folder concerned.
        id: The run's id, when known.
        size: Bytes on disk (a folder counts its contents), when there is something on disk.
        detail: More about it, such as the command that mends it.
    """

    kind: str
    path: Path
    id: str | None
    size: int | None
    detail: str | None = None

    @property
    def removable(self) -> bool:
        """Whether gc removes it."""
        return KINDS[self.kind][1]

    @property
    def description(self) -> str:
        """What the kind means, in a few words."""
        return KINDS[self.kind][0]


@dataclass(frozen=True, slots=True)
class Checkup:
    """What :func:`check` found.

    Attributes:
        problems: Every problem, a moved folder first.
        rows: How many rows were checked.
        moved: ``(old, new)`` folder when the results directory looks moved, else ``None``.
    """

    problems: list[Problem]
    rows: int
    moved: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class GcReport:
    """What :func:`collect_garbage` removed (or would remove, in a dry run).

    Attributes:
        removed: The problems whose files were (or would be) removed.
        kept: Unindexed and bad manifests, kept for ``entropic ingest`` or a person.
        freed_bytes: Bytes removed from the results directory (moved to the trash or deleted).
        trash: The dated trash folder the files went to; ``None`` when purging, in a dry run, or
            when nothing was removed.
        dry_run: Whether nothing was changed.
    """

    removed: list[Problem]
    kept: list[Problem]
    freed_bytes: int
    trash: Path | None
    dry_run: bool = field(default=False)


class GcRefusedError(EntropicError, RuntimeError):
    """gc will not act on a store whose results directory looks moved (pass ``force``)."""


# ---------------------------------------------------------------------- the disk


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


def _leftovers(results_dir: Path) -> Iterator[Problem]:
    try:
        entries = sorted(scratch_root(results_dir).iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return
    now = time.time()
    for entry in entries:
        if not _in_use(entry, now):
            yield Problem("leftover", entry, None, _size(entry))


def _candidate_files(results_dir: Path) -> list[Path]:
    """Regular, non-hidden files directly in ``results_dir``: what may be a result."""
    found = []
    with contextlib.suppress(FileNotFoundError), os.scandir(results_dir) as entries:
        for entry in entries:
            if not entry.name.startswith(".") and entry.is_file(follow_symlinks=False):
                found.append(Path(entry.path))
    return sorted(found)


def _key(path: str | Path) -> str:
    return os.path.normcase(os.path.abspath(path))


def _stored_path(stored: str, results_dir: Path) -> Path:
    path = Path(stored)
    return path if path.is_absolute() else results_dir / path


# ---------------------------------------------------------------------- verify


def _other_paths(engine: Engine, table: Table, results_dir: Path) -> set[str]:
    """The files the rows of the database's other entropic tables name."""
    named: set[str] = set()
    for name in entropic_tables(engine):
        if name == table.name:
            continue
        try:
            other = Table(name, MetaData(), autoload_with=engine)
        except NoSuchTableError:  # dropped since it was listed: it names nothing
            continue
        for row in select_records(engine, other, columns=["result_file"], order_by=[]):
            named.add(_key(_stored_path(row["result_file"], results_dir)))
    return named


def _moved(missing: list[Problem], rows: int, results_dir: Path) -> tuple[str, str] | None:
    """``(old, new)`` when most rows' files are missing and ``results_dir`` has their names."""
    if not rows or len(missing) * 2 <= rows:
        return None
    here = [p.path for p in missing if (results_dir / p.path.name).is_file()]
    if len(here) * 2 <= len(missing):
        return None
    old = collections.Counter(str(p.parent) for p in here).most_common(1)[0][0]
    return None if _key(old) == _key(results_dir) else (old, str(results_dir))


def check(engine: Engine, table: Table, results_dir: str | Path, file_suffix: str) -> Checkup:
    """Compare one table's rows with its results directory; change nothing.

    Args:
        engine: The store's database.
        table: The entropic table to check.
        results_dir: The table's results directory.
        file_suffix: The suffix of its result files (kept for rules that need it).

    Returns:
        The problems found and how many rows were checked.
    """
    del file_suffix  # every rule works from the names rows and manifests give
    folder = Path(results_dir).expanduser().resolve()
    manifests = sorted(scan_manifests(folder))
    files = _candidate_files(folder)
    leftovers = list(_leftovers(folder))
    in_flight = claims_in_flight(engine, table.name)  # before the rows: a run may end between
    problems: list[Problem] = []
    ids: set[str] = set()
    named: set[str] = set()
    rows = 0
    for row in select_records(engine, table, columns=["id", "result_file"], order_by=[]):
        rows += 1
        ids.add(row["id"])
        path = _stored_path(row["result_file"], folder)
        named.add(_key(path))
        try:
            size = path.stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            problems.append(Problem("missing-file", path, row["id"], None))
            continue
        if size == 0:
            problems.append(Problem("empty-file", path, row["id"], 0))
    named |= _other_paths(engine, table, folder)
    kept_names: set[str] = set()  # files a manifest names: never orphans
    kept_prefixes = set(in_flight)  # files starting with these ids are never orphans
    for path in manifests:
        run_id = manifest_id(path) or path.name
        try:
            manifest = read_manifest(path, folder)
        except (ValueError, KeyError, TypeError, OSError) as exc:
            kept_prefixes.add(run_id)
            detail = f"{type(exc).__name__}: {exc}"
            problems.append(Problem("bad-manifest", path, run_id, _size(path), detail))
            continue
        if manifest.id != run_id:
            kept_prefixes.add(run_id)
            detail = f"its content names id {manifest.id!r}"
            problems.append(Problem("bad-manifest", path, run_id, _size(path), detail))
            continue
        result = _key(manifest.result_file)
        kept_names.add(result)
        if run_id in ids or run_id in in_flight or result in named:
            continue
        if Path(manifest.result_file).is_file():
            problems.append(
                Problem("unindexed-manifest", path, run_id, _size(path), "entropic ingest")
            )
        else:
            problems.append(Problem("stale-manifest", path, run_id, _size(path)))
    missing = [p for p in problems if p.kind == "missing-file"]
    missing_names = {p.path.name for p in missing}  # perhaps only moved: relocate mends them
    for path in files:
        key = _key(path)
        if key in named or key in kept_names or path.name in missing_names:
            continue
        if any(path.name.startswith(prefix) for prefix in kept_prefixes):
            continue
        problems.append(Problem("orphan-file", path, None, _size(path)))
    problems += leftovers
    moved = _moved(missing, rows, folder)
    if moved is not None:
        old, new = moved
        hint = f"entropic relocate {old} {new}"
        problems.insert(0, Problem("moved-folder", Path(old), None, None, hint))
    return Checkup(problems, rows, moved)


def verify(
    engine: Engine, table: Table, results_dir: str | Path, file_suffix: str
) -> list[Problem]:
    """The problems :func:`check` finds, a moved folder first; nothing is changed."""
    return check(engine, table, results_dir, file_suffix).problems


# ---------------------------------------------------------------------- gc


def _trash_folder(results_dir: Path) -> Path:
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


def _purge(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _to_trash(path: Path, results_dir: Path, trash: Path) -> None:
    target = trash / path.relative_to(results_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.replace(path, target)


def collect_garbage(
    engine: Engine,
    table: Table,
    results_dir: str | Path,
    file_suffix: str,
    *,
    dry_run: bool = False,
    purge: bool = False,
    force: bool = False,
    only: Collection[Path] | None = None,
) -> GcReport:
    """Remove the orphan files, stale manifests and leftovers :func:`check` reports.

    Rows are never removed, nor files a readable manifest names. What goes is moved into a new
    dated folder under ``results_dir/.entropic-trash``, keeping its path, so it can be put back
    by hand; :func:`empty_trash` deletes it for good.

    Args:
        engine: The store's database.
        table: The entropic table whose results directory is cleaned.
        results_dir: Its results directory.
        file_suffix: The suffix of its result files.
        dry_run: Only report what would be removed.
        purge: Delete for good instead of moving to the trash.
        force: Act even when the results directory looks moved.
        only: Remove only these paths (those a person confirmed), if still removable.

    Returns:
        What was removed and kept.

    Raises:
        GcRefusedError: The results directory looks moved and ``force`` is false.
    """
    folder = Path(results_dir).expanduser().resolve()
    checkup = check(engine, table, folder, file_suffix)
    if checkup.moved is not None and not force:
        old, new = checkup.moved
        raise GcRefusedError(
            f"the rows of {table.name!r} point to {old}, and {new} holds files of the same "
            f"names: the folder looks moved; run 'entropic relocate {old} {new}' first "
            "(or force gc)"
        )
    chosen = None if only is None else {_key(p) for p in only}
    doomed = [
        p for p in checkup.problems if p.removable and (chosen is None or _key(p.path) in chosen)
    ]
    kept = [p for p in checkup.problems if p.kind in ("unindexed-manifest", "bad-manifest")]
    freed = sum(p.size or 0 for p in doomed)
    if dry_run or not doomed:
        return GcReport(doomed, kept, freed, None, dry_run)
    trash = None if purge else _trash_folder(folder)
    for problem in doomed:
        if trash is None:
            _purge(problem.path)
        else:
            _to_trash(problem.path, folder, trash)
    logger.info("gc removed %d item(s) from %s", len(doomed), folder)
    return GcReport(doomed, kept, freed, trash, False)


def empty_trash(results_dir: str | Path) -> int:
    """Delete for good what gc moved to the trash of ``results_dir``; return how many files."""
    trash = Path(results_dir).expanduser().resolve() / TRASH_DIR_NAME
    if not trash.is_dir():
        return 0
    count = sum(len(files) for _folder, _dirs, files in os.walk(trash))
    shutil.rmtree(trash)
    return count


# ---------------------------------------------------------------------- opening a store


def guess_suffix(engine: Engine, table: Table) -> str | None:
    """The suffix of the first row's result file (``<id><suffix>``), when there is a row."""
    for row in select_records(engine, table, columns=["id", "result_file"], limit=1):
        name = Path(row["result_file"]).name
        return name[len(row["id"]) :] if name.startswith(row["id"]) else Path(name).suffix
    return None


def open_store(
    db_url: str | URL,
    table: str | None = None,
    *,
    results_dir: str | Path | None = None,
    file_suffix: str | None = None,
) -> Store[Any]:
    """Open a store for inspection and repair, without its model's code and without a runner.

    The model is reflected from the table (see :func:`entropic.reflect_model`). The results
    directory and file suffix are those the table's Store recorded, unless given; a given
    results directory that differs from the recorded one is logged as a warning.

    Args:
        db_url: The store's database.
        table: The entropic table; may be left out when the database holds only one.
        results_dir: The results directory, by default the recorded one (else ``./results``).
        file_suffix: The suffix of result files, by default the recorded one (else the suffix
            of the stored file names, else ``.h5``).

    Returns:
        A :class:`~entropic.Store` with no runner: it reads, deletes, ingests, verifies and
        cleans, but runs nothing.

    Raises:
        NoStoreError: ``db_url`` names a SQLite file that does not exist.
        SchemaError: There is no such table, no entropic table, or several and none is named.
    """
    from entropic.store import Store

    engine = connect(db_url)
    try:
        if table is None:
            found = entropic_tables(engine)
            if len(found) != 1:
                listed = ", ".join(found) if found else "none"
                raise SchemaError(f"name the table to open; the entropic tables are: {listed}")
            table = found[0]
        model = reflect_model(engine, table)
        reflected = model.__table__
        assert isinstance(reflected, Table)
        recorded_dir, recorded_suffix = recorded_location(engine, table)
        if results_dir is None:
            chosen = recorded_dir if recorded_dir is not None else Path("results")
        else:
            chosen = Path(results_dir).expanduser().resolve()
            if recorded_dir is not None and _key(recorded_dir) != _key(chosen):
                logger.warning(
                    "the results directory %s differs from %s, recorded for table %r",
                    chosen,
                    recorded_dir,
                    table,
                )
        suffix = file_suffix
        if suffix is None:
            suffix = recorded_suffix
        if suffix is None:
            suffix = guess_suffix(engine, reflected) or ".h5"
    finally:
        engine.dispose()
    return Store(None, model, chosen, suffix, db_url)
