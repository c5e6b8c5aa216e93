"""Indexing result files the Store did not run: ``register`` and ``ingest``."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, select
from sqlalchemy.exc import DBAPIError

from entropic._db import CHUNK
from entropic._params import ParameterSchema, Request
from entropic._provenance import unknown_provenance
from entropic._records import row_of
from entropic._writing import Writer
from entropic.hashing import hash_values
from entropic.manifests import (
    Manifest,
    has_manifest,
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
        #: Whether a manifest's provenance counts as the current code's (``recover`` indexes
        #: only those); ``None`` trusts every one.
        self.current: Callable[[Mapping[str, Any] | None], bool] | None = None

    def register(
        self, request: Request, path: Path, custom_data: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Write the manifest and the row of ``request`` for the existing file ``path``."""
        provenance = unknown_provenance("register", "registered: entropic did not run it")
        row = row_of(
            request.values,
            request.key,
            str(path),
            dt.datetime.now(dt.UTC),
            custom_data,
            provenance,
        )
        write_manifest(
            self.results_dir,
            Manifest(
                request.key,
                request.values,
                str(path),
                row["created_at"],
                row["custom_data"],
                request.explicit,
                provenance,
                key_names=None if request.explicit else tuple(request.values),
            ),
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
        if not has_manifest(self.results_dir, request.key):  # the common case: a new run
            return None
        path = manifest_path(self.results_dir, request.key)
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
            or (
                again.key != request.key
                and again.values != request.values
                # a manifest records the defaults the run was stored with, too
                and values != self.schema.run_values(request)
            )
        ):
            return None
        if self.current is not None and not self.current(manifest.provenance):
            return None  # made by other code: run again
        logger.info("indexing %s from its manifest instead of running it again", request.key)
        return row_of(
            {**self.schema.run_values(request), **values},
            request.key,
            manifest.result_file,
            manifest.created_at,
            manifest.custom_data,
            manifest.provenance or unknown_provenance("ingest", "its manifest records none"),
        )

    def patched(self, record: Any) -> None:
        """Bring the manifest of ``record`` (when it has one) up to date with its custom_data."""
        path = manifest_path(self.results_dir, record.id)
        if not path.exists():
            return
        try:
            old = read_manifest(path, self.results_dir)
        except (ValueError, OSError):
            old = None
        write_manifest(
            self.results_dir,
            Manifest(
                record.id,
                {n: getattr(record, n) for n in self.schema.columns},
                record.result_file,
                record.created_at,
                dict(record.custom_data),
                old.explicit_id if old is not None else False,
                old.provenance if old is not None else None,
                old.key_names if old is not None else None,
            ),
        )

    def _trusted(self, path: Path) -> dict[str, Any] | None:
        """The row a manifest describes, or ``None`` (with a warning) when it cannot be trusted.

        Trusted means: readable and bounded, named after the id it holds, with parameters that
        fit the model and hash to that id (unless the id was explicit), and a result file that
        exists inside the results directory.
        """
        try:
            manifest = read_manifest(path, self.results_dir)
            if manifest_id(path) != manifest.id:
                raise ValueError(f"its name does not match the id {manifest.id!r} inside it")
            values = self.schema.values_from_json(manifest.params)
            request = self.schema.storable(
                self.schema.request({**values, "id": manifest.id}, complete=True)
            )
            if (
                not manifest.explicit_id
                and _looks_hashed(manifest.id)
                and manifest.id not in self._hashes(values, manifest.key_names)
            ):
                raise ValueError(f"its parameters do not hash to its id {manifest.id}")
        except (ValueError, KeyError, TypeError, OSError) as exc:
            logger.warning("skipping manifest %s: %s", path, exc)
            return None
        result = Path(manifest.result_file)
        if not result.resolve().is_relative_to(self.results_dir):
            logger.warning(
                "skipping manifest %s: its result file %s is outside the results directory",
                path,
                manifest.result_file,
            )
            return None
        if not result.is_file():
            logger.warning("skipping manifest %s: its result file is missing", path)
            return None
        return row_of(
            {**self.schema.run_values(request), **request.values},
            manifest.id,
            manifest.result_file,
            manifest.created_at,
            manifest.custom_data,
            manifest.provenance or unknown_provenance("ingest", "its manifest records none"),
        )

    def _hashes(self, values: dict[str, Any], names: tuple[str, ...] | None) -> set[str]:
        """The ids ``values`` may have been keyed with (a run stores defaults it was not given).

        A manifest names the parameters its id was hashed from; one written by entropic 3.0
        does not, and the likely sets are tried. A date written as ISO text is tried as the
        datetime it was too (a table whose types were guessed from manifests holds it as text).
        """
        variants = [values]
        dated = {k: _as_datetime(v) for k, v in values.items()}
        if dated != values:
            variants.append(dated)
        hashes: set[str] = set()
        defaults = self.schema.defaults
        for variant in variants:
            if names is not None:
                hashes.add(hash_values({k: variant.get(k) for k in names}))
                continue
            given = {k: v for k, v in variant.items() if not (k in defaults and defaults[k] == v)}
            hashes.add(hash_values(variant))
            hashes.add(hash_values(given))
            hashes.add(hash_values({k: v for k, v in given.items() if v is not None}))
        return hashes

    def ingest(self) -> int:
        """Index every trusted manifest in the results directory that has no row.

        A manifest that cannot be trusted (see :meth:`_trusted`), or whose row the database
        refuses, is skipped with a warning naming its file; the others are indexed.

        Returns:
            How many records were added.
        """
        added = 0
        paths = scan_manifests(self.results_dir)
        table = self.table
        while chunk := list(islice(paths, CHUNK)):
            by_id = {str(manifest_id(p)): p for p in chunk}
            with self.engine.connect() as conn:
                present = set(conn.scalars(select(table.c.id).where(table.c.id.in_(list(by_id)))))
            rows: list[dict[str, Any]] = []
            sources: dict[str, Path] = {}
            for run_id, path in by_id.items():
                if run_id in present:
                    continue
                row = self._trusted(path)
                if row is not None:
                    rows.append(row)
                    sources[row["id"]] = path
            added += self._insert(rows, sources)
        logger.info("ingested %d manifests", added)
        return added

    def _insert(self, rows: list[dict[str, Any]], sources: dict[str, Path]) -> int:
        """Store ``rows``; when the database refuses the batch, store them one at a time."""
        try:
            self.writer.persist(rows)
            return len(rows)
        except DBAPIError as exc:
            if len(rows) <= 1:
                if rows:
                    logger.warning(
                        "skipping manifest %s: the database refused its row: %s",
                        sources[rows[0]["id"]],
                        exc.orig,
                    )
                    return 0
                raise
        return sum(self._insert([row], sources) for row in rows)


def _as_datetime(value: Any) -> Any:
    """``value`` as a datetime when it is ISO text with a time, otherwise unchanged."""
    if isinstance(value, str) and len(value) >= 16 and value[10:11] == "T":
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def _looks_hashed(run_id: str) -> bool:
    """Whether ``run_id`` has the shape of a parameter hash (16 lowercase hex digits)."""
    return len(run_id) == 16 and all(c in "0123456789abcdef" for c in run_id)
