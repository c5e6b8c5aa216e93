"""Racing writers: many processes sweeping overlapping, shuffled grids on PostgreSQL and MariaDB
at once, and a writer frozen (SIGSTOP) past its claim lease while another finishes its work.

No process may die of a deadlock or a raw serialisation failure, every point is stored once, and
the runner runs once per point (a frozen writer re-checks its claims and does not redo them).
"""

from __future__ import annotations

import datetime as dt
import random
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _chaos import (
    DEADLINE,
    expected_ids,
    finish,
    lines,
    mw,
    skip_or_fail,
    snapshot,
    spawn,
    wait_for,
)
from sqlalchemy import create_engine, select

from entropic._internal import claims_table

PROCESSES = 10
GRID = 200
SHARE = 80  # points per process
#: What a deadlock or a raw serialisation failure looks like on either server.
FATAL = (
    "deadlock",
    "Deadlock",
    "could not serialize",
    "SerializationFailure",
    "40001",
    "40P01",
    "1213",
    "Lock wait timeout",
    "Traceback",
)


@pytest.fixture(params=["postgresql", "mysql"])
def server_url(request: pytest.FixtureRequest) -> str:
    url = mw.SERVER_URLS[request.param]
    problem = mw.reachable(url)
    if problem is not None:
        skip_or_fail(f"{request.param} server not reachable at {url}: {problem}")
    return url


@pytest.fixture
def table(server_url: str) -> Iterator[str]:
    name = mw.new_table_name()
    yield name
    mw.drop_table(server_url, name)


def test_overlapping_shuffled_sweeps(
    server_url: str, table: str, tmp_path: Path, rng: random.Random, tally: Counter[str]
) -> None:
    """Ten processes sweep overlapping grids in shuffled orders: no deadlock, each point once."""
    results, calls, go = tmp_path / "results", tmp_path / "calls.log", tmp_path / "go"
    expected = expected_ids(0, GRID)
    procs = []
    try:
        for i in range(PROCESSES):
            start = rng.randrange(0, GRID - SHARE + 1)
            proc = spawn(
                "sweep",
                server_url,
                table,
                str(results),
                "--calls",
                str(calls),
                "--start",
                str(start),
                "--stop",
                str(start + SHARE),
                "--order",
                str(rng.randrange(1 << 30)),
                "--seed",
                str(i),
                "--pause",
                "0,1",
                "--go",
                str(go),
            )
            procs.append((start, proc))
        wait_for(lambda: len(list(tmp_path.glob("go.ready-*"))) == PROCESSES, DEADLINE, "all ready")
        go.touch()
        ended = [(start, finish(proc)) for start, proc in procs]
    finally:
        for _, proc in procs:
            if proc.poll() is None:
                proc.kill()
    for start, end in ended:
        bad = [word for word in FATAL if word in end.err]
        assert not bad, f"a sweeper died or logged {bad}:\n{end.err[-3000:]}"
        assert end.returncode == 0, end.err[-3000:]
        assert sorted(end.out.split()) == sorted(expected_ids(start, start + SHARE))
    covered = set().union(*(expected_ids(s, s + SHARE) for s, _ in ended))
    counts = mw.call_counts(calls)
    assert set(counts) == covered
    assert set(counts.values()) == {1}, "a point ran more than once"
    snap = snapshot(server_url, table, results, expected)
    assert set(snap.rows) == covered
    tally["racing sweep processes"] += PROCESSES


def _claims_of(url: str, table: str) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    select(claims_table.c.owner, claims_table.c.expires_at).where(
                        claims_table.c.table_name == table
                    )
                )
            )
    finally:
        engine.dispose()


def _expired(url: str, table: str) -> bool:
    now = dt.datetime.now(dt.UTC)
    for claim in _claims_of(url, table):
        expires = claim.expires_at
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=dt.UTC)
        if expires > now:
            return False
    return True


def test_frozen_writer_does_not_redo_or_overwrite(
    server_url: str, table: str, tmp_path: Path, tally: Counter[str]
) -> None:
    """A sweep frozen past its lease: another finishes its points; thawed, it redoes nothing."""
    results, calls = tmp_path / "results", tmp_path / "calls.log"
    points = 40
    expected = expected_ids(0, points)

    def sweeper(tag: str) -> Any:
        return spawn(
            "sweep",
            server_url,
            table,
            str(results),
            "--calls",
            str(calls),
            "--stop",
            str(points),
            "--pause",
            "10,20",
            "--lease",
            "2",
            "--tag",
            tag,
        )

    frozen = sweeper("frozen")
    other = None
    try:
        # freeze it while it has claims it has not started, mid-run
        wait_for(lambda: len(lines(calls)) >= 6, DEADLINE, "the first runs")
        frozen.send_signal(signal.SIGSTOP)
        stopped_at = set(lines(calls))
        assert _claims_of(server_url, table), "frozen without a claim"
        wait_for(
            lambda: _expired(server_url, table), DEADLINE, "the frozen writer's claims to lapse"
        )
        other = sweeper("other")
        ended_other = finish(other)
        assert ended_other.returncode == 0, ended_other.err[-3000:]
        finished_by_other = snapshot(server_url, table, results, expected)
        assert set(finished_by_other.rows) == set(expected)
    finally:
        frozen.send_signal(signal.SIGCONT)
        if other is not None and other.poll() is None:
            other.kill()
    ended = finish(frozen)
    assert ended.returncode == 0, ended.err[-3000:]
    assert sorted(ended.out.split()) == sorted(expected)
    snap = snapshot(server_url, table, results, expected)
    assert set(snap.rows) == set(expected)
    counts = mw.call_counts(calls)
    redone = {i for i, n in counts.items() if n > 1}
    # only the run that was in flight when the writer froze may have run twice
    assert len(redone) <= 1, f"the thawed writer redid {len(redone)} runs"
    assert redone <= stopped_at
    overwritten = {
        i
        for i, tag in snap.files.items()
        if tag == "frozen" and finished_by_other.files[i] == "other"
    }
    assert overwritten <= redone, f"the thawed writer overwrote {len(overwritten)} results"
    tally["frozen writers thawed"] += 1
