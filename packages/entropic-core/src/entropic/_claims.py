"""Claims: single flight for runs across threads, processes and hosts.

Before a Store runs a missing parameter set it claims the id in the ``entropic_claims`` table.
Whoever inserts the claim runs; everyone else waits for the record to appear. A claim carries its
owner (host, process id and a random token) and a lease that the owner's keeper thread renews while
the run is going. A claim whose lease has expired, or whose owner is a dead process on this host,
is taken over. Claims live in the database, not in file locks, because NFS does not honour those.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final, TypeVar

from sqlalchemy import Connection, Engine, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from entropic._db import (
    chunks,
    execute_rows,
    is_outage,
    outage_began,
    patiently,
    transact,
    write_connection,
)
from entropic._internal import claims_table

__all__ = ["ClaimBook", "new_owner"]

logger = logging.getLogger(__name__)

_HOST: Final = socket.gethostname()

#: Longest pause between two looks at runs another process is doing.
MAX_POLL_SECONDS: Final = 0.5
#: A wait for another process's runs longer than this is announced (once).
ANNOUNCE_SECONDS: Final = 5.0

T = TypeVar("T")


def new_owner() -> str:
    """A fresh owner token: host, process id and a random part."""
    return f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _owner_is_dead(owner: str) -> bool:
    """Whether ``owner`` is a process on this host that no longer exists."""
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != _HOST:
        return False
    try:
        pid = int(parts[1])
    except ValueError:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _insert_ignoring_conflicts(dialect: str) -> Any:
    """An INSERT into the claims table that skips rows whose id is already claimed."""
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(claims_table).on_conflict_do_nothing()
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(claims_table).on_conflict_do_nothing()
    if dialect in ("mysql", "mariadb"):
        return insert(claims_table).prefix_with("IGNORE")
    return None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ClaimBook:
    """Takes, renews and releases the claims of one Store.

    Args:
        engine: The Store's engine.
        table_name: The Store's result table (claims are kept per table).
        lease: Seconds a claim stays valid without renewal.
    """

    def __init__(self, engine: Engine, table_name: str, lease: float) -> None:
        self.engine = engine
        self.table_name = table_name
        self.lease = lease
        self._lock = threading.Lock()
        self._active: dict[str, int] = {}
        self._wake = threading.Condition(self._lock)
        self._keeper: threading.Thread | None = None
        self._renewed = time.monotonic()

    # -------------------------------------------------------------- taking and releasing

    def _expiry(self) -> dt.datetime:
        return _now() + dt.timedelta(seconds=self.lease)

    def _where(self, ids: Sequence[str]) -> Any:
        c = claims_table.c
        return and_(c.table_name == self.table_name, c.run_id.in_(list(ids)))

    def claim_one(self, run_id: str, owner: str) -> bool:
        """Try to claim ``run_id`` for ``owner``; taking over an expired or orphaned claim."""
        row = {
            "table_name": self.table_name,
            "run_id": run_id,
            "owner": owner,
            "expires_at": self._expiry(),
        }
        try:
            transact(self.engine, lambda conn: conn.execute(insert(claims_table), [row]))
            return True
        except IntegrityError:
            pass
        return bool(self._take_over([run_id], owner))

    def claim_many(self, ids: Sequence[str], owner: str) -> set[str]:
        """Claim as many of ``ids`` as possible for ``owner``; return those now held."""
        held: set[str] = set()
        c = claims_table.c
        if _insert_ignoring_conflicts(self.engine.dialect.name) is None:
            return {i for i in ids if self.claim_one(i, owner)}
        # in one global order (sorted ids), so writers claiming overlapping sets cannot deadlock
        for chunk in chunks(sorted(ids)):
            expires = self._expiry()
            rows = [
                {"table_name": self.table_name, "run_id": i, "owner": owner, "expires_at": expires}
                for i in chunk
            ]

            def take(conn: Connection, rows: list[dict[str, Any]] = rows) -> set[str]:
                dialect = conn.dialect.name
                execute_rows(
                    conn, claims_table, "claim", lambda: _insert_ignoring_conflicts(dialect), rows
                )
                return set(
                    conn.scalars(
                        select(c.run_id).where(
                            self._where([r["run_id"] for r in rows]), c.owner == owner
                        )
                    )
                )

            mine = transact(self.engine, take)
            held.update(mine)
            others = [i for i in chunk if i not in mine]
            if others:
                held.update(self._take_over(others, owner))
        return held

    def _take_over(self, ids: Sequence[str], owner: str) -> set[str]:
        """Take the claims among ``ids`` that expired or whose owner process is gone."""
        c = claims_table.c

        def look() -> list[Any]:
            with self.engine.connect() as conn:
                return list(
                    conn.execute(select(c.run_id, c.owner, c.expires_at).where(self._where(ids)))
                )

        rows = patiently(look)
        now = _now()
        stale = [
            (r.run_id, r.owner) for r in rows if r.expires_at <= now or _owner_is_dead(r.owner)
        ]
        won: set[str] = set()
        if not stale:
            return won
        with write_connection(self.engine) as conn:
            for run_id, old_owner in sorted(stale):
                result = conn.execute(
                    update(claims_table)
                    .where(
                        c.table_name == self.table_name,
                        c.run_id == run_id,
                        c.owner == old_owner,
                    )
                    .values(owner=owner, expires_at=self._expiry())
                )
                if result.rowcount == 1:
                    logger.info("took over the claim on %s from %s", run_id, old_owner)
                    won.add(run_id)
        return won

    def release(
        self, ids: Iterable[str], owner: str, conn: Any = None, *, patient: bool = True
    ) -> None:
        """Drop ``owner``'s claims on ``ids`` (in ``conn``'s transaction when given)."""
        id_list = sorted(ids)
        if not id_list:
            return

        def drop(conn: Connection) -> None:
            for chunk in chunks(id_list):
                conn.execute(
                    delete(claims_table).where(self._where(chunk), claims_table.c.owner == owner)
                )

        if conn is None:
            transact(self.engine, drop, patient=patient)
        else:
            drop(conn)

    def holders(self, ids: Sequence[str]) -> set[str]:
        """The ids among ``ids`` that someone holds a live claim on."""
        return set(self.owners(ids))

    def owners(self, ids: Sequence[str]) -> dict[str, tuple[str, dt.datetime]]:
        """The live claims among ``ids``: each id's owner and the claim's expiry."""
        return patiently(lambda: self._owners(ids))

    def _owners(self, ids: Sequence[str]) -> dict[str, tuple[str, dt.datetime]]:
        c = claims_table.c
        live: dict[str, tuple[str, dt.datetime]] = {}
        now = _now()
        with self.engine.connect() as conn:
            for chunk in chunks(ids):
                for run_id, owner, expires in conn.execute(
                    select(c.run_id, c.owner, c.expires_at).where(self._where(chunk))
                ):
                    if expires > now and not _owner_is_dead(owner):
                        live[run_id] = (owner, expires)
        return live

    def may_have_lapsed(self) -> bool:
        """Whether this process's claims may have expired: its last renewal is a lease ago.

        True after the process was frozen (SIGSTOP, a suspended laptop) or the database was
        unreachable for a while; then :meth:`held_by` tells which claims are still held.
        """
        return time.monotonic() - self._renewed > self.lease * 0.8

    def held_by(self, ids: Sequence[str], owner: str) -> set[str]:
        """The ids among ``ids`` that ``owner`` still holds (a frozen process may lose some)."""
        return patiently(lambda: self._held_by(ids, owner))

    def _held_by(self, ids: Sequence[str], owner: str) -> set[str]:
        c = claims_table.c
        held: set[str] = set()
        with self.engine.connect() as conn:
            for chunk in chunks(ids):
                held.update(
                    conn.scalars(select(c.run_id).where(self._where(chunk), c.owner == owner))
                )
        return held

    def await_others(
        self, ids: Sequence[str], fetch: Callable[[Sequence[str]], dict[str, T]]
    ) -> dict[str, T]:
        """Wait while others run ``ids``: until some are stored (returned) or some are free.

        This is the one single-flight wait, for one run and for a sweep alike. Polls back off
        from a few milliseconds to :data:`MAX_POLL_SECONDS`; a wait longer than
        :data:`ANNOUNCE_SECONDS` is announced once, naming whose claims it waits for.

        Returns:
            The records of ``ids`` that appeared; empty when some id is no longer claimed
            (its run failed or its owner died), so the caller may claim it.
        """
        pause = 0.005
        started = time.monotonic()
        announced = False
        while True:
            found = fetch(ids)
            if found:
                return found
            live = self.owners(ids)
            if len(live) < len(ids):
                return {}
            if not announced and time.monotonic() - started > ANNOUNCE_SECONDS:
                announced = True
                owner, expires = max(live.values(), key=lambda item: item[1])
                logger.warning(
                    "waiting for %d run(s) of %s that %s is running (its claim holds until %s "
                    "unless renewed; a claim of a dead process is taken over when it expires)",
                    len(ids),
                    self.table_name,
                    owner,
                    expires.isoformat(timespec="seconds"),
                )
            time.sleep(pause)
            pause = min(pause * 2, MAX_POLL_SECONDS)

    # -------------------------------------------------------------- keeping leases alive

    @contextlib.contextmanager
    def kept(self, owner: str) -> Iterator[None]:
        """Renew ``owner``'s claims in the background for as long as the block runs."""
        with self._lock:
            if not self._active:
                self._renewed = time.monotonic()
            self._active[owner] = self._active.get(owner, 0) + 1
            if self._keeper is None or not self._keeper.is_alive():
                self._keeper = threading.Thread(
                    target=self._keep, name="entropic-claim-keeper", daemon=True
                )
                self._keeper.start()
        try:
            yield
        finally:
            with self._lock:
                self._active[owner] -= 1
                if not self._active[owner]:
                    del self._active[owner]
                self._wake.notify_all()

    def _keep(self) -> None:
        interval = max(self.lease / 3.0, 0.05)
        while True:
            with self._lock:
                if not self._active:
                    self._keeper = None
                    return
                self._wake.wait(interval)
                owners = list(self._active)
            if not owners:
                continue
            try:
                renewing = time.monotonic()
                with write_connection(self.engine) as conn:
                    conn.execute(
                        update(claims_table)
                        .where(
                            claims_table.c.table_name == self.table_name,
                            claims_table.c.owner.in_(owners),
                        )
                        .values(expires_at=self._expiry())
                    )
                self._renewed = renewing
            except Exception as exc:  # the next round tries again; a lapsed lease is a delay
                if is_outage(exc):
                    outage_began(exc)
                else:
                    logger.warning("could not renew entropic claims", exc_info=True)
