"""Checking a store and cleaning it up: the work behind :mod:`entropic.maintenance`.

The rules :func:`verify` and :func:`collect_garbage` follow are described there, once.
"""

from __future__ import annotations

import collections
import logging
import os
import shutil
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from sqlalchemy import Engine, MetaData, Table
from sqlalchemy.exc import NoSuchTableError

from entropic._disk import (
    TRASH_DIR_NAME,
    candidate_files,
    delete_for_good,
    leftovers,
    path_key,
    size_of,
    stored_path,
    to_trash,
    trash_folder,
)
from entropic.errors import EntropicError
from entropic.inspection import (
    claims_in_flight,
    select_records,
)
from entropic.manifests import manifest_id, read_manifest, scan_manifests
from entropic.reflection import entropic_tables

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
    "verify",
]

logger = logging.getLogger(__name__)


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
            named.add(path_key(stored_path(row["result_file"], results_dir)))
    return named


def _moved(missing: list[Problem], rows: int, results_dir: Path) -> tuple[str, str] | None:
    """``(old, new)`` when most rows' files are missing and ``results_dir`` has their names."""
    if not rows or len(missing) * 2 <= rows:
        return None
    here = [p.path for p in missing if (results_dir / p.path.name).is_file()]
    if len(here) * 2 <= len(missing):
        return None
    old = collections.Counter(str(p.parent) for p in here).most_common(1)[0][0]
    return None if path_key(old) == path_key(results_dir) else (old, str(results_dir))


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
    files = candidate_files(folder)
    scratch = [Problem("leftover", p, None, size_of(p)) for p in leftovers(folder)]
    in_flight = claims_in_flight(engine, table.name)  # before the rows: a run may end between
    problems: list[Problem] = []
    ids: set[str] = set()
    named: set[str] = set()
    rows = 0
    for row in select_records(engine, table, columns=["id", "result_file"], order_by=[]):
        rows += 1
        ids.add(row["id"])
        path = stored_path(row["result_file"], folder)
        named.add(path_key(path))
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
            problems.append(Problem("bad-manifest", path, run_id, size_of(path), detail))
            continue
        if manifest.id != run_id:
            kept_prefixes.add(run_id)
            detail = f"its content names id {manifest.id!r}"
            problems.append(Problem("bad-manifest", path, run_id, size_of(path), detail))
            continue
        result = path_key(manifest.result_file)
        if not Path(result).is_relative_to(path_key(folder)):
            kept_prefixes.add(run_id)
            detail = f"its result file {manifest.result_file} is outside the results directory"
            problems.append(Problem("bad-manifest", path, run_id, size_of(path), detail))
            continue
        kept_names.add(result)
        if run_id in ids or run_id in in_flight or result in named:
            continue
        if Path(manifest.result_file).is_file():
            problems.append(
                Problem("unindexed-manifest", path, run_id, size_of(path), "entropic ingest")
            )
        else:
            problems.append(Problem("stale-manifest", path, run_id, size_of(path)))
    missing = [p for p in problems if p.kind == "missing-file"]
    missing_names = {p.path.name for p in missing}  # perhaps only moved: relocate mends them
    for path in files:
        key = path_key(path)
        if key in named or key in kept_names or path.name in missing_names:
            continue
        if any(path.name.startswith(prefix) for prefix in kept_prefixes):
            continue
        problems.append(Problem("orphan-file", path, None, size_of(path)))
    problems += scratch
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
    chosen = None if only is None else {path_key(p) for p in only}
    doomed = [
        p
        for p in checkup.problems
        if p.removable and (chosen is None or path_key(p.path) in chosen)
    ]
    kept = [p for p in checkup.problems if p.kind in ("unindexed-manifest", "bad-manifest")]
    freed = sum(p.size or 0 for p in doomed)
    if dry_run or not doomed:
        return GcReport(doomed, kept, freed, None, dry_run)
    trash = None if purge else trash_folder(folder)
    for problem in doomed:
        if trash is None:
            delete_for_good(problem.path)
        else:
            to_trash(problem.path, folder, trash)
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
