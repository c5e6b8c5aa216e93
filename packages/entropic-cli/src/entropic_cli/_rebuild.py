"""Rebuilding a lost table from manifests alone, for ``entropic ingest --table NAME``.

Without the model's code the column types are guessed from the parameter values the manifests
hold (int, float, bool, JSON, else text: a datetime
parameter comes back as its ISO 8601 text). Every parameter column is nullable, so a
parameter some manifests lack is stored as NULL for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column, Engine, MetaData, String, Table

from entropic.manifests import read_manifest, scan_manifests
from entropic.reflection import record_parameter_kinds, type_for_value
from entropic.schema import ID_LENGTH, RESERVED_COLUMNS, CustomData, UTCDateTime
from entropic_cli._errors import Failure

__all__ = ["create_table_from_manifests", "guess_columns"]


def guess_columns(results_dir: Path) -> dict[str, Any]:
    """A column type for every parameter named in the manifests of ``results_dir``.

    A parameter's type comes from its first non-null value; a parameter that is null in every
    manifest is text.

    Raises:
        Failure: There is no readable manifest.
    """
    types: dict[str, Any] = {}
    undecided: set[str] = set()
    seen = 0
    for path in scan_manifests(results_dir):
        try:
            manifest = read_manifest(path, results_dir)
        except (ValueError, KeyError, TypeError, OSError):
            continue
        seen += 1
        for name, value in manifest.params.items():
            if name in types or name in RESERVED_COLUMNS:
                continue
            if value is None:
                undecided.add(name)
                continue
            types[name] = type_for_value(value)
    if not seen:
        raise Failure(f"no manifest in {results_dir} to rebuild a table from")
    for name in sorted(undecided - set(types)):
        types[name] = type_for_value("")
    return dict(sorted(types.items()))


def create_table_from_manifests(engine: Engine, results_dir: Path, name: str) -> Table:
    """Create table ``name`` with the reserved columns and the parameters the manifests name.

    The parameters' kinds are recorded as a Store records them, for :func:`entropic.reflect_model`.

    Returns:
        The new table.
    """
    columns = [Column(n, t, nullable=True) for n, t in guess_columns(results_dir).items()]
    table = Table(
        name,
        MetaData(),
        Column("id", String(ID_LENGTH), primary_key=True),
        Column("result_file", String(1024), nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("custom_data", CustomData.as_mutable(JSON()), nullable=False),
        *columns,
    )
    table.create(engine)
    # so that reflecting the table gives JSON parameters a JSON type on MariaDB too
    record_parameter_kinds(engine, table)
    return table
