"""The raw floors: the same durable work as a store, in plain Python with no framework.

Every ratio in the table is taken against one of these. Each floor uses the key scheme of
:func:`bench_common.key` and a table with the store's columns, and:

- a hit: hashes one point and runs ``SELECT * FROM runs WHERE id = ?`` (sqlite3), or ``= %s``
  through one psycopg connection held open in autocommit mode (a read needs no transaction);
- a cached sweep: hashes every point and selects in chunks of 500 ids with ``IN`` (SQLite) or
  ``= ANY(%s)`` (PostgreSQL), returning the rows in input order;
- a miss: hashes the point, lets the runner write its 64 bytes to a temporary file in the
  results folder, moves it into place with ``os.replace``, writes the manifest the same way, and
  inserts the rows in batches of 256 with ``executemany``, one commit per batch, in one SQLite
  WAL database (or through one psycopg connection).

Only the standard library at import time; psycopg is imported by the PostgreSQL floor and the
schema helpers, which also serve ``bench_ours.py``'s PostgreSQL store: every PostgreSQL
measurement works in a schema of its own, named after its folder, dropped when the bench ends.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sqlite3
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import HIT_POINTS, TimedRunner, key, median_call_seconds, point, points

__all__ = [
    "LOOKUP_CHUNK",
    "MISS_BATCH",
    "POSTGRES_URL",
    "RawFloor",
    "RawPostgres",
    "drop_schema",
    "postgres_url",
    "schema_for",
]

#: Points per INSERT batch when filling a table, per IN/ANY query, and per miss commit.
FILL_CHUNK: Final = 10_000
LOOKUP_CHUNK: Final = 500
MISS_BATCH: Final = 256

#: The PostgreSQL server the bench uses (SQLAlchemy form; the floor strips the driver name).
POSTGRES_URL: Final = os.environ.get(
    "ENTROPIC_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

_COLUMNS: Final = "id, result_file, created_at, custom_data, n, dt, method, seed"


# ---------------------------------------------------------------------------- PostgreSQL schemas


def schema_for(workdir: Path) -> str:
    """The PostgreSQL schema that holds the tables of the measurement kept in ``workdir``."""
    return "entropic_bench_" + hashlib.sha1(str(workdir).encode()).hexdigest()[:16]


def postgres_url(schema: str | None = None, sqlalchemy: bool = True) -> str:
    """The server's URL; with ``schema``, one whose connections see only that schema."""
    url = POSTGRES_URL if sqlalchemy else POSTGRES_URL.replace("+psycopg", "", 1)
    if schema is not None:
        url += ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"
    return url


def _connect(schema: str | None = None) -> Any:
    import psycopg

    conn = psycopg.connect(postgres_url(None, sqlalchemy=False), autocommit=True)
    if schema is not None:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        conn.execute(f"SET search_path TO {schema}")
    return conn


def drop_schema(schema: str) -> None:
    """Drop a measurement's schema and every table in it."""
    with _connect() as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


# ---------------------------------------------------------------------------- shared work


def _now_text() -> str:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")


def _row(p: dict[str, Any], run_id: str, result_file: str, now: Any) -> tuple[Any, ...]:
    return (run_id, result_file, now, "{}", p["n"], p["dt"], p["method"], p["seed"])


def _rows(results: Path, chunk: list[dict[str, Any]], now: Any) -> list[tuple[Any, ...]]:
    return [_row(p, k, str(results / f"{k}.txt"), now) for p in chunk for k in (key(p),)]


def _miss_loop(
    folder: Path, n: int, insert: Callable[[list[tuple[Any, ...]]], None], now: Callable[[], Any]
) -> dict[str, Any]:
    """Run ``n`` new points by hand with a store's guarantees; ``insert`` commits a batch."""
    results = folder / "results"
    results.mkdir(parents=True, exist_ok=True)
    runner = TimedRunner()
    params = list(points(0, n))
    start = time.perf_counter()
    rows = []
    for p in params:
        run_id = key(p)
        final = results / f"{run_id}.txt"
        scratch = results / f".{run_id}.tmp.txt"
        runner({**p, "result_file": str(scratch)})
        os.replace(scratch, final)
        at = now()
        manifest = results / f".{run_id}.json"
        temporary = results / f".{run_id}.json.{uuid.uuid4().hex[:12]}.tmp"
        body = {"id": run_id, "params": p, "result_file": str(final), "created_at": str(at)}
        temporary.write_bytes(json.dumps(body).encode())
        os.replace(temporary, manifest)
        rows.append(_row(p, run_id, str(final), at))
        if len(rows) == MISS_BATCH:
            insert(rows)
            rows = []
    if rows:
        insert(rows)
    wall = time.perf_counter() - start
    return {"wall": wall, "runner": runner.seconds, "n": n}


def _in_order(keys: list[str], found: list[Any]) -> Iterator[Any]:
    by_id = {row[0]: row for row in found}
    return (by_id[k] for k in keys)


# ---------------------------------------------------------------------------- SQLite


class RawFloor:
    """The SQLite floor: sqlite3 and hashlib, returning row tuples, nothing else."""

    @staticmethod
    def connect(workdir: Path) -> sqlite3.Connection:
        """Open the floor's database file in ``workdir``, in WAL mode."""
        conn = sqlite3.connect(workdir / "raw.sqlite3")
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    @staticmethod
    def _create(conn: sqlite3.Connection) -> None:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS runs (id VARCHAR(128) PRIMARY KEY, result_file TEXT NOT "
            "NULL, created_at TEXT NOT NULL, custom_data TEXT NOT NULL, n INTEGER NOT NULL, "
            "dt REAL NOT NULL, method TEXT NOT NULL, seed INTEGER NOT NULL)"
        )

    def prepare(self, workdir: Path, n: int) -> dict[str, Any]:
        """Create and fill the table (setup, not measured)."""
        conn = self.connect(workdir)
        self._create(conn)
        now, generator = _now_text(), points(0, n)
        start = time.perf_counter()
        while chunk := list(islice(generator, FILL_CHUNK)):
            sql = f"INSERT INTO runs ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)"
            conn.executemany(sql, _rows(workdir / "results", chunk, now))
        conn.commit()
        conn.close()
        return {"n": n, "seconds": time.perf_counter() - start}

    def hit(
        self, workdir: Path, calls: int, warmup: int, spread: int = HIT_POINTS
    ) -> dict[str, Any]:
        """Median seconds of hashing one point and fetching its row."""
        conn = self.connect(workdir)
        sql = "SELECT * FROM runs WHERE id = ?"

        def lookup(p: dict[str, Any]) -> Any:
            row = conn.execute(sql, (key(p),)).fetchone()
            if row is None:
                raise AssertionError(f"no row for {p!r}")
            return row

        seconds = median_call_seconds(lookup, [point(i) for i in range(spread)], calls, warmup)
        conn.close()
        return {"seconds": seconds, "calls": calls}

    @staticmethod
    def lookup_many(conn: sqlite3.Connection, params: list[dict[str, Any]]) -> list[Any]:
        """Hash every point, fetch the rows in chunked ``IN`` queries, return them in order."""
        out: list[Any] = []
        for start in range(0, len(params), LOOKUP_CHUNK):
            keys = [key(p) for p in params[start : start + LOOKUP_CHUNK]]
            marks = ",".join("?" * len(keys))
            found = conn.execute(f"SELECT * FROM runs WHERE id IN ({marks})", keys).fetchall()
            out.extend(_in_order(keys, found))
        return out

    def sweep(self, workdir: Path, n: int) -> dict[str, Any]:
        """Seconds to look up ``n`` cached points."""
        conn = self.connect(workdir)
        return _timed_sweep(lambda params: self.lookup_many(conn, params), n, conn.close)

    def misses(self, workdir: Path, n: int) -> dict[str, Any]:
        """The floor of a serial sweep of ``n`` misses, in a fresh database."""
        folder = workdir / f"misses-{uuid.uuid4().hex[:8]}"
        folder.mkdir(parents=True)
        conn = self.connect(folder)
        self._create(conn)
        sql = f"INSERT INTO runs ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)"

        def insert(rows: list[tuple[Any, ...]]) -> None:
            conn.executemany(sql, rows)
            conn.commit()

        out = _miss_loop(folder, n, insert, _now_text)
        conn.close()
        return out


def _timed_sweep(
    lookup: Callable[[list[dict[str, Any]]], list[Any]], n: int, close: Callable[[], None]
) -> dict[str, Any]:
    lookup(list(points(0, min(n, 100))))  # warm-up
    params = list(points(0, n))
    start = time.perf_counter()
    rows = lookup(params)
    seconds = time.perf_counter() - start
    if len(rows) != n:
        raise AssertionError(f"{len(rows)} rows for {n} points")
    close()
    return {"seconds": seconds, "n": n}


# ---------------------------------------------------------------------------- PostgreSQL


class RawPostgres:
    """The PostgreSQL floor: hashlib and one psycopg connection, returning row tuples."""

    @staticmethod
    def connect(workdir: Path) -> Any:
        """A connection (autocommit) to the schema of the measurement kept in ``workdir``."""
        return _connect(schema_for(workdir))

    @staticmethod
    def connect_server() -> Any:
        """A connection (autocommit) to the server, in no schema of the bench's."""
        return _connect()

    @staticmethod
    def _create(conn: Any) -> None:
        # the store's column types on PostgreSQL
        conn.execute(
            "CREATE TABLE IF NOT EXISTS runs (id VARCHAR(128) PRIMARY KEY, result_file "
            "VARCHAR(1024) NOT NULL, created_at TIMESTAMP WITH TIME ZONE NOT NULL, custom_data "
            "JSON NOT NULL, n INTEGER NOT NULL, dt DOUBLE PRECISION NOT NULL, method VARCHAR NOT "
            "NULL, seed INTEGER NOT NULL)"
        )

    def prepare(self, workdir: Path, n: int) -> dict[str, Any]:
        """Create and fill the table (setup, not measured)."""
        conn = self.connect(workdir)
        self._create(conn)
        now, generator = dt.datetime.now(dt.UTC), points(0, n)
        start = time.perf_counter()
        with conn.cursor() as cursor:
            while chunk := list(islice(generator, FILL_CHUNK)):
                sql = f"INSERT INTO runs ({_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)"
                cursor.executemany(sql, _rows(workdir / "results", chunk, now))
        conn.execute("ANALYZE runs")
        conn.close()
        return {"n": n, "seconds": time.perf_counter() - start}

    def hit(
        self, workdir: Path, calls: int, warmup: int, spread: int = HIT_POINTS
    ) -> dict[str, Any]:
        """Median seconds of hashing one point and fetching its row (prepared by psycopg)."""
        conn = self.connect(workdir)
        sql = "SELECT * FROM runs WHERE id = %s"

        def lookup(p: dict[str, Any]) -> Any:
            row = conn.execute(sql, (key(p),)).fetchone()
            if row is None:
                raise AssertionError(f"no row for {p!r}")
            return row

        seconds = median_call_seconds(lookup, [point(i) for i in range(spread)], calls, warmup)
        conn.close()
        return {"seconds": seconds, "calls": calls}

    @staticmethod
    def lookup_many(conn: Any, params: list[dict[str, Any]]) -> list[Any]:
        """Hash every point, fetch the rows with chunked ``= ANY``, return them in order."""
        out: list[Any] = []
        sql = "SELECT * FROM runs WHERE id = ANY(%s)"
        for start in range(0, len(params), LOOKUP_CHUNK):
            keys = [key(p) for p in params[start : start + LOOKUP_CHUNK]]
            out.extend(_in_order(keys, conn.execute(sql, (keys,)).fetchall()))
        return out

    def sweep(self, workdir: Path, n: int) -> dict[str, Any]:
        """Seconds to look up ``n`` cached points."""
        conn = self.connect(workdir)
        return _timed_sweep(lambda params: self.lookup_many(conn, params), n, conn.close)

    def misses(self, workdir: Path, n: int) -> dict[str, Any]:
        """The floor of a serial sweep of ``n`` misses, in a fresh schema (dropped after)."""
        folder = workdir / f"misses-{uuid.uuid4().hex[:8]}"
        folder.mkdir(parents=True)
        schema = schema_for(folder)
        conn = self.connect(folder)
        try:
            self._create(conn)
            sql = f"INSERT INTO runs ({_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)"

            def insert(rows: list[tuple[Any, ...]]) -> None:
                with conn.transaction(), conn.cursor() as cursor:
                    cursor.executemany(sql, rows)

            return _miss_loop(folder, n, insert, lambda: dt.datetime.now(dt.UTC))
        finally:
            conn.close()
            drop_schema(schema)

    def cleanup(self, workdir: Path) -> dict[str, Any]:
        """Drop the schema of the measurement kept in ``workdir``."""
        drop_schema(schema_for(workdir))
        return {"dropped": schema_for(workdir)}
