"""A sweep's journal: its row in ``entropic_sweeps``, its failed attempts, its runs in progress.

The journal writes inside the sweep's own commits: the transaction that stores a batch of rows
and releases their claims also records the batch's failed attempts, clears the current failure
of each run it stores, forgets the settled runs' parameters and moves the sweep's counters and
heartbeat on. No run costs a round trip of its own; the sweep's start, each claimed batch and the
sweep's end cost one each.

Nothing here may spoil a commit of the user's rows: the journal's statements run in a savepoint,
and a value the database refuses loses only that piece of bookkeeping (with a warning).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Connection, Engine, and_, delete, exists, insert, select, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from entropic._attempts import Attempt, params_json
from entropic._db import chunks, is_outage, is_transient, upsert, write_connection
from entropic._internal import (
    attempts_table,
    claims_table,
    failures_table,
    running_table,
    sweeps_table,
)
from entropic.running import RunOutcome, RunTask

__all__ = ["Commit", "Journal", "SweepLog"]

logger = logging.getLogger(__name__)

_HOST: Final = socket.gethostname()

#: A claimed run still going this many seconds later is listed as running (for coverage).
LIST_AFTER: Final = 0.5


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Journal:
    """The journal of one table: its current failures, and a log for each sweep.

    Args:
        engine: The Store's engine.
        table_name: The user's table.
    """

    def __init__(self, engine: Engine, table_name: str) -> None:
        self.engine = engine
        self.table_name = table_name

    def current_attempts(self) -> dict[str, tuple[int, str]]:
        """Each currently failed run's id, with how many times it failed and the last type."""
        c = failures_table.c
        query = select(c.run_id, c.attempt, c.exc_type).where(c.table_name == self.table_name)
        with self.engine.connect() as conn:
            return {str(r): (int(a), str(t)) for r, a, t in conn.execute(query)}

    def single_failure(
        self,
        run_id: str,
        params: Mapping[str, Any],
        explicit_id: bool,
        error: BaseException,
        outcome: RunOutcome,
        key_names: Sequence[str] | None,
    ) -> None:
        """Record a failed ``run`` or ``run_or_retrieve``: its current failure and its history.

        Bookkeeping never hides the runner's own error: a database problem here is logged.
        """
        c = failures_table.c
        where = (c.table_name == self.table_name) & (c.run_id == run_id)
        try:
            with write_connection(self.engine) as conn:
                before = conn.execute(select(c.attempt).where(where)).scalar()
                note = Attempt.of(
                    run_id,
                    params,
                    explicit_id,
                    error,
                    outcome,
                    int(before or 0) + 1,
                    final=True,
                    key_names=key_names,
                )
                keys = {"table_name": self.table_name, "sweep_id": None}
                row: dict[str, Any] = {**keys, "params": note.params}
                row |= {"key_names": note.key_names, "explicit_id": note.explicit_id}
                row |= note.facts()
                upsert(conn, failures_table, [row])
                conn.execute(
                    insert(attempts_table), [{**keys, "outcome": "failed", **note.facts()}]
                )
        except DBAPIError as exc:
            logger.warning("could not record the failure of run %s: %s", run_id, exc)

    def single_success(self, conn: Connection, run_id: str) -> None:
        """In the run's own transaction: a success clears its current failure, if it had one."""
        c = failures_table.c
        where = (c.table_name == self.table_name) & (c.run_id == run_id)
        before = conn.execute(select(c.attempt).where(where)).scalar()
        if before is None:
            return
        conn.execute(delete(failures_table).where(where))
        conn.execute(
            insert(attempts_table),
            [
                {
                    "table_name": self.table_name,
                    "run_id": run_id,
                    "attempt": int(before) + 1,
                    "outcome": "ok",
                    "host": _HOST,
                    "pid": os.getpid(),
                    "sweep_id": None,
                    "ended_at": _now(),
                }
            ],
        )

    def begin(
        self,
        *,
        owner: str,
        total: int,
        hits: int,
        skipped: int,
        executor: str,
        lease: float,
        known: Mapping[str, int],
    ) -> SweepLog:
        """Record a sweep that starts now and return its log.

        Parameters of runs that no live claim covers any more (left by a sweep that died) are
        dropped in the same transaction.
        """
        sweep_id = uuid.uuid4().hex
        now = _now()
        row = {
            "id": sweep_id,
            "table_name": self.table_name,
            "total": total,
            "hits": hits,
            "done": hits + skipped,
            "failed": skipped,
            "skipped": skipped,
            "owner": owner[:160],
            "host": _HOST[:255],
            "pid": os.getpid(),
            "executor": executor[:128],
            "lease": lease,
            "started_at": now,
            "heartbeat_at": now,
            "finished_at": None,
            "state": "running",
        }
        r, c = running_table.c, claims_table.c
        claimed = and_(c.table_name == r.table_name, c.run_id == r.run_id)
        with write_connection(self.engine) as conn:
            conn.execute(insert(sweeps_table), [row])
            conn.execute(
                delete(running_table).where(
                    r.table_name == self.table_name, ~exists().where(claimed)
                )
            )
        return SweepLog(
            self.engine, self.table_name, sweep_id, known, total, hits + skipped, skipped
        )


class SweepLog:
    """What one sweep writes about itself; see the module's description.

    :meth:`note_failure` is called from the sweep's thread; :meth:`hook` and :meth:`written`
    from the thread that commits, one commit at a time.

    Args:
        engine: The Store's engine.
        table_name: The user's table.
        sweep_id: The sweep's row in ``entropic_sweeps``.
        known: Runs that had failed before the sweep, with their number of attempts.
        total: The sweep's distinct parameter sets.
        settled: Parameter sets settled before the first commit (hits and skipped runs).
        skipped: Runs the sweep did not start because they had failed before.
    """

    def __init__(
        self,
        engine: Engine,
        table_name: str,
        sweep_id: str,
        known: Mapping[str, int],
        total: int,
        settled: int,
        skipped: int,
    ) -> None:
        self.engine = engine
        self.total = total
        self.table_name = table_name
        self.sweep_id = sweep_id
        self._known = dict(known)
        self._lock = threading.Lock()
        self._waiting: list[Attempt] = []
        #: Runs claimed and not listed in ``entropic_running`` yet, with when they were claimed.
        self._unlisted: dict[str, tuple[float, RunTask]] = {}
        #: Runs listed there and not settled yet.
        self._listed: set[str] = set()
        #: Settled without a commit of ours: hits, skipped runs, runs found done elsewhere.
        self.settled = settled
        self.skipped = skipped
        self.stored = 0
        self.failed = skipped

    # ------------------------------------------------------------------ the sweep's thread

    def note_failure(
        self,
        run_id: str,
        params: Mapping[str, Any],
        explicit_id: bool,
        error: BaseException,
        outcome: RunOutcome | None = None,
        *,
        final: bool,
        key_names: Sequence[str] | None = None,
    ) -> Attempt:
        """Note a failed attempt of a run; it is written with the next commit."""
        with self._lock:
            number = self._known.get(run_id, 0) + 1
            self._known[run_id] = number
            note = Attempt.of(
                run_id,
                params,
                explicit_id,
                error,
                outcome,
                number,
                final=final,
                key_names=key_names,
            )
            self._waiting.append(note)
        return note

    def count_final(self) -> None:
        """Count as failed a run whose last attempt was to be retried, and will not be."""
        with self._lock:
            self.failed += 1

    def found(self, count: int) -> None:
        """Count parameter sets another process stored while this sweep waited or claimed."""
        with self._lock:
            self.settled += count

    def claimed(self, tasks: Sequence[RunTask]) -> None:
        """Note runs just claimed; those still going a moment later are listed as running.

        Nothing is written here: the next commit lists the runs claimed at least
        :data:`LIST_AFTER` seconds before that are not settled yet, so short runs cost nothing.
        """
        now = time.monotonic()
        with self._lock:
            for task in tasks:
                self._unlisted[task.id] = (now, task)

    def unlisted(self) -> bool:
        """Whether claimed runs wait to be listed (a commit should come even if none finish)."""
        with self._lock:
            return bool(self._unlisted)

    # ------------------------------------------------------------------ the committing thread

    def prepare(self, stored: Sequence[str], released: Sequence[str]) -> Commit:
        """What the commit that stores ``stored`` and releases ``released`` also writes."""
        settled = {*stored, *released}
        young = time.monotonic() - LIST_AFTER
        now = _now()
        with self._lock:
            notes = list(self._waiting)
            had_failed = {key: self._known[key] for key in stored if key in self._known}
            listing = [
                task
                for key, (claimed, task) in self._unlisted.items()
                if claimed <= young and key not in settled
            ]
            unlisting = [key for key in settled if key in self._listed]
            failed = self.failed + sum(n.final for n in notes)
            done = min(self.settled + self.stored + len(stored) + failed, self.total)
        rows = [
            {
                "table_name": self.table_name,
                "run_id": task.id,
                "sweep_id": self.sweep_id,
                "params": params_json(task.params),
                "claimed_at": now,
            }
            for task in listing
        ]
        return Commit(
            self,
            list(stored),
            settled,
            notes,
            had_failed,
            rows,
            unlisting,
            {"done": done, "failed": failed, "heartbeat_at": now},
        )

    def written(self, commit: Commit) -> None:
        """Count what ``commit`` stored and forget what it wrote."""
        written = {id(n) for n in commit.notes}
        with self._lock:
            self._waiting = [n for n in self._waiting if id(n) not in written]
            for key in commit.stored:
                self._known.pop(key, None)
            for key in commit.settled:
                self._unlisted.pop(key, None)
                self._listed.discard(key)
            for row in commit.listing:
                self._unlisted.pop(row["run_id"], None)
                self._listed.add(row["run_id"])
            self.stored += len(commit.stored)
            self.failed += sum(n.final for n in commit.notes)

    def _write_attempts(self, conn: Connection, notes: Sequence[Attempt]) -> None:
        latest = {n.run_id: n for n in notes}  # the current failure is a run's last attempt
        keys = {"table_name": self.table_name, "sweep_id": self.sweep_id}
        upsert(
            conn,
            failures_table,
            [
                {
                    **keys,
                    "params": n.params,
                    "key_names": n.key_names,
                    "explicit_id": n.explicit_id,
                    **n.facts(),
                }
                for n in latest.values()
            ],
        )
        conn.execute(
            insert(attempts_table), [{**keys, "outcome": "failed", **n.facts()} for n in notes]
        )

    def _clear(
        self, conn: Connection, stored: Sequence[str], had_failed: Mapping[str, int]
    ) -> None:
        """A success clears the run's current failure; the history keeps it, and the success."""
        f = failures_table.c
        for chunk in chunks(stored):
            conn.execute(
                delete(failures_table).where(
                    f.table_name == self.table_name, f.run_id.in_(list(chunk))
                )
            )
        if had_failed:
            now = _now()
            conn.execute(
                insert(attempts_table),
                [
                    {
                        "table_name": self.table_name,
                        "run_id": key,
                        "attempt": attempts + 1,
                        "outcome": "ok",
                        "host": _HOST,
                        "pid": os.getpid(),
                        "sweep_id": self.sweep_id,
                        "ended_at": now,
                    }
                    for key, attempts in had_failed.items()
                ],
            )

    # ------------------------------------------------------------------ the end

    def end(self, state: str) -> None:
        """Record how the sweep ended; forget the parameters of its runs still listed."""
        with self._lock:
            failed = self.failed + sum(n.final for n in self._waiting)
            done = min(self.settled + self.stored + failed, self.total)
        now = _now()
        r = running_table.c
        try:
            with write_connection(self.engine) as conn:
                conn.execute(
                    update(sweeps_table)
                    .where(sweeps_table.c.id == self.sweep_id)
                    .values(
                        state=state[:16],
                        done=done,
                        failed=failed,
                        heartbeat_at=now,
                        finished_at=now,
                    )
                )
                conn.execute(
                    delete(running_table).where(
                        r.table_name == self.table_name, r.sweep_id == self.sweep_id
                    )
                )
        except DBAPIError as exc:  # the sweep's own outcome matters more than its record
            if is_outage(exc):  # said once already, for the whole outage
                logger.info("could not record the end of sweep %s: %s", self.sweep_id, exc)
            else:
                logger.warning("could not record the end of sweep %s: %s", self.sweep_id, exc)


@dataclass(frozen=True, slots=True)
class Commit:
    """The journal's share of one commit of a sweep (see :meth:`SweepLog.prepare`)."""

    log: SweepLog
    stored: list[str]
    settled: set[str]
    notes: list[Attempt]
    had_failed: dict[str, int]
    listing: list[dict[str, Any]]
    unlisting: list[str]
    progress: dict[str, Any]

    def write(self, conn: Connection) -> None:
        """Write it in ``conn``'s transaction (again, if the transaction is tried again)."""
        log = self.log
        r = running_table.c
        with _bookkeeping(conn, "the sweep's failures and runs in progress", bool(self.notes)):
            if self.notes:
                log._write_attempts(conn, self.notes)
            if self.stored:
                log._clear(conn, self.stored, self.had_failed)
            if self.listing:
                upsert(conn, running_table, self.listing)
            for chunk in chunks(self.unlisting):
                conn.execute(
                    delete(running_table).where(
                        r.table_name == log.table_name, r.run_id.in_(list(chunk))
                    )
                )
            conn.execute(
                update(sweeps_table)
                .where(sweeps_table.c.id == log.sweep_id)
                .values(**self.progress)
            )


@contextmanager
def _bookkeeping(conn: Connection, what: str, guard: bool = True) -> Iterator[None]:
    """Run the journal's statements in a savepoint; a value the database refuses costs only them.

    An outage, a lock timeout or a deadlock propagates, so that the whole commit is tried again.
    Without ``guard`` (nothing that holds a user's values is written) there is no savepoint.
    """
    if not guard:
        yield
        return
    savepoint = conn.begin_nested()
    try:
        yield
    except DBAPIError as exc:
        savepoint.rollback()
        if (
            exc.connection_invalidated
            or is_transient(exc)
            or isinstance(exc, OperationalError | InterfaceError)
        ):
            raise
        logger.warning("could not record %s: %s", what, exc)
        return
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()
