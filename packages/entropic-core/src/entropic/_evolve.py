"""Living with a store: adding a parameter to existing runs, and merging two stores."""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Column, String, Table, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.schema import CreateColumn

from entropic._compare import same_value
from entropic._db import internal_metadata, make_engine, meta_table, write_connection
from entropic.errors import ParameterError, SchemaError
from entropic.hashing import hash_params
from entropic.manifests import Manifest, manifest_path, write_manifest
from entropic.running import TEMP_DIR_NAME

if TYPE_CHECKING:
    from entropic.store import Store

__all__ = ["MergeReport", "add_parameter", "id_map_table", "merge"]

logger = logging.getLogger(__name__)

CHUNK: Final = 500

#: Old and new ids of runs re-keyed by ``add_parameter``, so links to old ids can be followed.
id_map_table: Final = Table(
    "entropic_id_map",
    internal_metadata,
    Column("table_name", String(128), primary_key=True),
    Column("old_id", String(128), primary_key=True),
    Column("new_id", String(128), nullable=False),
    Column("parameter", String(128), nullable=False),
)

MIGRATING: Final = "migrating:"
PARAM_DEFAULT: Final = "param_default:"


def _set_meta(store: Store[Any], key: str, value: str | None) -> None:
    c = meta_table.c
    where = (c.table_name == store._table.name) & (c.key == key)
    with write_connection(store.engine) as conn:
        conn.execute(meta_table.delete().where(where))
        if value is not None:
            conn.execute(
                meta_table.insert(), [{"table_name": store._table.name, "key": key, "value": value}]
            )


def _candidates(store: Store[Any], values: dict[str, Any], name: str) -> Iterator[dict[str, Any]]:
    """The parameter sets an old row may have been keyed with (without ``name``)."""
    base = {k: v for k, v in values.items() if k != name}
    yield base
    yield {k: v for k, v in base.items() if v is not None}
    defaults = store._defaults
    yield {k: v for k, v in base.items() if not (k in defaults and defaults[k] == v)}


def add_parameter(
    store: Store[Any],
    name: str,
    default: Any,
    callback: Callable[[int, int], Any] | None = None,
) -> int:
    """See :meth:`entropic.Store.add_parameter`."""
    column_obj = store._columns.get(name)
    if column_obj is None:
        raise ParameterError(
            f"{store.result_cls.__name__} has no column {name!r}: declare it in the model "
            "first, then call add_parameter to add it to the table and re-key the old runs"
        )
    table = store._table
    engine = store.engine
    _set_meta(store, MIGRATING + name, json.dumps(default, default=str))
    present = {c["name"] for c in sa_inspect(engine).get_columns(table.name)}
    if name not in present:
        added = Column(column_obj.name, column_obj.type, nullable=True)
        ddl = CreateColumn(added).compile(dialect=engine.dialect)
        quoted = engine.dialect.identifier_preparer.format_table(table)
        with write_connection(engine) as conn:
            conn.exec_driver_sql(f"ALTER TABLE {quoted} ADD COLUMN {ddl}")
        logger.info("added column %s to %s", name, table.name)
    store._check_schema()
    stored_default = store._request({name: default}, complete=False).values[name]
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
    params = list(store._columns)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        with engine.connect() as conn:
            rows = conn.execute(select(table).where(table.c.id.in_(chunk))).mappings().all()
        moves: list[tuple[str, str, str, dict[str, Any], Any]] = []
        for row in rows:
            values = {k: row[k] for k in params}
            new_id = hash_params(values)
            target = row["id"]
            if target != new_id:
                for old in _candidates(store, values, name):
                    if hash_params(old) == row["id"]:
                        target = hash_params({**old, name: values[name]})
                        break
            default_path = str(store.result_path(row["id"]))
            result_file = row["result_file"]
            if target != row["id"] and result_file == default_path:
                result_file = str(store.result_path(target))
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
            write_manifest(
                store.results_dir,
                Manifest(new_id, values, result_file, row["created_at"], dict(row["custom_data"])),
            )
            if old_id != new_id:
                manifest_path(store.results_dir, old_id).unlink(missing_ok=True)
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
            except IntegrityError as exc:
                raise SchemaError(
                    f"re-keying for {name!r} collides with runs already stored under the new "
                    f"ids: {exc.orig}"
                ) from exc
            rekeyed += len(renamed)
        done += len(rows)
        if callback is not None:
            callback(done, total)
    _set_meta(store, PARAM_DEFAULT + name, json.dumps(stored_default, default=_jsonable))
    _set_meta(store, MIGRATING + name, None)
    store._load_filled()
    store._check_schema()
    logger.info("added parameter %s: re-keyed %d of %d runs", name, rekeyed, total)
    return rekeyed


def _jsonable(value: Any) -> Any:
    return getattr(value, "value", str(value))


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


def merge(store: Store[Any], other_db_url: str, other_results_dir: str | Path) -> MergeReport:
    """See :meth:`entropic.Store.merge`."""
    report = MergeReport()
    table = store._table
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
                _merge_chunk(store, report, list(partition), other_dir)
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


def _merge_chunk(store: Store[Any], report: MergeReport, rows: list[Any], other_dir: Path) -> None:
    mine = store._fetch([r["id"] for r in rows])
    new_rows = []
    for row in rows:
        run_id = row["id"]
        ours = mine.get(run_id)
        if ours is not None:
            differ = [
                f"{k}={getattr(ours, k)!r} here, {row[k]!r} there"
                for k in store._columns
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
        dest = store.results_dir / src.name
        size = src.stat().st_size
        if not (dest.is_file() and dest.stat().st_size == size):
            scratch = store.results_dir / TEMP_DIR_NAME / f"merge-{uuid.uuid4().hex}"
            scratch.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copyfile(src, scratch / src.name)
                if (scratch / src.name).stat().st_size != size:
                    raise OSError(f"copying {src} gave a file of a different size")
                os.replace(scratch / src.name, dest)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        values = {k: row[k] for k in store._columns}
        custom = dict(row["custom_data"] or {})
        write_manifest(
            store.results_dir, Manifest(run_id, values, str(dest), row["created_at"], custom)
        )
        new_rows.append(
            {
                **values,
                "id": run_id,
                "result_file": str(dest),
                "created_at": row["created_at"],
                "custom_data": custom,
            }
        )
        report.copied.append(run_id)
    store._persist(new_rows)
