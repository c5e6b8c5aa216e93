"""Putting a Store together: its arguments checked, its table opened, its collaborators built.

The Store calls :func:`check_arguments`, then :func:`assemble`, and keeps the :class:`Parts`;
each collaborator is built here once, with what it needs and nothing of the Store.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine, Table
from sqlalchemy.orm import Session, sessionmaker

from entropic import _kinds
from entropic.__about__ import __version__
from entropic._claims import ClaimBook
from entropic._freshness import Freshness, ProvenanceRecorder
from entropic._indexing import Indexer
from entropic._internal import (
    CREATED_BY,
    FILE_SUFFIX,
    HASH_SCHEME_KEY,
    RESULTS_DIR,
    create_internal_tables,
    ensure_meta,
    record_meta,
)
from entropic._journal import Journal
from entropic._params import ParameterSchema
from entropic._provenance import ProvenanceSource
from entropic._queries import Queries
from entropic._records import Records
from entropic._single import SingleRuns
from entropic._tablestate import TableState
from entropic._tasks import Planner
from entropic._writing import Writer
from entropic.errors import SchemaError
from entropic.hashing import HASH_SCHEME
from entropic.provenance import POLICIES, REUSE
from entropic.running import Runner
from entropic.schema import Base

__all__ = ["Parts", "assemble", "check_arguments"]

T = TypeVar("T")


def check_arguments(
    runner: Any,
    result_cls: Any,
    claim_lease: float,
    on_code_change: str,
    runner_version: Any,
) -> Table:
    """Refuse what a Store cannot work with; return the model's table.

    Raises:
        TypeError: The runner is not callable, or the model is not a mapped entropic model.
        ValueError: The lease, the policy or the declared version is out of range.
    """
    if runner is not None and not callable(runner):
        raise TypeError(f"runner must be callable, not {type(runner).__name__}")
    if not (isinstance(result_cls, type) and issubclass(result_cls, Base)):
        raise TypeError("result_cls must be a mapped subclass of entropic.Base")
    if not hasattr(result_cls, "__table__"):
        raise TypeError(f"{result_cls.__name__} is not mapped: give it a __tablename__")
    if claim_lease <= 0:
        raise ValueError(f"claim_lease must be positive, not {claim_lease!r}")
    if on_code_change not in POLICIES:
        raise ValueError(
            f"on_code_change must be one of {', '.join(POLICIES)}, not {on_code_change!r}"
        )
    if runner_version is not None and not (
        isinstance(runner_version, str) and 0 < len(runner_version) <= 128
    ):
        raise ValueError(
            f"runner_version must be a string of 1 to 128 characters, not {runner_version!r}"
        )
    table = result_cls.__table__
    assert isinstance(table, Table)
    return table


def check_suffix(results_dir: Path, file_suffix: Any) -> None:
    """Refuse a suffix that is no file name ending, or too long for this file system's names.

    Raises:
        ValueError: The suffix holds a path separator, or names would be too long.
    """
    if not isinstance(file_suffix, str) or any(
        sep and sep in file_suffix for sep in ("/", os.sep, os.altsep, "\0")
    ):
        raise ValueError(f"file_suffix must be a file name ending, not {file_suffix!r}")
    try:
        limit = os.pathconf(results_dir, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    # the longest name a run can have: a 128-character explicit id, and its manifest
    longest = max(128 + len(file_suffix.encode()), len(".") + 128 + len(".entropic.json"))
    if longest > limit:
        raise ValueError(
            f"file_suffix {file_suffix[:40]!r}... is {len(file_suffix)} characters: result file "
            f"names would exceed this file system's limit of {limit} bytes"
        )


def _refers(table: Table, other: Table) -> bool:
    """Whether ``table`` has a foreign key to ``other``."""
    return any(fk.column.table is other for fk in table.foreign_keys)


def _open_table(
    engine: Engine,
    table: Table,
    model: type[Base],
    schema: ParameterSchema,
    location: dict[str, str] | None,
) -> None:
    """Create what is missing, check the hash scheme, record the store's facts."""
    # Only this model's table and the tables it refers to: entropic.Base's metadata holds
    # every model of the process, and other models' tables do not belong in this database.
    needed = [t for t in model.metadata.sorted_tables if t is table or _refers(table, t)]
    create_internal_tables(engine, needed)
    facts = ensure_meta(
        engine,
        table.name,
        {HASH_SCHEME_KEY: HASH_SCHEME, CREATED_BY: f"entropic-core {__version__}"},
    )
    if facts.get(HASH_SCHEME_KEY) != HASH_SCHEME:
        raise SchemaError(
            f"table {table.name!r} was keyed with hash scheme {facts.get(HASH_SCHEME_KEY)!r}, "
            f"but this entropic uses {HASH_SCHEME!r}; its ids would not match"
        )
    if location is not None:  # where runs go; an inspecting Store does not move the record
        record_meta(engine, table.name, location)
    # what reflecting the table cannot tell (enum members, JSON on MariaDB), for tools that
    # open this store without the model's code
    _kinds.record_kinds(engine, table.name, _kinds.declared_columns(model, schema.columns))


@dataclass
class Parts(Generic[T]):
    """A Store's collaborators."""

    schema: ParameterSchema
    state: TableState
    records: Records[T]
    claims: ClaimBook
    journal: Journal
    writer: Writer
    provenance: ProvenanceSource
    planner: Planner
    indexer: Indexer
    freshness: Freshness | None
    single: SingleRuns[T]
    queries: Queries[T]
    sessions: sessionmaker[Session]


def assemble(
    engine: Engine,
    table: Table,
    model: type[T],
    runner: Runner | None,
    results_dir: Path,
    file_suffix: str,
    *,
    claim_lease: float,
    runner_version: str | None,
    on_code_change: str,
) -> Parts[T]:
    """Open ``table`` and build every collaborator of a Store on it."""
    assert issubclass(model, Base)
    schema = ParameterSchema(model.__name__, table, engine.dialect.name)
    state = TableState(engine, table, schema)
    location = {RESULTS_DIR: str(results_dir), FILE_SUFFIX: file_suffix}
    _open_table(engine, table, model, schema, location if runner is not None else None)
    state.check()
    records: Records[T] = Records(engine, table, model)
    claims = ClaimBook(engine, table.name, claim_lease)
    writer = Writer(engine, table, claims, results_dir)
    writer.companion = ProvenanceRecorder(table.name)
    provenance = ProvenanceSource(runner, runner_version)
    planner = Planner(schema, results_dir, file_suffix, provenance.static)
    indexer = Indexer(engine, table, schema, writer, results_dir)
    freshness: Freshness | None = None
    current: Records[T] = records
    if on_code_change != REUSE:
        code: Callable[[], str | None] = lambda: provenance.code  # noqa: E731
        freshness = Freshness(engine, table.name, on_code_change, code)
        indexer.current = freshness.current
        current = freshness.view(records)
    journal = Journal(engine, table.name)
    return Parts(
        schema=schema,
        state=state,
        records=records,
        claims=claims,
        journal=journal,
        writer=writer,
        provenance=provenance,
        planner=planner,
        indexer=indexer,
        freshness=freshness,
        single=SingleRuns(runner, planner, current, claims, writer, indexer, journal),
        queries=Queries(engine, table, schema, records.make),
        sessions=sessionmaker(engine, expire_on_commit=False),
    )
