"""A dead database: a private PostgreSQL server stopped (and started again) mid-sweep.

Every finished run ends up stored: the batch writer retries with a backoff and says so in a
couple of warning lines, not thousands; the sweep completes, or raises ``CommitError`` saying how
many runs wait on disk, and the next sweep or ``ingest`` indexes them without running them again.

The server is stopped once the sweep holds claims on all its misses, so that what meets the
outage is the committing of finished runs.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from _chaos import (
    DEADLINE,
    PrivatePostgres,
    expected_ids,
    finish,
    lines,
    mw,
    snapshot,
    spawn,
    wait_for,
)
from sqlalchemy import create_engine, func, select, text

from entropic._internal import claims_table

POINTS = 60
#: Warning lines a sweep through one outage may log (its start and end, a missed renewal).
MOST_WARNINGS = 6


def _sweep(server: PrivatePostgres, table: str, tmp_path: Path, *extra: str) -> Any:
    return spawn(
        "sweep",
        server.url,
        table,
        str(tmp_path / "results"),
        "--calls",
        str(tmp_path / "calls.log"),
        "--stop",
        str(POINTS),
        "--pause",
        "8,12",
        "--log",
        str(tmp_path / "entropic.log"),
        *extra,
    )


def _warnings(tmp_path: Path) -> list[str]:
    try:
        log = (tmp_path / "entropic.log").read_text()
    except FileNotFoundError:
        return []
    return [line for line in log.splitlines() if " WARNING " in line]


def _all_claimed(server: PrivatePostgres, table: str) -> bool:
    """Whether every point is stored or claimed (the sweep needs no more claims)."""
    engine = create_engine(server.url)
    try:
        with engine.connect() as conn:
            if not conn.dialect.has_table(conn, table):
                return False
            rows = conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()
            claimed = conn.execute(
                select(func.count())
                .select_from(claims_table)
                .where(claims_table.c.table_name == table)
            ).scalar_one()
    finally:
        engine.dispose()
    return int(rows) + int(claimed) >= POINTS


def _outage_seen(tmp_path: Path) -> bool:
    return any("cannot be reached" in line for line in _warnings(tmp_path))


def test_server_restarted_mid_sweep(
    private_pg: PrivatePostgres, tmp_path: Path, tally: Counter[str]
) -> None:
    """The server goes away and comes back: the sweep completes and nothing is lost or redone."""
    table = mw.new_table_name()
    expected = expected_ids(0, POINTS)
    calls = tmp_path / "calls.log"
    proc = _sweep(private_pg, table, tmp_path)
    try:
        wait_for(lambda: _all_claimed(private_pg, table), DEADLINE, "every point claimed")
        private_pg.stop("fast")
        wait_for(lambda: _outage_seen(tmp_path), DEADLINE, "the sweep to notice the outage")
    finally:
        if not private_pg.running():
            private_pg.start()
    ended = finish(proc)
    assert ended.returncode == 0, ended.err[-3000:]
    warnings = _warnings(tmp_path)
    assert len(warnings) <= MOST_WARNINGS, "\n".join(warnings[:20])
    assert any("answers again" in line for line in warnings)
    snap = snapshot(private_pg.url, table, tmp_path / "results", expected)
    assert set(snap.rows) == set(expected)
    assert sorted(lines(calls)) == sorted(expected), "runs lost or redone after the outage"
    tally["database outages survived"] += 1


def test_server_down_until_the_sweep_gives_up(
    private_pg: PrivatePostgres, tmp_path: Path, tally: Counter[str]
) -> None:
    """The server stays down: CommitError says how many runs wait; the next sweep indexes them."""
    table = mw.new_table_name()
    expected = expected_ids(0, POINTS)
    calls = tmp_path / "calls.log"
    proc = _sweep(private_pg, table, tmp_path, "--patience", "3")
    try:
        wait_for(lambda: _all_claimed(private_pg, table), DEADLINE, "every point claimed")
        private_pg.stop("fast")
        ended = finish(proc)
    finally:
        if not private_pg.running():
            private_pg.start()
    assert ended.returncode == 4, f"not a CommitError: {ended.err[-3000:]}"
    assert "ingest" in ended.err
    warnings = _warnings(tmp_path)
    assert len(warnings) <= MOST_WARNINGS, "\n".join(warnings[:20])
    unstored = int(ended.out.split("unstored ", 1)[1].split()[0])
    stored_before = set(snapshot(private_pg.url, table, tmp_path / "results", expected).rows)
    called = set(lines(calls))
    assert called == set(expected)
    assert unstored >= 1
    assert unstored == len(called - stored_before), "CommitError miscounts the waiting runs"

    again = finish(_sweep(private_pg, table, tmp_path))
    assert again.returncode == 0, again.err[-3000:]
    snap = snapshot(private_pg.url, table, tmp_path / "results", expected)
    assert set(snap.rows) == set(expected)
    assert len(lines(calls)) == POINTS, "runs that waited on disk were run again"
    tally["database outages survived"] += 1
    tally["runs kept through an outage"] += unstored
