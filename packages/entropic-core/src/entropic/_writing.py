"""Writing runs: rows upserted with their claims released, and runs deleted or relocated."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, Table, delete, select, update

from entropic._claims import ClaimBook
from entropic._db import chunks, transact, upsert, write_connection
from entropic.manifests import manifest_path

__all__ = ["Companion", "Writer"]

logger = logging.getLogger(__name__)


class Companion(Protocol):
    """Keeps a table of its own in step with the rows, in the same transactions (provenance)."""

    def written(
        self, conn: Connection, rows: Sequence[Mapping[str, Any]]
    ) -> Sequence[Mapping[str, Any]]:
        """Record what goes with ``rows``; return them as the user's table stores them."""

    def removed(self, conn: Connection, ids: Sequence[str]) -> None:
        """Forget what went with the runs ``ids``."""


class Writer:
    """Writes one table's rows and keeps manifests and files in step with them.

    Args:
        engine: The Store's engine.
        table: The model's table.
        claims: The Store's claims, released in the same transaction as the rows they cover.
        results_dir: The results directory (absolute); no file outside it is ever deleted.
    """

    def __init__(self, engine: Engine, table: Table, claims: ClaimBook, results_dir: Path) -> None:
        self.engine = engine
        self.table = table
        self.claims = claims
        self.results_dir = results_dir
        #: Told of every row written and every run removed, inside the same transaction.
        self.companion: Companion | None = None

    def persist(
        self,
        rows: Sequence[Mapping[str, Any]],
        owner: str | None = None,
        release: Iterable[str] = (),
        also: Callable[[Connection], None] | None = None,
        *,
        patient: bool = True,
    ) -> None:
        """Store ``rows`` and drop ``owner``'s claims on ``release`` in one transaction.

        A transaction the server aborts to resolve a deadlock is tried again. ``also``, when
        given, is called with the connection inside the same transaction (a sweep's journal
        records its progress and failures there); it may be called again on a retry. With
        ``patient``, an outage is waited through; the batch writer, which keeps its rows and
        retries on its own, passes ``False``.
        """
        released = list(release)

        def write(conn: Connection) -> None:
            kept = rows if self.companion is None else self.companion.written(conn, rows)
            upsert(conn, self.table, kept)
            if owner is not None:
                self.claims.release(released, owner, conn)
            if also is not None:
                also(conn)

        transact(self.engine, write, patient=patient)

    def inside(self, path: str | Path) -> bool:
        """Whether ``path`` lies inside the results directory."""
        return Path(path).resolve().is_relative_to(self.results_dir)

    def remove(self, run_id: str, result_file: str | None, remove_file: bool) -> bool:
        """Delete a run: its manifest first, then its row, then (when asked) its file.

        In that order an interruption leaves the run complete (row, manifest and file) or gone
        for good: without its manifest, ``ingest`` cannot bring a deleted run back. A result
        file outside the results directory is never deleted.

        Returns:
            Whether a row was removed.
        """
        manifest_path(self.results_dir, run_id).unlink(missing_ok=True)
        with write_connection(self.engine) as conn:
            removed = conn.execute(delete(self.table).where(self.table.c.id == run_id))
            if self.companion is not None:
                self.companion.removed(conn, [run_id])
        if remove_file and result_file:
            if self.inside(result_file):
                Path(result_file).unlink(missing_ok=True)
            else:
                logger.warning(
                    "not removing %s: it is outside the results directory %s",
                    result_file,
                    self.results_dir,
                )
        return bool(removed.rowcount)

    def remove_many(self, ids: Sequence[str], records: Any, remove_file: bool) -> tuple[int, int]:
        """Delete many runs, a chunk at a time, each in the order of :meth:`remove`.

        Returns:
            How many rows and how many result files were removed.
        """
        rows = files = 0
        for chunk in chunks(ids):
            found = records.fetch(chunk)
            for run_id in chunk:
                manifest_path(self.results_dir, run_id).unlink(missing_ok=True)
            present = [run_id for run_id in chunk if run_id in found]
            if not present:
                continue

            def drop(conn: Connection, present: list[str] = present) -> int:
                if self.companion is not None:
                    self.companion.removed(conn, present)
                return int(
                    conn.execute(delete(self.table).where(self.table.c.id.in_(present))).rowcount
                )

            rows += transact(self.engine, drop)
            if remove_file:
                for run_id in present:
                    path = Path(found[run_id].result_file)
                    if not self.inside(path):
                        logger.warning("not removing %s: it is outside %s", path, self.results_dir)
                    elif path.is_file():
                        path.unlink()
                        files += 1
        return rows, files

    def relocate(self, old: str, new: str) -> int:
        """Rewrite every ``result_file`` starting with ``old`` to start with ``new``."""
        column = self.table.c.result_file
        changed = 0
        with write_connection(self.engine) as conn:
            rows = conn.execute(
                select(self.table.c.id, column).where(column.startswith(old, autoescape=True))
            ).all()
            for run_id, path in rows:
                conn.execute(
                    update(self.table)
                    .where(self.table.c.id == run_id)
                    .values(result_file=new + path[len(old) :])
                )
                changed += 1
        return changed
