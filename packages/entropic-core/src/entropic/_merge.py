"""Merging stores: copying into one store the runs another has and it lacks."""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select

from entropic._compare import same_value
from entropic._db import CHUNK, make_engine
from entropic._params import ParameterSchema
from entropic._records import Records, row_of
from entropic._writing import Writer
from entropic.errors import SchemaError
from entropic.hashing import hash_values
from entropic.manifests import Manifest, write_manifest
from entropic.scratch import private_folder

__all__ = ["MergeReport", "merge"]

logger = logging.getLogger(__name__)


@dataclass
class MergeReport:
    """What :meth:`entropic.Store.merge` did.

    Attributes:
        copied: Ids of the runs copied into this store (row, file and manifest).
        present: Ids both stores already had with the same parameters.
        conflicts: Ids both stores have with different parameters (never overwritten), each
            with a description of the difference.
        missing_files: Ids whose file the other store lacks (not copied).
    """

    copied: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    conflicts: dict[str, str] = field(default_factory=dict)
    missing_files: list[str] = field(default_factory=list)


def merge(
    schema: ParameterSchema,
    records: Records[Any],
    writer: Writer,
    other_db_url: str,
    other_results_dir: str | Path,
) -> MergeReport:
    """See :meth:`entropic.Store.merge`."""
    report = MergeReport()
    table = schema.table
    other_dir = Path(other_results_dir).expanduser().resolve()
    other = make_engine(other_db_url)
    try:
        inspector = sa_inspect(other)
        if not inspector.has_table(table.name):
            raise SchemaError(f"the other database has no table {table.name!r}")
        theirs = {c["name"] for c in inspector.get_columns(table.name)}
        lacking = sorted(set(table.columns.keys()) - theirs)
        if lacking:
            raise SchemaError(
                f"the other store's {table.name!r} lacks column(s) {', '.join(lacking)}; "
                "add them there first (add_parameter) so both stores key runs alike"
            )
        with other.connect() as conn:
            result = conn.execution_options(yield_per=CHUNK).execute(select(table))
            for partition in result.mappings().partitions(CHUNK):
                _merge_chunk(schema, records, writer, report, list(partition), other_dir)
    finally:
        other.dispose()
    logger.info(
        "merged: %d copied, %d present, %d conflicts, %d missing files",
        len(report.copied),
        len(report.present),
        len(report.conflicts),
        len(report.missing_files),
    )
    return report


def _merge_chunk(
    schema: ParameterSchema,
    records: Records[Any],
    writer: Writer,
    report: MergeReport,
    rows: list[Any],
    other_dir: Path,
) -> None:
    results_dir = writer.results_dir
    mine = records.fetch([r["id"] for r in rows])
    new_rows = []
    for row in rows:
        run_id = row["id"]
        ours = mine.get(run_id)
        if ours is not None:
            differ = [
                f"{k}={getattr(ours, k)!r} here, {row[k]!r} there"
                for k in schema.columns
                if not same_value(getattr(ours, k), row[k])
            ]
            if differ:
                report.conflicts[run_id] = "; ".join(differ)
            else:
                report.present.append(run_id)
            continue
        src = Path(row["result_file"])
        if not src.is_file():
            src = other_dir / src.name
        if not src.is_file():
            report.missing_files.append(run_id)
            continue
        dest = results_dir / src.name
        size = src.stat().st_size
        if not (dest.is_file() and dest.stat().st_size == size):
            scratch = private_folder(results_dir, "merge")
            try:
                shutil.copyfile(src, scratch / src.name)
                if (scratch / src.name).stat().st_size != size:
                    raise OSError(f"copying {src} gave a file of a different size")
                os.replace(scratch / src.name, dest)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        values = {k: row[k] for k in schema.columns}
        custom = dict(row["custom_data"] or {})
        explicit = run_id != hash_values(values)
        write_manifest(
            results_dir, Manifest(run_id, values, str(dest), row["created_at"], custom, explicit)
        )
        new_rows.append(row_of(values, run_id, str(dest), row["created_at"], custom))
        report.copied.append(run_id)
    writer.persist(new_rows)
