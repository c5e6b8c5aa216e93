"""Looking after a store without running anything: open it, check it, clean it up.

:func:`open_store` opens an existing store for inspection and repair, with no runner;
:func:`verify` compares one table's rows with its results directory; :func:`collect_garbage`
removes what nothing needs, into a dated trash folder inside the results directory unless told to
delete for good. The same operations are :meth:`entropic.Store.verify`,
:meth:`entropic.Store.gc` and :meth:`entropic.Store.empty_trash`. The rules, decided for the one
table asked about:

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
  never scanned for results. Nothing outside the results directory is ever removed.

Files are listed before the database is read, so a run that finishes meanwhile is seen as a row.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import URL

from entropic._disk import path_key
from entropic._upkeep import (
    KINDS,
    TRASH_DIR_NAME,
    Checkup,
    GcRefusedError,
    GcReport,
    Problem,
    check,
    collect_garbage,
    empty_trash,
    guess_suffix,
    verify,
)
from entropic.errors import SchemaError
from entropic.inspection import connect, recorded_location
from entropic.reflection import entropic_tables, reflect_model
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
            if recorded_dir is not None and path_key(recorded_dir) != path_key(chosen):
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
