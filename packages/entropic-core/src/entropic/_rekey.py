"""Re-keying a store: adding a parameter to a table that already holds runs.

The runs were keyed without the new parameter; :func:`add_parameter` adds the column, gives the
old rows the default, and renames ids, result files and manifests as if the default had always
been given. Every step can be repeated, so an interrupted call completes when called again.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Engine, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.schema import CreateColumn

from entropic._db import chunks, write_connection
from entropic._internal import (
    MIGRATING,
    PARAM_DEFAULT,
    id_map_table,
    provenance_table,
    set_meta,
)
from entropic._json import to_json
from entropic._tablestate import TableState
from entropic._tasks import Planner
from entropic.errors import ParameterError, SchemaError
from entropic.hashing import hash_params
from entropic.manifests import Manifest, manifest_path, read_manifest, write_manifest

__all__ = ["add_parameter"]

logger = logging.getLogger(__name__)


def _candidates(
    defaults: Mapping[str, Any], values: dict[str, Any], name: str
) -> Iterator[dict[str, Any]]:
    """The parameter sets an old row may have been keyed with (without ``name``)."""
    base = {k: v for k, v in values.items() if k != name}
    yield base
    yield {k: v for k, v in base.items() if v is not None}
    yield {k: v for k, v in base.items() if not (k in defaults and defaults[k] == v)}


def add_parameter(
    engine: Engine,
    state: TableState,
    planner: Planner,
    name: str,
    default: Any,
    callback: Callable[[int, int], Any] | None = None,
) -> int:
    """See :meth:`entropic.Store.add_parameter`."""
    schema = state.schema
    table = state.table
    column_obj = schema.columns.get(name)
    if column_obj is None:
        raise ParameterError(
            f"{schema.model_name} has no column {name!r}: declare it in the model "
            "first, then call add_parameter to add it to the table and re-key the old runs"
        )
    results_dir = planner.results_dir
    set_meta(engine, table.name, MIGRATING + name, json.dumps(default, default=str))
    present = {c["name"] for c in sa_inspect(engine).get_columns(table.name)}
    if name not in present:
        added = Column(column_obj.name, column_obj.type, nullable=True)
        ddl = CreateColumn(added).compile(dialect=engine.dialect)
        quoted = engine.dialect.identifier_preparer.format_table(table)
        with write_connection(engine) as conn:
            conn.exec_driver_sql(f"ALTER TABLE {quoted} ADD COLUMN {ddl}")
        logger.info("added column %s to %s", name, table.name)
    state.check()
    stored_default = schema.request({name: default}, complete=False).values[name]
    if stored_default is not None:
        with write_connection(engine) as conn:
            conn.execute(
                update(table).where(table.c[name].is_(None)).values({name: stored_default})
            )
    with engine.connect() as conn:
        ids = list(conn.scalars(select(table.c.id).order_by(table.c.id)))
    total = len(ids)
    rekeyed = 0
    done = 0
    params = list(schema.columns)
    for chunk in chunks(ids):
        with engine.connect() as conn:
            rows = conn.execute(select(table).where(table.c.id.in_(list(chunk)))).mappings().all()
        moves: list[tuple[str, str, str, dict[str, Any], Any]] = []
        for row in rows:
            values = {k: row[k] for k in params}
            new_id = hash_params(values)
            target = row["id"]
            if target != new_id:
                for old in _candidates(schema.defaults, values, name):
                    if hash_params(old) == row["id"]:
                        target = hash_params({**old, name: values[name]})
                        break
            default_path = str(planner.result_path(row["id"]))
            result_file = row["result_file"]
            if target != row["id"] and result_file == default_path:
                result_file = str(planner.result_path(target))
            moves.append((row["id"], target, result_file, values, row))
        renamed = [(o, n) for o, n, _, _, _ in moves if o != n]
        if renamed:
            with write_connection(engine) as conn:
                existing = set(
                    conn.scalars(
                        select(id_map_table.c.old_id).where(
                            id_map_table.c.table_name == table.name,
                            id_map_table.c.old_id.in_([o for o, _ in renamed]),
                        )
                    )
                )
                fresh = [
                    {"table_name": table.name, "old_id": o, "new_id": n, "parameter": name}
                    for o, n in renamed
                    if o not in existing
                ]
                if fresh:
                    conn.execute(id_map_table.insert(), fresh)
        for old_id, new_id, result_file, values, row in moves:
            old_path = Path(row["result_file"])
            if old_id != new_id and str(old_path) != result_file and old_path.exists():
                os.replace(old_path, result_file)
            made_by = None  # what made the run goes with it (a resumed re-key finds it renamed)
            for known in (old_id, new_id):
                try:
                    found = read_manifest(manifest_path(results_dir, known), results_dir)
                    made_by = found.provenance
                    break
                except (ValueError, OSError):
                    continue
            write_manifest(
                results_dir,
                Manifest(
                    new_id,
                    values,
                    result_file,
                    row["created_at"],
                    dict(row["custom_data"]),
                    new_id != hash_params(values),
                    made_by,
                ),
            )
            if old_id != new_id:
                manifest_path(results_dir, old_id).unlink(missing_ok=True)
        if renamed:
            try:
                with write_connection(engine) as conn:
                    for old_id, new_id, result_file, _, _ in moves:
                        if old_id != new_id:
                            conn.execute(
                                update(table)
                                .where(table.c.id == old_id)
                                .values(id=new_id, result_file=result_file)
                            )
                            conn.execute(
                                update(provenance_table)
                                .where(
                                    provenance_table.c.table_name == table.name,
                                    provenance_table.c.run_id == old_id,
                                )
                                .values(run_id=new_id)
                            )
            except IntegrityError as exc:
                raise SchemaError(
                    f"re-keying for {name!r} collides with runs already stored under the new "
                    f"ids: {exc.orig}"
                ) from exc
            rekeyed += len(renamed)
        done += len(rows)
        if callback is not None:
            callback(done, total)
    set_meta(engine, table.name, PARAM_DEFAULT + name, json.dumps(to_json(stored_default)))
    set_meta(engine, table.name, MIGRATING + name, None)
    state.check()
    logger.info("added parameter %s: re-keyed %d of %d runs", name, rekeyed, total)
    return rekeyed
