"""Writing runs: rows upserted with their claims released, and runs deleted or relocated."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, delete, select, update

from entropic._claims import ClaimBook
from entropic._db import upsert, write_connection
from entropic.manifests import manifest_path

__all__ = ["Writer"]

logger = logging.getLogger(__name__)


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

    def persist(
        self,
        rows: Sequence[Mapping[str, Any]],
        owner: str | None = None,
        release: Iterable[str] = (),
    ) -> None:
        """Store ``rows`` and drop ``owner``'s claims on ``release`` in one transaction."""
        with write_connection(self.engine) as conn:
            upsert(conn, self.table, rows)
            if owner is not None:
                self.claims.release(release, owner, conn)

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
