"""Waits that end: a lock held by someone else ends in a clear error, and a wait for another
process's claim is announced, naming whose it is and until when."""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from pathlib import Path

import _manywriters as mw
import pytest
from sqlalchemy import create_engine, insert, text
from sqlalchemy.exc import DBAPIError

from entropic import Store
from entropic._db import _server_defaults, make_engine
from entropic._internal import claims_table


def test_server_connections_get_a_connect_timeout_lock_timeout_and_utc() -> None:
    pg = _server_defaults(make_engine("postgresql+psycopg://u@127.0.0.1/db").url)
    assert pg["connect_timeout"] == 10
    assert "lock_timeout=60000" in pg["options"]
    assert "timezone=UTC" in pg["options"]
    my = _server_defaults(make_engine("mysql+pymysql://u@127.0.0.1/db").url)
    assert my["connect_timeout"] == 10
    assert "innodb_lock_wait_timeout = 60" in my["init_command"]
    # what the URL says wins
    own = _server_defaults(make_engine("postgresql+psycopg://u@127.0.0.1/db?connect_timeout=3").url)
    assert "connect_timeout" not in own


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_a_lock_held_elsewhere_ends_in_an_error_not_a_hang(
    kind: str, table_name: str, tmp_path: Path
) -> None:
    url = mw.SERVER_URLS[kind]
    problem = mw.reachable(url)
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{kind} not reachable: {problem} (CI is set)")
        pytest.skip(f"{kind} not reachable: {problem}")
    options = (
        {"connect_args": {"options": "-c lock_timeout=500"}}
        if kind == "postgresql"
        else {"connect_args": {"init_command": "SET innodb_lock_wait_timeout = 1"}}
    )
    store = Store(mw.record_call, mw.point_model(table_name), tmp_path / "r", ".txt", url)
    point = mw.points(1, 2)[0]

    def runner(params: dict[str, object]) -> None:
        Path(str(params["result_file"])).write_text("x")

    store.runner = runner
    record = store.run_or_retrieve(point)
    store.close()
    quick = Store(
        runner, mw.point_model(table_name), tmp_path / "r", ".txt", url, engine_options=options
    )
    holder = create_engine(url)
    try:
        with holder.connect() as conn, conn.begin():
            conn.execute(
                text(f"SELECT id FROM {table_name} WHERE id = :id FOR UPDATE"), {"id": record.id}
            )
            started = time.monotonic()
            with pytest.raises(DBAPIError):
                quick.run(point)  # its upsert needs the row's lock
            assert time.monotonic() - started < 30
    finally:
        holder.dispose()
        quick.close()
        mw.drop_table(url, table_name)


def test_waiting_for_another_process_s_claim_is_announced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'wait.sqlite3'}"
    table = mw.new_table_name()
    calls: list[str] = []

    def runner(params: dict[str, object]) -> None:
        calls.append(str(params["id"]))
        Path(str(params["result_file"])).write_text("x")

    store = Store(runner, mw.point_model(table), tmp_path / "r", ".txt", url)
    point = mw.points(1, 2)[0]
    run_id = store.key(point)
    owner = "another-host:4242:abcdef"
    until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=7)
    with store.engine.begin() as conn:
        conn.execute(
            insert(claims_table),
            [{"table_name": table, "run_id": run_id, "owner": owner, "expires_at": until}],
        )
    with caplog.at_level(logging.WARNING, logger="entropic"):
        record = store.run_or_retrieve(point)  # waits until the claim lapses, then runs it
    store.close()
    assert record.id == run_id
    assert calls == [run_id]
    said = [r.getMessage() for r in caplog.records if "waiting for" in r.getMessage()]
    assert len(said) == 1
    assert owner in said[0]
    assert until.isoformat(timespec="seconds")[:16] in said[0]
