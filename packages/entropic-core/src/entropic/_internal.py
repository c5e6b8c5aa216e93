"""entropic's own tables: one owner for every ``entropic_`` table and every meta key.

Nothing of entropic's bookkeeping goes into a user's table. Each fact lives in a table defined
here, keyed by the user's table name, so several entropic tables can share one database:

- ``entropic_meta``: key/value facts about a table (hash scheme, creating version, results
  directory, file suffix, migrations in progress, defaults of parameters added later);
- ``entropic_params``: each parameter column's kind as the model declares it;
- ``entropic_claims``: runs in progress, with their owner and lease;
- ``entropic_id_map``: old and new ids of runs re-keyed by ``add_parameter``;
- ``entropic_sweeps``: each sweep with runs to do: its total, progress, owner and heartbeat;
- ``entropic_failures``: each run whose last attempt failed (exception, traceback tail, host);
- ``entropic_attempts``: the history of failed attempts, and of successes that cleared one;
- ``entropic_running``: the parameters of runs a sweep has claimed, until they are settled;
- ``entropic_provenance``: what made each run (runner, code, environment), and which runs were
  blessed for newer code (``entropic._provenance`` gathers it, ``entropic.provenance`` reads it).

``entropic._journal`` writes the last four; ``entropic.status``, ``entropic.failures`` and
``entropic.coverage`` read them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Final

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from entropic._db import create_tables, upsert, write_connection
from entropic.schema import UTCDateTime

__all__ = [
    "CREATED_BY",
    "FILE_SUFFIX",
    "HASH_SCHEME_KEY",
    "MIGRATING",
    "PARAM_DEFAULT",
    "RESULTS_DIR",
    "attempts_table",
    "claims_table",
    "create_internal_tables",
    "ensure_meta",
    "failures_table",
    "id_map_table",
    "internal_metadata",
    "meta_table",
    "params_table",
    "provenance_table",
    "read_meta",
    "record_meta",
    "running_table",
    "set_meta",
    "sweeps_table",
]

logger = logging.getLogger(__name__)

#: Prefix of every internal table's name.
PREFIX: Final = "entropic_"

internal_metadata = MetaData()

#: Key/value facts about each entropic table.
meta_table: Final = Table(
    "entropic_meta",
    internal_metadata,
    Column("table_name", String(128), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("value", String(255), nullable=False),
)

#: The kind of each parameter column of each entropic table, as its model declares it (see
#: ``entropic._kinds``): what a reflected table cannot tell, such as an enum's members.
params_table: Final = Table(
    "entropic_params",
    internal_metadata,
    Column("table_name", String(128), primary_key=True),
    Column("param", String(128), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("detail", Text(), nullable=True),
)

#: Runs in progress: who runs them and until when the claim holds without renewal.
claims_table: Final = Table(
    "entropic_claims",
    internal_metadata,
    Column("table_name", String(128), primary_key=True),
    Column("run_id", String(128), primary_key=True),
    Column("owner", String(160), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

#: Old and new ids of runs re-keyed by ``add_parameter``, so links to old ids can be followed.
id_map_table: Final = Table(
    "entropic_id_map",
    internal_metadata,
    Column("table_name", String(128), primary_key=True),
    Column("old_id", String(128), primary_key=True),
    Column("new_id", String(128), nullable=False),
    Column("parameter", String(128), nullable=False),
)

#: Each sweep that had runs to do: what it set out to do, who runs it and how far it got.
#: ``state`` is what the sweep last wrote (``running`` until it ends); a sweep that died
#: still says ``running``, and readers tell it by its heartbeat and its owner's process.
sweeps_table: Final = Table(
    "entropic_sweeps",
    internal_metadata,
    Column("id", String(32), primary_key=True),
    Column("table_name", String(128), nullable=False),
    Column("total", Integer(), nullable=False),
    Column("hits", Integer(), nullable=False),
    Column("done", Integer(), nullable=False),
    Column("failed", Integer(), nullable=False),
    Column("skipped", Integer(), nullable=False),
    Column("owner", String(160), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer(), nullable=False),
    Column("executor", String(128), nullable=False),
    Column("lease", Float(), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("heartbeat_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("state", String(16), nullable=False),
    Index("ix_entropic_sweeps_table_started", "table_name", "started_at"),
)

#: The current failures: each run whose last attempt failed, until a success clears it.
failures_table: Final = Table(
    "entropic_failures",
    internal_metadata,
    Column("table_name", String(128), primary_key=True),
    Column("run_id", String(128), primary_key=True),
    Column("params", Text(), nullable=False),
    Column("key_names", Text(), nullable=True),
    Column("explicit_id", Boolean(), nullable=False),
    Column("attempt", Integer(), nullable=False),
    Column("exc_type", String(255), nullable=False),
    Column("message", Text(), nullable=False),
    Column("traceback", Text(), nullable=True),
    Column("host", String(255), nullable=True),
    Column("pid", Integer(), nullable=True),
    Column("sweep_id", String(32), nullable=True),
    Column("started_at", UTCDateTime(), nullable=True),
    Column("ended_at", UTCDateTime(), nullable=False),
    Column("elapsed", Float(), nullable=True),
    Index("ix_entropic_failures_table_type", "table_name", "exc_type"),
)

#: Every failed attempt, and each success that cleared a failure (``outcome`` says which).
attempts_table: Final = Table(
    "entropic_attempts",
    internal_metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("table_name", String(128), nullable=False),
    Column("run_id", String(128), nullable=False),
    Column("attempt", Integer(), nullable=False),
    Column("outcome", String(8), nullable=False),
    Column("exc_type", String(255), nullable=True),
    Column("message", Text(), nullable=True),
    Column("traceback", Text(), nullable=True),
    Column("host", String(255), nullable=True),
    Column("pid", Integer(), nullable=True),
    Column("sweep_id", String(32), nullable=True),
    Column("started_at", UTCDateTime(), nullable=True),
    Column("ended_at", UTCDateTime(), nullable=False),
    Column("elapsed", Float(), nullable=True),
    Index("ix_entropic_attempts_table_run", "table_name", "run_id"),
)

#: The parameters of the runs sweeps have claimed (claims hold ids only), so that coverage can
#: place runs in progress; a row counts only while a live claim covers it.
running_table: Final = Table(
    "entropic_running",
    internal_metadata,
    Column("table_name", String(128), primary_key=True),
    Column("run_id", String(128), primary_key=True),
    Column("sweep_id", String(32), nullable=False),
    Column("params", Text(), nullable=False),
    Column("claimed_at", UTCDateTime(), nullable=False),
)

#: What made each run: the code that counts (``version:<V>`` or ``source:<hash>``, ``NULL`` when
#: unknown), how the run came to be stored, and the whole provenance as JSON in ``detail``. A
#: blessed run's ``code`` is the code it was blessed for, and ``blessed_from`` the one that made it.
provenance_table: Final = Table(
    "entropic_provenance",
    internal_metadata,
    Column("table_name", String(128), primary_key=True),
    Column("run_id", String(128), primary_key=True),
    Column("origin", String(16), nullable=False),
    Column("code", String(160), nullable=True),
    Column("runner", String(255), nullable=True),
    Column("version", String(128), nullable=True),
    Column("source_hash", String(64), nullable=True),
    Column("host", String(255), nullable=True),
    Column("pid", Integer(), nullable=True),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("blessed_from", String(160), nullable=True),
    Column("blessed_at", UTCDateTime(), nullable=True),
    Column("detail", Text(), nullable=True),
)

# ---------------------------------------------------------------------- meta keys

#: The hashing scheme a table's ids were made with.
HASH_SCHEME_KEY: Final = "hash_scheme"
#: The distribution and version that created a table.
CREATED_BY: Final = "created_by"
#: The results directory the last Store that opened a table used (absolute).
RESULTS_DIR: Final = "results_dir"
#: The file suffix of a table's result files.
FILE_SUFFIX: Final = "file_suffix"
#: Prefix of the key marking an ``add_parameter`` that has not finished (value: the default).
MIGRATING: Final = "migrating:"
#: Prefix of the key recording the default that old runs of an added parameter were keyed with.
PARAM_DEFAULT: Final = "param_default:"


def create_internal_tables(engine: Engine, user_tables: Sequence[Table] = ()) -> None:
    """Create every internal table and ``user_tables`` where they are missing."""
    create_tables(engine, [*internal_metadata.sorted_tables, *user_tables])


def read_meta(conn: Connection, table_name: str) -> dict[str, str]:
    """The facts recorded about ``table_name``."""
    rows = conn.execute(
        select(meta_table.c.key, meta_table.c.value).where(meta_table.c.table_name == table_name)
    )
    return {str(key): str(value) for key, value in rows}


def ensure_meta(engine: Engine, table_name: str, facts: Mapping[str, str]) -> dict[str, str]:
    """Record ``facts`` that are not recorded yet and return what is recorded."""
    with engine.connect() as conn:
        known = read_meta(conn, table_name)
    missing = {k: v for k, v in facts.items() if k not in known}
    if missing:
        try:
            with write_connection(engine) as conn:
                conn.execute(
                    insert(meta_table),
                    [{"table_name": table_name, "key": k, "value": v} for k, v in missing.items()],
                )
        except IntegrityError:
            pass  # another process recorded them first
        with engine.connect() as conn:
            known = read_meta(conn, table_name)
    return known


def record_meta(engine: Engine, table_name: str, facts: Mapping[str, str]) -> None:
    """Record ``facts`` about ``table_name``, replacing what was recorded under the same keys."""
    with engine.connect() as conn:
        known = read_meta(conn, table_name)
    changed = [
        {"table_name": table_name, "key": k, "value": v}
        for k, v in facts.items()
        if known.get(k) != v
    ]
    if changed:
        with write_connection(engine) as conn:
            upsert(conn, meta_table, changed)


def set_meta(engine: Engine, table_name: str, key: str, value: str | None) -> None:
    """Record one fact about ``table_name``, or forget it when ``value`` is ``None``."""
    c = meta_table.c
    with write_connection(engine) as conn:
        conn.execute(meta_table.delete().where((c.table_name == table_name) & (c.key == key)))
        if value is not None:
            conn.execute(
                meta_table.insert(), [{"table_name": table_name, "key": key, "value": value}]
            )
