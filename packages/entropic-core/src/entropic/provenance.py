"""What made each result, and which stored results were made by code other than the current.

Every run a Store makes records its provenance (the runner's name and module, hashes of its
source and of its module's source, the declared ``runner_version``, the git commit and whether
the work tree was dirty, Python and package versions, host, user, pid, start and end) in its
manifest and in the ``entropic_provenance`` table. The *code* of a run is what decides whether it
is current: ``"version:<V>"`` when the Store declared a version, otherwise ``"source:<hash>"``.

This module is the public surface the ``entropic`` command and scripts use: the policies of
``Store(..., on_code_change=...)``, the warning, and functions that group stored runs by the code
that made them, bless the runs of one code for another, and read a run's provenance.

Runs without provenance (stored before entropic recorded it, merged from another store) have an
*unknown* code and count as current, until they are blessed or rerun.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, Table, func, insert, select, update
from sqlalchemy import inspect as sa_inspect

from entropic._db import CHUNK, chunks, write_connection
from entropic._internal import provenance_table
from entropic._provenance import describe_runner
from entropic.manifests import Manifest, manifest_path, read_manifest, write_manifest

__all__ = [
    "POLICIES",
    "RERUN",
    "REUSE",
    "UNKNOWN",
    "WARN",
    "CodeChangedWarning",
    "CodeGroup",
    "bless",
    "code_groups",
    "describe",
    "newest_code",
    "provenance_for",
    "provenance_of",
    "resolve_code",
    "runner_code",
]

logger = logging.getLogger(__name__)

#: ``on_code_change="reuse"``: a stored result is a hit whatever code made it (the default).
REUSE: Final = "reuse"
#: ``on_code_change="warn"``: it is a hit, and one warning per sweep says how many were stale.
WARN: Final = "warn"
#: ``on_code_change="rerun"``: a result made by other code is a miss; the new run replaces it.
RERUN: Final = "rerun"
#: The policies ``Store(..., on_code_change=...)`` accepts.
POLICIES: Final = (REUSE, WARN, RERUN)
#: How the CLI and :func:`bless` name the code of runs whose provenance is unknown.
UNKNOWN: Final = "unknown"


class CodeChangedWarning(UserWarning):
    """Results made by code other than the current were returned (``on_code_change="warn"``)."""


@dataclass(frozen=True, slots=True)
class CodeGroup:
    """The stored runs of one table that one code made.

    Attributes:
        code: ``"version:<V>"``, ``"source:<hash>"``, or ``None`` for unknown provenance.
        runner: The runner's ``module:qualname`` as recorded (``None`` when unknown).
        runs: How many stored runs.
        blessed: How many of them were blessed for this code rather than made by it.
        first_finished: When the earliest of them finished, when recorded.
        last_finished: When the latest of them finished, when recorded.
        current: Whether this is the current code (unknown provenance counts as current).
    """

    code: str | None
    runner: str | None
    runs: int
    blessed: int
    first_finished: dt.datetime | None
    last_finished: dt.datetime | None
    current: bool


def describe(runner: Any, version: str | None = None) -> dict[str, Any]:
    """What identifies ``runner``'s code, as a Store records it (without git or versions).

    Args:
        runner: A function, method, ``functools.partial`` or callable object.
        version: The version declared for it, as ``Store(..., runner_version=...)``.

    Returns:
        ``runner`` (``module:qualname``), ``module``, ``qualname``, ``source_file``,
        ``source_hash``, ``source_kind``, ``module_hash``, ``version`` and ``code``.
    """
    return describe_runner(runner, version)


def runner_code(runner: Any, version: str | None = None) -> str | None:
    """The code runs of ``runner`` are recorded with: its declared version, else its source hash.

    Returns:
        ``"version:<V>"``, ``"source:<hash>"``, or ``None`` when the source cannot be read.
    """
    code = describe_runner(runner, version)["code"]
    return None if code is None else str(code)


#: Engines whose database is known to have the provenance table (it is never dropped).
_HAVE_TABLE: Final[weakref.WeakSet[Engine]] = weakref.WeakSet()


def _recorded(engine: Engine) -> bool:
    """Whether the database has the provenance table (a store made before it existed has not).

    A database seen with the table is not asked again: an export asks once per chunk of rows.
    """
    if engine in _HAVE_TABLE:
        return True
    found = bool(sa_inspect(engine).has_table(provenance_table.name))
    if found:
        _HAVE_TABLE.add(engine)
    return found


def _joined(table: Table) -> Any:
    return provenance_table.join(table, table.c.id == provenance_table.c.run_id)


def code_groups(engine: Engine, table: Table, current: str | None) -> list[CodeGroup]:
    """Group the stored runs of ``table`` by the code that made them (or they were blessed for).

    Args:
        engine: The database.
        table: The entropic table (a reflected one does).
        current: The current code; ``None`` marks no group as current but the unknown one.

    Returns:
        One group per code and runner, the stale ones first, then by number of runs; runs
        without provenance make one group whose ``code`` is ``None``.
    """
    p = provenance_table.c
    query = (
        select(
            p.code,
            p.runner,
            func.count(),
            func.count(p.blessed_from),
            func.min(p.finished_at),
            func.max(p.finished_at),
        )
        .select_from(_joined(table))
        .where(p.table_name == table.name)
        .group_by(p.code, p.runner)
    )
    groups: list[CodeGroup] = []
    unknown = 0
    with engine.connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(table)).scalar_one())
        recorded = 0
        rows: Iterable[Any] = conn.execute(query) if _recorded(engine) else ()
        for code, runner, runs, blessed, first, last in rows:
            recorded += int(runs)
            if code is None:
                unknown += int(runs)
                continue
            groups.append(
                CodeGroup(code, runner, int(runs), int(blessed), first, last, code == current)
            )
    unknown += total - recorded
    if unknown:
        groups.append(CodeGroup(None, None, unknown, 0, None, None, True))
    groups.sort(key=lambda g: (g.current, -g.runs, g.code or ""))
    return groups


def newest_code(engine: Engine, table_name: str) -> str | None:
    """The code of the run that finished last (runs the Store made, not blessed ones)."""
    p = provenance_table.c
    query = (
        select(p.code)
        .where(p.table_name == table_name, p.code.is_not(None), p.blessed_from.is_(None))
        .order_by(p.finished_at.desc())
        .limit(1)
    )
    if not _recorded(engine):
        return None
    with engine.connect() as conn:
        code = conn.scalar(query)
    return None if code is None else str(code)


def resolve_code(engine: Engine, table_name: str, text: str) -> str:
    """The recorded code ``text`` names: a whole code, a version, or the start of a source hash.

    ``"unknown"`` names the runs without provenance.

    Raises:
        ValueError: No recorded code matches ``text``, or several do.
    """
    if text == UNKNOWN:
        return UNKNOWN
    p = provenance_table.c
    query = select(p.code).where(p.table_name == table_name, p.code.is_not(None)).distinct()
    known: list[str] = []
    if _recorded(engine):
        with engine.connect() as conn:
            known = sorted(str(c) for c in conn.scalars(query))
    if text in known:
        return text
    found = [c for c in known if c == f"version:{text}" or c.startswith(f"source:{text}")]
    if len(found) == 1:
        return found[0]
    listed = ", ".join(known) or "none"
    if not found:
        raise ValueError(
            f"no stored run of table {table_name!r} was made by {text!r}; codes: {listed}"
        )
    raise ValueError(
        f"{text!r} is ambiguous in table {table_name!r}: it could be {', '.join(found)}"
    )


def _unknown_ids(conn: Any, table: Table) -> tuple[list[str], list[str]]:
    """Ids of ``table``'s runs with an unknown code, and those with no provenance row at all."""
    p = provenance_table.c
    null_code = select(p.run_id).select_from(_joined(table))
    null_code = null_code.where(p.table_name == table.name, p.code.is_(None))
    recorded = select(p.run_id).where(p.table_name == table.name)
    missing = select(table.c.id).where(table.c.id.not_in(recorded))
    return [str(i) for i in conn.scalars(null_code)], [str(i) for i in conn.scalars(missing)]


def bless(
    engine: Engine,
    table: Table,
    from_code: str,
    to_code: str,
    *,
    results_dir: str | Path | None = None,
) -> int:
    """Mark the runs made by ``from_code`` as valid for ``to_code``, without running them.

    Each blessed run keeps what made it and records the blessing: its code becomes ``to_code``,
    ``blessed_from`` says which code made it and ``blessed_at`` when it was blessed. With
    ``results_dir``, the manifests record the blessing too, so it survives a lost database.

    Args:
        engine: The database.
        table: The entropic table.
        from_code: A recorded code (see :func:`resolve_code`), or ``"unknown"`` for runs
            without provenance.
        to_code: The code they become valid for (the current one).
        results_dir: The results directory whose manifests to update.

    Returns:
        How many runs were blessed.

    Raises:
        ValueError: ``from_code`` and ``to_code`` are the same.
    """
    if from_code == to_code:
        raise ValueError(f"the runs of {from_code} are already current")
    now = dt.datetime.now(dt.UTC)
    p = provenance_table.c
    blessing = {"code": to_code, "blessed_from": from_code, "blessed_at": now}
    name = table.name
    provenance_table.create(engine, checkfirst=True)
    with write_connection(engine) as conn:
        if from_code == UNKNOWN:
            nulls, missing = _unknown_ids(conn, table)
            for chunk in chunks(nulls):
                conn.execute(
                    update(provenance_table)
                    .where(p.table_name == name, p.run_id.in_(list(chunk)))
                    .values(blessing)
                )
            note = json.dumps({"known": False, "note": "no provenance was recorded"})
            for chunk in chunks(missing):
                conn.execute(
                    insert(provenance_table),
                    [
                        {"table_name": name, "run_id": i, "origin": UNKNOWN, "detail": note}
                        | blessing
                        for i in chunk
                    ],
                )
            ids = nulls + missing
        else:
            ids = [
                str(i)
                for i in conn.scalars(
                    select(p.run_id).where(p.table_name == name, p.code == from_code)
                )
            ]
            conn.execute(
                update(provenance_table)
                .where(p.table_name == name, p.code == from_code)
                .values(blessing)
            )
    if results_dir is not None:
        _bless_manifests(Path(results_dir), ids, blessing)
    logger.info("blessed %d runs of %s for %s", len(ids), from_code, to_code)
    return len(ids)


def _bless_manifests(results_dir: Path, ids: Iterable[str], blessing: Mapping[str, Any]) -> None:
    stamp = {**blessing, "blessed_at": blessing["blessed_at"].isoformat()}
    for run_id in ids:
        path = manifest_path(results_dir, run_id)
        try:
            old = read_manifest(path, results_dir)
        except FileNotFoundError:
            continue
        except (ValueError, OSError) as exc:
            logger.warning("not recording the blessing in manifest %s: %s", path, exc)
            continue
        known = old.provenance or {"origin": UNKNOWN, "known": False}
        write_manifest(
            results_dir,
            Manifest(
                old.id,
                old.params,
                old.result_file,
                old.created_at,
                old.custom_data,
                old.explicit_id,
                {**known, **stamp},
                old.key_names,
            ),
        )


def _provenance(row: Any) -> dict[str, Any]:
    try:
        detail = json.loads(row.detail) if row.detail else {}
    except ValueError:
        detail = {}
    if not isinstance(detail, dict):
        detail = {}
    detail.update(origin=row.origin, code=row.code)
    if row.blessed_from is not None:
        detail.update(blessed_from=row.blessed_from, blessed_at=row.blessed_at)
    return detail


def provenance_for(
    engine: Engine, table_name: str, ids: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """The recorded provenance of each of ``ids`` that has one, by id (a query per chunk)."""
    p = provenance_table.c
    wanted = list(dict.fromkeys(ids))
    found: dict[str, dict[str, Any]] = {}
    if not wanted or not _recorded(engine):
        return found
    with engine.connect() as conn:
        for chunk in chunks(wanted, CHUNK):
            query = select(provenance_table).where(
                p.table_name == table_name, p.run_id.in_(list(chunk))
            )
            for row in conn.execute(query):
                found[str(row.run_id)] = _provenance(row)
    return found


def provenance_of(engine: Engine, table_name: str, run_id: str) -> dict[str, Any] | None:
    """The recorded provenance of one run, or ``None`` when it has none (unknown).

    The result holds what the run recorded (see the module's description) with ``origin``
    (``run``, ``register``, ``ingest``, ``unknown``), ``code``, and for a blessed run
    ``blessed_from`` and ``blessed_at``.
    """
    return provenance_for(engine, table_name, [run_id]).get(run_id)
