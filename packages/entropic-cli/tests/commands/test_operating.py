"""``entropic status``, ``coverage``, ``failures`` (and ``show``), ``retry`` and ``forget``."""

from __future__ import annotations

import json

import pytest
from _cli_helpers import Invoke, Point, StoreFiles, fail_on_three, write_point

from entropic import Store, SweepError

RUNNER = "_cli_helpers:write_point"
MODEL = "_cli_helpers:Point"

#: Points beyond the standard store's: n = 3 fails, n = 4 works.
MORE = [{"n": n, "x": x, "label": "more"} for n in (3, 4) for x in (0.5, 1.5)]


@pytest.fixture
def failed(store: StoreFiles) -> StoreFiles:
    """The standard store, and a sweep in which the two points with n = 3 failed."""
    s = Store(fail_on_three, Point, store.results_dir, ".txt", store.db_url)
    with s, pytest.raises(SweepError):
        s.sweep(MORE)
    return store


def test_status_shows_stored_failed_and_the_sweep(invoke: Invoke, failed: StoreFiles) -> None:
    out = invoke("status").output
    assert "table cli_points: 8 stored, 0 running, 2 failed" in out
    assert "failures by type:" in out
    assert "ValueError" in out
    lines = [line.split() for line in out.splitlines()]
    sweeps = [line for line in lines if "failed" in line and "4/4" in line]
    assert len(sweeps) == 1, out
    assert "serial" in sweeps[0]


def test_status_as_json(invoke: Invoke, failed: StoreFiles) -> None:
    data = json.loads(invoke("status", "--format", "json").output)
    (table,) = data["tables"]
    assert (table["table"], table["stored"], table["failed"]) == ("cli_points", 8, 2)
    assert table["failures"] == {"ValueError": 2}
    latest = table["sweeps"][0]
    assert (latest["state"], latest["total"], latest["done"], latest["failed"]) == (
        "failed",
        4,
        4,
        2,
    )


def test_status_watch_redraws_and_stops(invoke: Invoke, failed: StoreFiles) -> None:
    out = invoke("status", "--watch", "--interval", "0.1", "--count", "3").output
    assert out.count("table cli_points:") == 3
    lines = invoke("status", "--watch", "--interval", "0.1", "--count", "2", "--format", "json")
    snapshots = [json.loads(line) for line in lines.output.splitlines()]
    assert len(snapshots) == 2
    assert snapshots[0]["tables"][0]["stored"] == 8


def test_coverage_draws_holes_failures_and_counts(invoke: Invoke, failed: StoreFiles) -> None:
    out = invoke("coverage", "--by", "n,x").output
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:-1]}
    assert out.splitlines()[0].split() == ["n", "\\", "x", "0.5", "1.5"]
    assert rows["1"] == ["1", "1"]
    assert rows["3"] == ["1", "1x", "1", "1x"]  # stored before, failed in the second sweep
    assert rows["4"] == ["1", "1"]
    assert "8 cells, 0 holes" in out
    out = invoke("coverage", "--by", "label,n").output
    assert "holes" in out
    assert " . " in out + " "
    csv_out = invoke("coverage", "--by", "n,x", "--format", "csv").output.splitlines()
    assert csv_out[0] == "n,x,done,failed,running"
    assert "3,0.5,1,1,0" in csv_out
    data = json.loads(invoke("coverage", "--by", "n", "--format", "json").output)
    assert data["by"] == ["n"]
    assert {"n": 3, "done": 2, "failed": 2, "running": 0} in data["cells"]


def test_coverage_refuses_a_column_that_is_not_a_parameter(
    invoke: Invoke, store: StoreFiles
) -> None:
    result = invoke("coverage", "--by", "n,created_at", code=2)
    assert "not a parameter" in result.output


def test_failures_lists_filters_and_shows_the_traceback(invoke: Invoke, failed: StoreFiles) -> None:
    out = invoke("failures").output
    assert out.count("three is not allowed") == 2
    assert invoke("failures", "--where", "x>1").output.count("three is not allowed") == 1
    assert "three" not in invoke("failures", "--type", "KeyError").output
    listed = json.loads(invoke("failures", "--format", "json").output)
    assert {f["params"]["x"] for f in listed} == {0.5, 1.5}
    run_id = listed[0]["run_id"]
    shown = invoke("failures", "show", run_id[:6]).output
    assert f"id          {run_id}" in shown or run_id in shown.splitlines()[0]
    assert "traceback:" in shown
    assert 'raise ValueError("three is not allowed")' in shown
    assert "ValueError: three is not allowed" in shown
    assert "history:" in shown
    assert "failed" in shown
    record = json.loads(invoke("failures", "show", run_id, "--format", "json").output)
    assert record["history"][0]["outcome"] == "failed"
    assert "no current failure" in invoke("failures", "show", "zzz", code=1).output


def test_retry_reruns_the_failed_runs_and_clears_them(invoke: Invoke, failed: StoreFiles) -> None:
    one = json.loads(invoke("failures", "--where", "x<1", "--format", "json").output)[0]
    out = invoke("retry", RUNNER, MODEL, one["run_id"], "--no-progress").output
    assert "retried 1 run(s): 1 stored" in out
    assert invoke("failures").output.count("three is not allowed") == 1
    out = invoke("retry", RUNNER, MODEL, "--all", "--no-progress").output
    assert "retried 1 run(s): 1 stored" in out
    assert "no failures to retry" in invoke("retry", RUNNER, MODEL, "--all").output
    with failed.open() as s:
        assert s.count() == 10


def test_retry_that_fails_again_says_so(invoke: Invoke, failed: StoreFiles) -> None:
    out = invoke("retry", "_cli_helpers:fail_on_three", MODEL, "--type", "ValueError", code=1)
    assert "2 of 2 retried runs failed again" in out.output
    data = json.loads(invoke("failures", "--format", "json").output)
    assert [f["attempt"] for f in data] == [2, 2]


def test_forget_needs_a_selection_and_clears(invoke: Invoke, failed: StoreFiles) -> None:
    assert "say which failures" in invoke("forget", code=2).output
    assert "forgot 1 failure" in invoke("forget", "--where", "x=0.5").output
    assert "forgot 1 failure" in invoke("forget", "--all").output
    assert invoke("failures", "--format", "json").output.strip() == "[]"


def test_commands_on_a_store_without_a_sweep(invoke: Invoke, store: StoreFiles) -> None:
    """The standard store's sweep had no failures: everything answers, nothing is failed."""
    assert "6 stored, 0 running, 0 failed" in invoke("status").output
    assert invoke("failures", "--format", "json").output.strip() == "[]"
    assert "no failures to retry" in invoke("retry", RUNNER, MODEL, "--all").output
    assert write_point  # the runner the store was made with
