"""What a store is doing now: per table, stored runs, runs in progress, failures and sweeps.

:func:`read_status` answers from a few aggregate queries (a count, two ``GROUP BY`` and the
recent rows of ``entropic_sweeps``), so it stays fast on a store of millions of rows. A sweep
that died still says ``running`` in its row; it is shown as ``dead`` when its process is gone
from this host, or when its heartbeat is older than :data:`STALE_SECONDS` (or two claim leases)
and it holds no live claim.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Final

from sqlalchemy import Engine, func, or_, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import table as sql_table

from entropic._internal import claims_table, failures_table, running_table, sweeps_table

__all__ = [
    "MOST_SWEEPS",
    "RECENT_SECONDS",
    "STALE_SECONDS",
    "InProgress",
    "StoreStatus",
    "SweepStatus",
    "TableStatus",
    "read_status",
]

#: A running sweep whose heartbeat is older than this (or two claim leases) and that holds no
#: live claim is dead.
STALE_SECONDS: Final = 60.0
#: Finished sweeps are shown for this long after their last heartbeat.
RECENT_SECONDS: Final = 24 * 3600.0
#: At most this many sweeps per table, the latest first.
MOST_SWEEPS: Final = 10

_HOST: Final = socket.gethostname()


def _plain(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


@dataclass(frozen=True, slots=True)
class SweepStatus:
    """One sweep as its row and its liveness tell.

    Attributes:
        id: The sweep's id.
        table: Its table.
        state: ``running``, ``dead``, or how it ended: ``finished``, ``failed`` (some runs
            failed), ``time limit``, ``interrupted``, ``terminated`` or ``error``.
        total: Distinct parameter sets.
        hits: Those already stored when it started.
        done: Parameter sets settled so far (hits, stored runs and failures), as committed.
        failed: Runs that failed for good (including ``skipped``).
        skipped: Runs not started because they had failed before (``skip_failed``).
        owner: Its claims' owner (host, process id and a random part).
        host: The host it runs on.
        pid: Its process id.
        executor: The executor's name.
        started_at: When it started.
        heartbeat_at: Its last commit.
        finished_at: When it ended, or ``None``.
        rate: Runs settled per second since it started (to its end, or now).
        eta_seconds: For a running sweep, the time left at that rate; else ``None``.
    """

    id: str
    table: str
    state: str
    total: int
    hits: int
    done: int
    failed: int
    skipped: int
    owner: str
    host: str
    pid: int
    executor: str
    started_at: dt.datetime
    heartbeat_at: dt.datetime
    finished_at: dt.datetime | None
    rate: float | None
    eta_seconds: float | None

    @property
    def live(self) -> bool:
        """Whether the sweep is running (not finished, not dead)."""
        return self.state == "running"

    def to_dict(self) -> dict[str, Any]:
        """The sweep as plain data (for JSON output)."""
        return _plain(self)


@dataclass(frozen=True, slots=True)
class InProgress:
    """The runs one owner holds live claims on.

    Attributes:
        owner: The claims' owner.
        host: Its host, read from the owner.
        pid: Its process id, read from the owner.
        runs: How many runs it holds.
        sweep_id: Its sweep, when a sweep holds them.
        oldest_claimed_at: When it claimed the oldest of them, when a sweep recorded it.
        age_seconds: How long ago that was.
        expires_at: When its claims lapse unless renewed.
    """

    owner: str
    host: str | None
    pid: int | None
    runs: int
    sweep_id: str | None
    oldest_claimed_at: dt.datetime | None
    age_seconds: float | None
    expires_at: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        """The owner's runs as plain data (for JSON output)."""
        return _plain(self)


@dataclass(frozen=True, slots=True)
class TableStatus:
    """What one table holds and what is happening to it.

    Attributes:
        table: The table's name.
        stored: Stored runs (rows).
        in_progress: Runs in progress, per owner.
        failures: Current failures per exception type, the most frequent first.
        sweeps: Live and recent sweeps, the latest first.
    """

    table: str
    stored: int
    in_progress: list[InProgress] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    sweeps: list[SweepStatus] = field(default_factory=list)

    @property
    def running(self) -> int:
        """Runs in progress, all owners together."""
        return sum(p.runs for p in self.in_progress)

    @property
    def failed(self) -> int:
        """Current failures, all types together."""
        return sum(self.failures.values())

    def to_dict(self) -> dict[str, Any]:
        """The table's status as plain data (for JSON output)."""
        return {
            "table": self.table,
            "stored": self.stored,
            "running": self.running,
            "failed": self.failed,
            "in_progress": [p.to_dict() for p in self.in_progress],
            "failures": dict(self.failures),
            "sweeps": [s.to_dict() for s in self.sweeps],
        }


@dataclass(frozen=True, slots=True)
class StoreStatus:
    """The status of some tables of a store, read at one moment.

    Attributes:
        tables: One status per table, in the order asked for.
        taken_at: When it was read.
    """

    tables: list[TableStatus]
    taken_at: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        """The status as plain data (for JSON output)."""
        return {"taken_at": self.taken_at, "tables": [t.to_dict() for t in self.tables]}


def _owner_parts(owner: str) -> tuple[str | None, int | None]:
    parts = owner.rsplit(":", 2)
    if len(parts) != 3:
        return None, None
    try:
        return parts[0], int(parts[1])
    except ValueError:
        return parts[0], None


def _gone(host: str | None, pid: int | None) -> bool:
    """Whether ``pid`` is a process of this host that no longer exists."""
    if host != _HOST or pid is None or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OSError):
        return False
    return False


def _aware(value: Any) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(moment, dt.datetime)  # an aggregate some drivers hand back as text
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _sweep(row: Any, live_owners: set[str], now: dt.datetime) -> SweepStatus:
    state = row.state
    if state == "running":
        stale = (now - row.heartbeat_at).total_seconds() > max(STALE_SECONDS, 2 * row.lease)
        if _gone(row.host, row.pid) or (stale and row.owner not in live_owners):
            state = "dead"
    end = row.finished_at or (row.heartbeat_at if state == "dead" else now)
    seconds = (end - row.started_at).total_seconds()
    ran = row.done - row.hits - row.skipped
    rate = ran / seconds if seconds > 0 else None
    eta = None
    if state == "running" and rate:
        eta = max(0, row.total - row.done) / rate
    return SweepStatus(
        id=row.id,
        table=row.table_name,
        state=state,
        total=row.total,
        hits=row.hits,
        done=row.done,
        failed=row.failed,
        skipped=row.skipped,
        owner=row.owner,
        host=row.host,
        pid=row.pid,
        executor=row.executor,
        started_at=row.started_at,
        heartbeat_at=row.heartbeat_at,
        finished_at=row.finished_at,
        rate=rate,
        eta_seconds=eta,
    )


def read_status(
    engine: Engine,
    table_names: Sequence[str],
    *,
    recent: float = RECENT_SECONDS,
    now: dt.datetime | None = None,
) -> StoreStatus:
    """The status of each table in ``table_names``.

    Args:
        engine: The store's database.
        table_names: The entropic tables to report on.
        recent: Show sweeps whose last heartbeat is at most this many seconds old, and every
            sweep that still holds live claims.
        now: The moment to judge ages and liveness by (the current time by default).
    """
    now = now or dt.datetime.now(dt.UTC)
    existing = set(sa_inspect(engine).get_table_names())
    journal = {sweeps_table.name, failures_table.name, running_table.name} <= existing
    claims = claims_table.name in existing
    cutoff = now - dt.timedelta(seconds=recent)
    found = []
    with engine.connect() as conn:
        for name in table_names:
            stored = int(
                conn.execute(select(func.count()).select_from(sql_table(name))).scalar_one()
            )
            live = _live_claims(conn, name, now) if claims else {}
            if not journal:
                found.append(TableStatus(name, stored, _owners(live, {}, {}, now)))
                continue
            f = failures_table.c
            by_type = conn.execute(
                select(f.exc_type, func.count())
                .where(f.table_name == name)
                .group_by(f.exc_type)
                .order_by(func.count().desc(), f.exc_type)
            ).all()
            s = sweeps_table.c
            rows = conn.execute(
                select(sweeps_table)
                .where(
                    s.table_name == name,
                    or_(s.heartbeat_at >= cutoff, s.owner.in_(list(live) or [""])),
                )
                .order_by(s.started_at.desc())
                .limit(MOST_SWEEPS)
            ).all()
            sweeps = [_sweep(row, set(live), now) for row in rows]
            r = running_table.c
            oldest = {
                str(sweep_id): _aware(first)
                for sweep_id, first in conn.execute(
                    select(r.sweep_id, func.min(r.claimed_at))
                    .where(r.table_name == name)
                    .group_by(r.sweep_id)
                )
            }
            of_owner = {row.owner: row.id for row in rows}
            in_progress = _owners(live, of_owner, oldest, now)
            found.append(
                TableStatus(name, stored, in_progress, {str(t): int(n) for t, n in by_type}, sweeps)
            )
    return StoreStatus(found, now)


def _live_claims(conn: Any, name: str, now: dt.datetime) -> dict[str, tuple[int, dt.datetime]]:
    """Each live owner's number of claims on ``name`` and their latest expiry."""
    c = claims_table.c
    query = (
        select(c.owner, func.count(), func.max(c.expires_at))
        .where(c.table_name == name, c.expires_at > now)
        .group_by(c.owner)
    )
    live = {}
    for owner, runs, expires in conn.execute(query):
        if not _gone(*_owner_parts(owner)):
            live[str(owner)] = (int(runs), _aware(expires))
    return live


def _owners(
    live: dict[str, tuple[int, dt.datetime]],
    of_owner: dict[str, str],
    oldest: dict[str, dt.datetime],
    now: dt.datetime,
) -> list[InProgress]:
    found = []
    for owner, (runs, expires) in sorted(live.items(), key=lambda item: -item[1][0]):
        host, pid = _owner_parts(owner)
        sweep_id = of_owner.get(owner)
        first = oldest.get(sweep_id) if sweep_id is not None else None
        age = (now - first).total_seconds() if first is not None else None
        found.append(InProgress(owner, host, pid, runs, sweep_id, first, age, expires))
    return found
