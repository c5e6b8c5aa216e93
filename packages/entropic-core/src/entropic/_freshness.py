"""Provenance in the database: written with each run's row, and read to tell stale results.

- :class:`ProvenanceRecorder` is the Writer's companion: the provenance a row carries (under
  :data:`entropic._records.PROVENANCE`) goes into ``entropic_provenance`` in the same transaction
  as the row, and never into the user's table.
- :class:`Freshness` answers which stored runs were made by code other than the current one,
  with one indexed ``IN`` query per chunk of ids, and applies the ``on_code_change`` policy.
- :class:`CurrentRecords` is the records a sweep or a single run sees under ``"warn"`` (every
  record, with the stale ones counted) or ``"rerun"`` (stale records are not there: a miss).

A run without a provenance row (stored before provenance existed) or with an unknown code counts
as current.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Generic, TypeVar

from sqlalchemy import Connection, Engine, bindparam, delete, select

from entropic._db import chunks, upsert
from entropic._internal import provenance_table
from entropic._json import compiled_encoder, to_json
from entropic._records import PROVENANCE, Records
from entropic.provenance import RERUN, WARN, CodeChangedWarning

__all__ = ["CurrentRecords", "Freshness", "ProvenanceRecorder", "provenance_row"]

T = TypeVar("T")

#: Longest value of each text column of ``entropic_provenance``; longer values are cut.
_LENGTHS: Final = {
    "origin": 16,
    "code": 160,
    "runner": 255,
    "version": 128,
    "source_hash": 64,
    "host": 255,
    "blessed_from": 160,
}


def _when(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return None


def _text(name: str, value: Any) -> str | None:
    return None if value is None else str(value)[: _LENGTHS[name]]


def provenance_row(table_name: str, run_id: str, provenance: Mapping[str, Any]) -> dict[str, Any]:
    """The ``entropic_provenance`` row of one run's provenance."""
    pid = provenance.get("pid")
    return {
        "table_name": table_name,
        "run_id": run_id,
        "origin": _text("origin", provenance.get("origin") or "run"),
        "code": _text("code", provenance.get("code")),
        "runner": _text("runner", provenance.get("runner")),
        "version": _text("version", provenance.get("version")),
        "source_hash": _text("source_hash", provenance.get("source_hash")),
        "host": _text("host", provenance.get("host")),
        "pid": pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
        "finished_at": _when(provenance.get("finished_at")),
        "blessed_from": _text("blessed_from", provenance.get("blessed_from")),
        "blessed_at": _when(provenance.get("blessed_at")),
        "detail": json.dumps(to_json(dict(provenance)), sort_keys=True),
    }


#: What :func:`entropic.running.perform` adds to a Store's shared provenance for each run.
_PER_RUN: Final = ("host", "pid", "started_at", "finished_at")
#: The columns of a provenance row that come from the shared part.
_SHARED_COLUMNS: Final = (
    "origin",
    "code",
    "runner",
    "version",
    "source_hash",
    "blessed_from",
    "blessed_at",
)


#: ``json.dumps(..., sort_keys=True)``, compiled once.
_encode: Final = compiled_encoder(json.JSONEncoder(sort_keys=True))


class _RowMaker:
    """Builds provenance rows, converting the part that all runs of a Store share only once.

    A sweep's runs differ only in host, pid, start and end; the rest (runner, code, git,
    versions), about a kilobyte of JSON, is converted again only when it changes. The row is
    the one :func:`provenance_row` would build, with the same JSON object in ``detail`` (its
    keys in another order).
    """

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name
        self._shared: dict[str, Any] | None = None
        self._columns: dict[str, Any] = {}
        self._text = ""

    def __call__(self, run_id: str, provenance: Mapping[str, Any]) -> dict[str, Any]:
        shared = {k: v for k, v in provenance.items() if k not in _PER_RUN}
        if shared != self._shared:
            row = provenance_row(self.table_name, run_id, shared)
            self._columns = {name: row[name] for name in _SHARED_COLUMNS}
            self._text = row["detail"][1:-1]
            self._shared = shared
        own = {k: provenance[k] for k in _PER_RUN if k in provenance}
        pid = own.get("pid")
        text = _encode(to_json(own))[1:-1]
        return {
            "table_name": self.table_name,
            "run_id": run_id,
            **self._columns,
            "host": _text("host", own.get("host")),
            "pid": pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
            "finished_at": _when(own.get("finished_at")),
            "detail": "{" + ", ".join(part for part in (text, self._text) if part) + "}",
        }


class ProvenanceRecorder:
    """Writes the provenance rows of one table's runs with the runs' own rows.

    Args:
        table_name: The user's table.
    """

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name
        self._row = _RowMaker(table_name)
        c = provenance_table.c
        self._forget = delete(provenance_table).where(
            c.table_name == table_name, c.run_id.in_(bindparam("ids", expanding=True))
        )

    def written(
        self, conn: Connection, rows: Sequence[Mapping[str, Any]]
    ) -> Sequence[Mapping[str, Any]]:
        """Store the provenance ``rows`` carry; return the rows without it.

        A row that carries none (a merged run, say) has its old provenance row removed: its
        provenance is unknown.
        """
        if not any(PROVENANCE in row for row in rows):
            if rows:
                self.removed(conn, [str(row["id"]) for row in rows])
            return rows
        known: list[dict[str, Any]] = []
        bare: list[str] = []
        clean: list[Mapping[str, Any]] = []
        for row in rows:
            provenance = row.get(PROVENANCE)
            if provenance is None:
                bare.append(str(row["id"]))
                clean.append(row)
                continue
            clean.append({k: v for k, v in row.items() if k != PROVENANCE})
            known.append(self._row(str(row["id"]), provenance))
        upsert(conn, provenance_table, known)
        if bare:
            self.removed(conn, bare)
        return clean

    def removed(self, conn: Connection, ids: Sequence[str]) -> None:
        """Forget the provenance of the runs ``ids``."""
        for chunk in chunks(ids):
            conn.execute(self._forget, {"ids": list(chunk)})


class Freshness:
    """Tells which stored runs of one table were made by other code, and what to do about it.

    Args:
        engine: The Store's engine.
        table_name: The user's table.
        policy: ``"warn"`` or ``"rerun"`` (``"reuse"`` needs no Freshness).
        code: Gives the current code (``None`` when it is unknown: nothing is then stale).
    """

    def __init__(
        self, engine: Engine, table_name: str, policy: str, code: Callable[[], str | None]
    ) -> None:
        self.engine = engine
        self.table_name = table_name
        self.policy = policy
        self.code = code
        c = provenance_table.c
        self._stale = select(c.run_id).where(
            c.table_name == table_name,
            c.run_id.in_(bindparam("ids", expanding=True)),
            c.code.is_not(None),
            c.code != bindparam("current"),
        )
        # On a SQLite file, as for the hit itself (entropic._reading), each thread asks through
        # its own connection and the driver: a hit's check costs the lookup, not the plumbing.
        self._sqlite = engine.dialect.name == "sqlite" and engine.url.database not in (
            None,
            "",
            ":memory:",
        )
        self._local = threading.local()
        self._lock = threading.Lock()
        self._raw: list[Any] = []
        self._sql = (
            "SELECT run_id FROM entropic_provenance WHERE table_name = ? AND code IS NOT NULL "
            "AND code != ? AND run_id IN "
        )

    @property
    def reruns(self) -> bool:
        """Whether a result made by other code counts as a miss."""
        return self.policy == RERUN

    def stale(self, ids: Sequence[str]) -> set[str]:
        """Those of ``ids`` whose stored run was made by other code (one query per chunk)."""
        current = self.code()
        if current is None or not ids:
            return set()
        found: set[str] = set()
        if self._sqlite:
            cursor = self._cursor()
            try:
                for chunk in chunks(ids):
                    marks = ",".join("?" * len(chunk))
                    rows = cursor.execute(
                        f"{self._sql}({marks})", (self.table_name, current, *chunk)
                    ).fetchall()
                    found.update(row[0] for row in rows)
            finally:
                cursor.close()
            return found
        with self.engine.connect() as conn:
            for chunk in chunks(ids):
                found.update(conn.scalars(self._stale, {"ids": list(chunk), "current": current}))
        return found

    def _cursor(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():  # new thread, or a forked child
            self._local.pid = os.getpid()
            proxied = self.engine.raw_connection()
            proxied.detach()  # this thread's own; not returned to the pool
            conn = proxied.dbapi_connection
            assert conn is not None
            self._local.conn = conn
            with self._lock:
                self._raw.append(conn)
        return conn.cursor()

    def close(self) -> None:
        """Close the SQLite connections the threads opened."""
        with self._lock:
            raw, self._raw = self._raw, []
        for conn in raw:
            with contextlib.suppress(Exception):  # a finished thread's connection may be gone
                conn.close()
        self._local = threading.local()

    def current(self, provenance: Mapping[str, Any] | None) -> bool:
        """Whether a manifest's provenance counts as the current code's (unknown does)."""
        if provenance is None or not self.reruns:
            return True
        made_by, now = provenance.get("code"), self.code()
        return made_by is None or now is None or made_by == now

    def keep(self, run_id: str, stacklevel: int = 3) -> bool:
        """Whether the stored run ``run_id`` is returned as a hit (with a warning if stale)."""
        if not self.stale([run_id]):
            return True
        if self.reruns:
            return False
        self.warn(1, 1, stacklevel + 1)
        return True

    def warn(self, stale: int, total: int, stacklevel: int = 3) -> None:
        """Warn once that ``stale`` of ``total`` results returned were made by other code."""
        what = "result was" if stale == 1 else "results were"
        warnings.warn(
            CodeChangedWarning(
                f"{stale} of {total} {what} made by other code than the current "
                f"({self.code()}) and returned as stored (table {self.table_name!r}, "
                "on_code_change='warn'); see them with 'entropic stale', rerun them with "
                "on_code_change='rerun', or accept them with 'entropic bless'"
            ),
            stacklevel=stacklevel,
        )

    def view(self, records: Records[T]) -> CurrentRecords[T]:
        """``records`` as this policy has them seen (see :class:`CurrentRecords`)."""
        return CurrentRecords(records, self)


class CurrentRecords(Records[T], Generic[T]):
    """Stored records as the policy sees them: stale ones counted, and hidden under ``"rerun"``.

    Args:
        records: The Store's records (their reader and factory are shared).
        freshness: The check and the policy.
    """

    def __init__(self, records: Records[T], freshness: Freshness) -> None:
        # shares the reader and the factory: no second connection, no second mapper set-up
        self.reader = records.reader
        self.make = records.make
        self.freshness = freshness
        #: How many stale records fetches found (and, under "rerun", hid).
        self.flagged = 0

    def _filter(self, found: dict[str, T]) -> dict[str, T]:
        if not found:
            return found
        stale = self.freshness.stale(list(found))
        if stale:
            self.flagged += len(stale)
            if self.freshness.reruns:
                return {k: v for k, v in found.items() if k not in stale}
        return found

    def fetch(self, ids: Sequence[str]) -> dict[str, T]:
        """The stored records among ``ids`` (made by the current code, under ``"rerun"``)."""
        return self._filter(super().fetch(ids))

    def fetch_one(self, run_id: str) -> T | None:
        """The stored record ``run_id`` (made by the current code, under ``"rerun"``), or None."""
        record = super().fetch_one(run_id)
        if record is None:
            return None
        return self._filter({run_id: record}).get(run_id)

    def close(self) -> None:
        """Nothing to close: the Store closes the reader it shares."""

    def report(self, total: int, stacklevel: int = 4) -> None:
        """Under ``"warn"``, one warning naming how many stale records were returned."""
        if self.flagged and self.freshness.policy == WARN:
            self.freshness.warn(self.flagged, total, stacklevel)
