"""Indexing result files the Store did not run: ``register`` and ``ingest``."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, select

from entropic._db import CHUNK
from entropic._params import ParameterSchema, Request
from entropic._records import row_of
from entropic._writing import Writer
from entropic.manifests import (
    Manifest,
    manifest_id,
    manifest_path,
    read_manifest,
    scan_manifests,
    write_manifest,
)

__all__ = ["Indexer"]

logger = logging.getLogger(__name__)


class Indexer:
    """Records existing result files: one given by the user, or every manifest on disk.

    Args:
        engine: The Store's engine.
        table: The model's table.
        schema: The model's parameter schema.
        writer: Stores the rows.
        results_dir: The results directory (absolute).
    """

    def __init__(
        self,
        engine: Engine,
        table: Table,
        schema: ParameterSchema,
        writer: Writer,
        results_dir: Path,
    ) -> None:
        self.engine = engine
        self.table = table
        self.schema = schema
        self.writer = writer
        self.results_dir = results_dir

    def register(
        self, request: Request, path: Path, custom_data: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Write the manifest and the row of ``request`` for the existing file ``path``."""
        row = row_of(request.values, request.key, str(path), dt.datetime.now(dt.UTC), custom_data)
        write_manifest(
            self.results_dir,
            Manifest(request.key, request.values, str(path), row["created_at"], row["custom_data"]),
        )
        self.writer.persist([row])
        return row

    def recover(self, request: Request) -> dict[str, Any] | None:
        """The row of a finished run of ``request`` found on disk, or ``None``.

        A run whose result file and manifest were written but whose row was never committed
        (the process was killed between the two) is indexed instead of run again, when its
        manifest names the same id and parameters and its result file is inside the results
        directory.
        """
        path = manifest_path(self.results_dir, request.key)
        if not path.is_file():
            return None
        try:
            manifest = read_manifest(path, self.results_dir)
            values = self.schema.values_from_json(manifest.params)
            again = self.schema.request(values, complete=True)
        except (ValueError, KeyError, TypeError, OSError) as exc:
            logger.warning("not using manifest %s: %s", path, exc)
            return None
        result = Path(manifest.result_file)
        if (
            manifest.id != request.key
            or not result.resolve().is_relative_to(self.results_dir)
            or not result.is_file()
            or (again.key != request.key and again.values != request.values)
        ):
            return None
        logger.info("indexing %s from its manifest instead of running it again", request.key)
        return row_of(
            {**self.schema.run_values(request), **values},
            request.key,
            manifest.result_file,
            manifest.created_at,
            manifest.custom_data,
        )

    def ingest(self) -> int:
        """Index every manifest in the results directory that has no row; return how many."""
        added = 0
        paths = scan_manifests(self.results_dir)
        table = self.table
        while chunk := list(islice(paths, CHUNK)):
            by_id = {str(manifest_id(p)): p for p in chunk}
            with self.engine.connect() as conn:
                present = set(conn.scalars(select(table.c.id).where(table.c.id.in_(list(by_id)))))
            rows = []
            for run_id, path in by_id.items():
                if run_id in present:
                    continue
                try:
                    manifest = read_manifest(path, self.results_dir)
                    values = self.schema.values_from_json(manifest.params)
                    self.schema.request({**values, "id": manifest.id}, complete=True)
                except (ValueError, KeyError, TypeError) as exc:
                    logger.warning("skipping manifest %s: %s", path, exc)
                    continue
                if not Path(manifest.result_file).is_file():
                    logger.warning("skipping manifest %s: its result file is missing", path)
                    continue
                rows.append(
                    row_of(
                        values,
                        manifest.id,
                        manifest.result_file,
                        manifest.created_at,
                        manifest.custom_data,
                    )
                )
            self.writer.persist(rows)
            added += len(rows)
        logger.info("ingested %d manifests", added)
        return added
