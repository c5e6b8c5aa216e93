"""A dead database: a private PostgreSQL server stopped (and started again) mid-sweep.

Every finished run ends up stored: the batch writer retries with a backoff and says so in a
couple of warning lines, not thousands; the sweep completes, or raises ``CommitError`` saying how
many runs wait on disk, and the next sweep or ``ingest`` indexes them without running them again.

Twice the server is stopped while the sweep holds claims on all its misses and a runner call is
held at a gate, so that what meets the outage is the committing of finished runs; once it is
stopped at a moment the sweep still has misses to claim and look up.
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
        "0,1",
        "--log",
        str(tmp_path / "entropic.log"),
        "--hold-at",
        str(POINTS - 4),
        "--gate",
        str(tmp_path / "gate"),
        *extra,
    )


def _warnings(tmp_path: Path) -> list[str]:
    try:
        log = (tmp_path / "entropic.log").read_text()
    except FileNotFoundError:
        return []
    return [line for line in log.splitlines() if " WARNING " in line]


def _rows(server: PrivatePostgres, table: str) -> int:
    engine = create_engine(server.url)
    try:
        with engine.connect() as conn:
            if not conn.dialect.has_table(conn, table):
                return 0  # the sweep has not made it yet
            return int(conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one())
    finally:
        engine.dispose()


def _all_claimed(server: PrivatePostgres, table: str) -> bool:
    """Whether every point is stored or claimed (the sweep needs no more claims)."""
    return _all_claimed_of(server, table, POINTS)


def _all_claimed_of(server: PrivatePostgres, table: str, points: int) -> bool:
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
    return int(rows) + int(claimed) >= points


def _stop_while_held(server: PrivatePostgres, table: str, tmp_path: Path) -> None:
    """Stop the server while the sweep holds claims on all its misses and has runs to go."""
    gate = tmp_path / "gate"
    wait_for(Path(f"{gate}.held").exists, DEADLINE, "the held runner call")
    wait_for(lambda: _rows(server, table) >= POINTS // 2, DEADLINE, "the first commit")
    assert _all_claimed(server, table), "the sweep still claims: the outage would meet that"
    server.stop("fast")
    gate.touch()


def _outage_seen(tmp_path: Path) -> bool:
    return any("cannot be reached" in line or "not answer" in line for line in _warnings(tmp_path))


def test_server_restarted_mid_sweep(
    private_pg: PrivatePostgres, tmp_path: Path, tally: Counter[str]
) -> None:
    """The server goes away and comes back: the sweep completes and nothing is lost or redone."""
    table = mw.new_table_name()
    expected = expected_ids(0, POINTS)
    calls = tmp_path / "calls.log"
    proc = _sweep(private_pg, table, tmp_path)
    try:
        _stop_while_held(private_pg, table, tmp_path)
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
        _stop_while_held(private_pg, table, tmp_path)
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


def test_server_restarted_while_the_sweep_claims(
    private_pg: PrivatePostgres, tmp_path: Path, tally: Counter[str]
) -> None:
    """An outage while the sweep still claims and looks up its misses: it waits, then goes on."""
    table = mw.new_table_name()
    points = 240
    expected = expected_ids(0, points)
    calls = tmp_path / "calls.log"
    proc = spawn(
        "sweep",
        private_pg.url,
        table,
        str(tmp_path / "results"),
        "--calls",
        str(calls),
        "--stop",
        str(points),
        "--pause",
        "2,5",
        "--log",
        str(tmp_path / "entropic.log"),
    )
    try:
        wait_for(lambda: _rows(private_pg, table) >= 20, DEADLINE, "the first commit")
        assert not _all_claimed_of(private_pg, table, points), "nothing left to claim"
        private_pg.stop("fast")
        wait_for(lambda: _outage_seen(tmp_path), DEADLINE, "the sweep to notice the outage")
    finally:
        if not private_pg.running():
            private_pg.start()
    ended = finish(proc)
    assert ended.returncode == 0, ended.err[-3000:]
    warnings = _warnings(tmp_path)
    assert len(warnings) <= MOST_WARNINGS, "\n".join(warnings[:20])
    snap = snapshot(private_pg.url, table, tmp_path / "results", expected)
    assert set(snap.rows) == set(expected)
    assert sorted(lines(calls)) == sorted(expected), "runs lost or redone after the outage"
    tally["database outages survived"] += 1
