"""entropic sweep: imports, grids, parameter files, dry runs, executors and Dask."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from _cli_helpers import Invoke, Point, StoreFiles, content
from click.testing import CliRunner, Result

from entropic import Store
from entropic_cli.main import cli

RUNNER = "_cli_helpers:write_point"
MODEL = "_cli_helpers:Point"


@pytest.fixture
def fresh(tmp_path: Path) -> StoreFiles:
    """Where a sweep may create a new store."""
    return StoreFiles(f"sqlite:///{tmp_path / 'new.sqlite3'}", tmp_path / "new-results")


@pytest.fixture
def sweep(runner: CliRunner, fresh: StoreFiles) -> Invoke:
    """Run ``entropic sweep ARGS --file-suffix .txt`` on :func:`fresh`; check the exit code."""

    def run(*args: str, code: int = 0) -> Result:
        result = runner.invoke(
            cli,
            ["sweep", *args, "--file-suffix", ".txt"],
            env=fresh.env,
            catch_exceptions=False,
        )
        assert result.exit_code == code, (result.exit_code, result.output)
        return result

    return run


def _stored(files: StoreFiles) -> dict[tuple[int, float, str], str]:
    with files.open() as s:
        return {(r.n, r.x, r.label): Path(r.result_file).read_text() for r in s}


def test_sweep_a_grid_then_everything_is_cached(sweep: Invoke, fresh: StoreFiles) -> None:
    grid = ["--grid", "n=1,2", "--grid", "x=0.5,1.5", "--grid", "label=a"]
    result = sweep(RUNNER, MODEL, *grid)
    assert result.stdout.endswith("4 parameter set(s): 0 cached, 4 ran\n")
    stored = _stored(fresh)
    assert set(stored) == {(n, x, "a") for n in (1, 2) for x in (0.5, 1.5)}
    for (n, x, label), text in stored.items():
        assert text == content({"n": n, "x": x, "label": label})
    again = sweep(RUNNER, MODEL, *grid)
    assert again.stdout.endswith("4 parameter set(s): 4 cached, 0 ran\n")


def test_sweep_shows_a_progress_bar_unless_told_not_to(sweep: Invoke) -> None:
    shown = sweep(RUNNER, MODEL, "--grid", "n=1,2", "--grid", "x=1", "--grid", "label=a")
    assert "2/2" in shown.stderr
    hidden = sweep(
        RUNNER, MODEL, "--grid", "n=3", "--grid", "x=1", "--grid", "label=a", "--no-progress"
    )
    assert hidden.stderr == ""


def test_dry_run_counts_cached_and_missing_without_running(
    sweep: Invoke, fresh: StoreFiles, tmp_path: Path
) -> None:
    grid = ["--grid", "n=1,2,3", "--grid", "x=0.5", "--grid", "label=a"]
    result = sweep(RUNNER, MODEL, *grid, "--dry-run")
    assert result.stdout == "3 parameter set(s): 0 cached, 3 would run\n"
    assert not (tmp_path / "new.sqlite3").exists()  # a dry run creates no database
    sweep(RUNNER, MODEL, "--grid", "n=1", "--grid", "x=0.5", "--grid", "label=a")
    result = sweep(RUNNER, MODEL, *grid, "--dry-run")
    assert result.stdout == "3 parameter set(s): 1 cached, 2 would run\n"
    assert len(_stored(fresh)) == 1


def test_params_file_json_array_jsonl_and_with_a_grid(
    sweep: Invoke, fresh: StoreFiles, tmp_path: Path
) -> None:
    array = tmp_path / "sets.json"
    array.write_text(
        json.dumps([{"n": 1, "x": 0.5, "label": "a"}, {"n": 2, "x": 0.5, "label": "b"}])
    )
    assert sweep(RUNNER, MODEL, "--params", str(array)).stdout.endswith("2 ran\n")
    lines = tmp_path / "sets.jsonl"
    lines.write_text('{"n": 3, "x": 0.5, "label": "c"}\n\n{"n": 1, "x": 0.5, "label": "a"}\n')
    result = sweep(RUNNER, MODEL, "--params", str(lines))
    assert result.stdout.endswith("2 parameter set(s): 1 cached, 1 ran\n")
    base = tmp_path / "base.jsonl"
    base.write_text('{"label": "g", "x": 2.0}\n{"label": "h", "x": 3.0}\n')
    result = sweep(RUNNER, MODEL, "--params", str(base), "--grid", "n=7,8")
    assert result.stdout.endswith("4 parameter set(s): 0 cached, 4 ran\n")
    assert {(7, 2.0, "g"), (8, 2.0, "g"), (7, 3.0, "h"), (8, 3.0, "h")} <= set(_stored(fresh))


def test_sweep_on_an_existing_store_reuses_its_runs(invoke: Invoke, store: StoreFiles) -> None:
    points = ["--grid", "n=1,2,3,4", "--grid", "x=0.5,1.5", "--grid", "label=odd"]
    result = invoke(
        "sweep", RUNNER, MODEL, *points, "--grid", "flag=false", "--file-suffix", ".txt"
    )
    # the odd points of the store (n = 1 and 3, flag false) are hits
    assert result.stdout.endswith("8 parameter set(s): 4 cached, 4 ran\n")


def test_sweep_with_a_named_executor(sweep: Invoke) -> None:
    result = sweep(
        RUNNER, MODEL, "--grid", "n=1", "--grid", "x=1", "--grid", "label=a", "--executor", "serial"
    )
    assert result.stdout.endswith("1 ran\n")


def test_sweep_imports_from_the_working_directory(
    runner: CliRunner, tmp_path: Path, fresh: StoreFiles
) -> None:
    (tmp_path / "cli_cwd_sim.py").write_text(
        textwrap.dedent(
            """
            from pathlib import Path
            from entropic import Base, Mapped

            class Decay(Base):
                __tablename__ = "cli_cwd_decay"
                rate: Mapped[float]

            def run(params):
                Path(params["result_file"]).write_text(str(params["rate"] * 2))
            """
        )
    )
    sys.modules.pop("cli_cwd_sim", None)
    result = runner.invoke(
        cli,
        [
            "sweep",
            "cli_cwd_sim:run",
            "cli_cwd_sim:Decay",
            "--grid",
            "rate=0.5,1.5",
            "--file-suffix",
            ".out",
        ],
        env=fresh.env,
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.read_text() for p in fresh.results_dir.glob("*.out")) == ["1.0", "3.0"]
    rows = json.loads(runner.invoke(cli, ["ls", "--format", "json"], env=fresh.env).stdout)
    assert sorted(r["rate"] for r in rows) == [0.5, 1.5]


def test_failed_runs_are_reported_one_line_each_and_the_rest_stored(
    sweep: Invoke, fresh: StoreFiles
) -> None:
    result = sweep(
        "_cli_helpers:fail_on_three",
        MODEL,
        "--grid",
        "n=1,2,3",
        "--grid",
        "x=1",
        "--grid",
        "label=a",
        "--no-progress",
        code=1,
    )
    lines = [line for line in result.stderr.splitlines() if not line.startswith("note: ")]
    assert len(lines) == 2
    assert lines[0].startswith("run ")
    assert lines[0].endswith("failed: ValueError: three is not allowed")
    assert lines[1] == "Error: 1 of 3 runs failed (2 stored)"
    assert "Traceback" not in result.output
    assert sorted(n for n, _x, _l in _stored(fresh)) == [1, 2]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["nocolon", MODEL, "--grid", "n=1"], 2, "RUNNER must be given as module:attribute"),
        (["no_such_module_x:run", MODEL, "--grid", "n=1"], 2, "no module named 'no_such_module_x'"),
        (["_cli_helpers:nope", MODEL, "--grid", "n=1"], 2, "has no attribute 'nope'"),
        (["_cli_helpers:NOT_CALLABLE", MODEL, "--grid", "n=1"], 2, "is not callable"),
        ([RUNNER, "_cli_helpers:write_point", "--grid", "n=1"], 2, "not a mapped subclass"),
        ([RUNNER, MODEL], 2, "nothing to sweep"),
        ([RUNNER, MODEL, "--grid", "n"], 2, "--grid expects KEY=VALUE"),
        ([RUNNER, MODEL, "--grid", "n=1", "--grid", "n=2"], 2, "gives 'n' twice"),
        ([RUNNER, MODEL, "--grid", "n=1", "--executor", "nope"], 1, "unknown executor 'nope'"),
        ([RUNNER, MODEL, "--grid", "n=1", "--grid", "bogus=1"], 1, "unknown parameter(s) 'bogus'"),
        ([RUNNER, MODEL, "--grid", "n=1", "--params", "missing.json"], 2, "cannot read --params"),
    ],
)
def test_sweep_errors_are_one_line(sweep: Invoke, args: list[str], code: int, message: str) -> None:
    result = sweep(*args, code=code)
    assert message in result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("note: ")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output


def test_params_file_must_hold_objects(sweep: Invoke, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    assert "is not a JSON object" in sweep(RUNNER, MODEL, "--params", str(bad), code=2).stderr
    bad.write_text("{not json")
    assert (
        "not a JSON array or JSON lines"
        in sweep(RUNNER, MODEL, "--params", str(bad), code=2).stderr
    )


def test_table_option_must_match_the_model(runner: CliRunner, fresh: StoreFiles) -> None:
    result = runner.invoke(
        cli, ["--table", "other", "sweep", RUNNER, MODEL, "--grid", "n=1"], env=fresh.env
    )
    assert result.exit_code == 2
    assert "does not match the model's table 'cli_points'" in result.stderr


def test_scheduler_needs_entropic_dask(sweep: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "entropic_dask", None)  # as if it were not installed
    result = sweep(
        RUNNER,
        MODEL,
        "--grid",
        "n=1",
        "--grid",
        "x=1",
        "--grid",
        "label=a",
        "--scheduler",
        "tcp://127.0.0.1:8786",
        code=1,
    )
    assert result.stderr.startswith("Error: --scheduler needs the entropic-dask package")
    assert len(result.stderr.splitlines()) == 1


def test_scheduler_that_does_not_answer(sweep: Invoke) -> None:
    pytest.importorskip("entropic_dask")
    result = sweep(
        RUNNER,
        MODEL,
        "--grid",
        "n=1",
        "--grid",
        "x=1",
        "--grid",
        "label=a",
        "--scheduler",
        "tcp://127.0.0.1:1",
        "--scheduler-timeout",
        "1",
        code=1,
    )
    assert result.stderr.startswith("Error: cannot reach the Dask scheduler at tcp://127.0.0.1:1")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.timeout(120)
def test_sweep_on_a_dask_scheduler(sweep: Invoke, fresh: StoreFiles) -> None:
    pytest.importorskip("entropic_dask")
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0"
    ) as cluster:
        grid = ["--grid", "n=1,2,3", "--grid", "x=0.5,1.5", "--grid", "label=d"]
        result = sweep(
            RUNNER, MODEL, *grid, "--scheduler", cluster.scheduler_address, "--no-progress"
        )
        assert result.stdout.endswith("6 parameter set(s): 0 cached, 6 ran\n")
    stored = _stored(fresh)
    assert len(stored) == 6
    with Store(lambda p: None, Point, fresh.results_dir, ".txt", fresh.db_url) as s:
        hosts = {r.custom_data.get("host") for r in s}
    assert hosts
    assert None not in hosts


GRID_NEW = ["--grid", "n=9", "--grid", "x=0.5", "--grid", "label=new"]


def test_sweep_from_any_folder_uses_the_recorded_results_dir_and_suffix(
    runner: CliRunner, store: StoreFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = runner.invoke(
        cli,
        ["sweep", RUNNER, MODEL, "--db", store.db_url, "--no-progress", *GRID_NEW],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    with store.open() as s:
        record = s.retrieve({"n": 9, "x": 0.5, "label": "new"})
    assert record is not None
    assert Path(record.result_file) == store.results_dir / f"{record.id}.txt"
    assert Path(record.result_file).is_file()
    assert list(elsewhere.iterdir()) == []


def test_sweep_on_a_database_that_does_not_exist_says_it_creates_one(
    sweep: Invoke, fresh: StoreFiles, tmp_path: Path
) -> None:
    grid = ["--grid", "n=1", "--grid", "x=0.5", "--grid", "label=a", "--no-progress"]
    result = sweep(RUNNER, MODEL, *grid)
    assert result.stderr == (
        f"note: no database at {tmp_path / 'new.sqlite3'}: creating a new, empty store\n"
    )
    assert sweep(RUNNER, MODEL, *grid).stderr == ""  # it exists now


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5400", 5400.0),
        ("1h50m", 6600.0),
        ("90m", 5400.0),
        ("45s", 45.0),
        ("2d", 172800.0),
        ("0.5s", 0.5),
        ("1h 30m", 5400.0),
    ],
)
def test_time_limit_takes_seconds_or_units(text: str, seconds: float) -> None:
    from entropic_cli._options import Duration

    assert Duration().convert(text, None, None) == seconds


@pytest.mark.parametrize("text", ["", "abc", "1x", "0", "h"])
def test_time_limit_refuses_what_is_not_a_duration(text: str) -> None:
    import click

    from entropic_cli._options import Duration

    with pytest.raises(click.BadParameter):
        Duration().convert(text, None, None)


def _slow_module(tmp_path: Path) -> None:
    (tmp_path / "cli_slow_sim.py").write_text(
        textwrap.dedent(
            """
            import time
            from pathlib import Path
            from entropic import Base, Mapped

            class Slow(Base):
                __tablename__ = "cli_slow"
                k: Mapped[int]

            def run(params):
                time.sleep(0.2)  # the work a run takes
                Path(params["result_file"]).write_text(str(params["k"]))
            """
        )
    )
    sys.modules.pop("cli_slow_sim", None)


def test_time_limit_stops_starting_runs_exits_3_and_resumes(
    runner: CliRunner, tmp_path: Path, fresh: StoreFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    _slow_module(tmp_path)
    monkeypatch.chdir(tmp_path)
    args = ["sweep", "cli_slow_sim:run", "cli_slow_sim:Slow", "--grid", "k=0,1,2,3,4,5,6,7,8,9"]
    args += ["--file-suffix", ".out", "--no-progress"]
    stopped = runner.invoke(cli, [*args, "--time-limit", "0.5s"], env=fresh.env)
    assert stopped.exit_code == 3, stopped.output
    assert "time limit reached" in stopped.stderr
    assert "run the same command again to resume" in stopped.stderr
    done = len(list(fresh.results_dir.glob("*.out")))
    assert 1 <= done < 10
    resumed = runner.invoke(cli, args, env=fresh.env, catch_exceptions=False)
    assert resumed.exit_code == 0, resumed.output
    assert resumed.stdout.endswith(f"10 parameter set(s): {done} cached, {10 - done} ran\n")


def test_sweep_on_the_scheduler_named_in_a_scheduler_file(
    sweep: Invoke, fresh: StoreFiles, tmp_path: Path
) -> None:
    pytest.importorskip("entropic_dask")
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0"
    ) as cluster:
        scheduler_file = tmp_path / "scheduler.json"
        scheduler_file.write_text(json.dumps({"address": cluster.scheduler_address}))
        grid = ["--grid", "n=1,2", "--grid", "x=0.5", "--grid", "label=f"]
        result = sweep(
            RUNNER, MODEL, *grid, "--scheduler-file", str(scheduler_file), "--no-progress"
        )
        assert result.stdout.endswith("2 parameter set(s): 0 cached, 2 ran\n")
    missing = sweep(RUNNER, MODEL, *grid, "--scheduler-file", str(tmp_path / "nope.json"), code=1)
    assert "no scheduler file" in missing.stderr


GRID_THREE = ["--grid", "n=1,2,3", "--grid", "x=0.5", "--grid", "label=a", "--no-progress"]


def _failures(runner: CliRunner, files: StoreFiles) -> list[dict[str, Any]]:
    listed = runner.invoke(cli, ["failures", "--format", "json"], env=files.env)
    assert listed.exit_code == 0, listed.output
    found: list[dict[str, Any]] = json.loads(listed.stdout)
    return found


def test_retries_try_a_failed_run_again(
    sweep: Invoke, runner: CliRunner, fresh: StoreFiles, tmp_path: Path
) -> None:
    flaky = "_cli_helpers:fail_first_on_two"
    once = sweep(flaky, MODEL, *GRID_THREE, code=1)
    assert once.stderr.splitlines()[-1] == "Error: 1 of 3 runs failed (2 stored)"
    assert "failed: RuntimeError: two fails the first time" in once.stderr
    # the same runner on new points, with one retry: the point that fails at first is stored
    points = ["--grid", "n=1,2,3", "--grid", "x=0.5", "--grid", "label=b", "--no-progress"]
    retried = sweep(flaky, MODEL, *points, "--retries", "1", "--retry-backoff", "0")
    assert retried.stdout.endswith("3 parameter set(s): 0 cached, 3 ran\n")
    assert sorted((n, label) for n, _x, label in _stored(fresh)) == [
        (1, "a"),
        (1, "b"),
        (2, "b"),
        (3, "a"),
        (3, "b"),
    ]
    assert sorted(p.read_text() for p in tmp_path.glob("attempts-*.txt")) == ["1", "2"]
    assert [f["params"]["label"] for f in _failures(runner, fresh)] == ["a"]


def test_retries_count_every_attempt_of_a_run_that_keeps_failing(
    sweep: Invoke, runner: CliRunner, fresh: StoreFiles
) -> None:
    args = ["_cli_helpers:fail_on_three", MODEL, *GRID_THREE, "--retry-backoff", "0"]
    result = sweep(*args, "--retries", "2", code=1)
    assert result.stderr.splitlines()[-1] == "Error: 1 of 3 runs failed (2 stored)"
    (failure,) = _failures(runner, fresh)
    assert (failure["params"]["n"], failure["attempt"]) == (3, 3)


def _pauses(caplog: pytest.LogCaptureFixture) -> list[float]:
    """The pauses entropic's log announced before retrying a run, in seconds."""
    found = (re.search(r"trying it again in ([0-9.]+) s", r.getMessage()) for r in caplog.records)
    return [float(m.group(1)) for m in found if m is not None]


def test_retry_backoff_sets_the_pause_before_each_retry(
    sweep: Invoke, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="entropic")
    grid = ["--grid", "n=3", "--grid", "x=0.5", "--grid", "label=a", "--no-progress"]
    args = ["_cli_helpers:fail_on_three", MODEL, *grid, "--retries", "2"]
    sweep(*args, "--retry-backoff", "0.1", code=1)
    assert _pauses(caplog) == [0.1, 0.2]  # the backoff given, then twice as long
    caplog.clear()
    sweep(*args, "--retry-backoff", "0", "--grid", "flag=true", code=1)
    assert _pauses(caplog) == [0.0, 0.0]


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--retries", "-1"),
        ("--retries", "1.5"),
        ("--retry-backoff", "-0.5"),
        ("--retry-backoff", "soon"),
    ],
)
def test_retry_options_refuse_what_is_out_of_range(
    sweep: Invoke, fresh: StoreFiles, option: str, value: str
) -> None:
    result = sweep(RUNNER, MODEL, *GRID_THREE, option, value, code=2)
    assert f"Invalid value for '{option}'" in result.stderr
    assert not fresh.results_dir.exists()  # nothing ran


def test_skip_failed_leaves_alone_the_runs_that_failed_before(
    sweep: Invoke, runner: CliRunner, fresh: StoreFiles
) -> None:
    sweep("_cli_helpers:fail_on_three", MODEL, *GRID_THREE, code=1)
    (failure,) = _failures(runner, fresh)
    # the runner works now, but --skip-failed does not start the run that failed
    skipped = sweep(RUNNER, MODEL, *GRID_THREE, "--skip-failed", code=1)
    assert (
        f"run {failure['run_id']} not started: it failed 1 time(s) before, last with ValueError"
        in skipped.stderr
    )
    assert skipped.stderr.splitlines()[-1] == (
        "Error: 1 not started: they failed 1 or more times before (--skip-failed; "
        "'entropic retry' or a sweep without it runs them again)"
    )
    assert sorted(n for n, _x, _l in _stored(fresh)) == [1, 2]
    # with one retry allowed, one failed attempt is not enough to be skipped
    retried = sweep(RUNNER, MODEL, *GRID_THREE, "--skip-failed", "--retries", "1")
    assert retried.stdout.endswith("3 parameter set(s): 2 cached, 1 ran\n")
    assert sorted(n for n, _x, _l in _stored(fresh)) == [1, 2, 3]
    assert _failures(runner, fresh) == []


def test_without_skip_failed_a_run_that_failed_before_runs_again(
    sweep: Invoke, runner: CliRunner, fresh: StoreFiles
) -> None:
    sweep("_cli_helpers:fail_on_three", MODEL, *GRID_THREE, code=1)
    sweep(RUNNER, MODEL, *GRID_THREE, "--skip-failed", code=1)
    again = sweep(RUNNER, MODEL, *GRID_THREE)
    assert again.stdout.endswith("3 parameter set(s): 2 cached, 1 ran\n")
    assert sorted(n for n, _x, _l in _stored(fresh)) == [1, 2, 3]
    assert _failures(runner, fresh) == []


@pytest.mark.timeout(120)
def test_no_fallback_refuses_to_run_here_what_the_cluster_cannot(
    sweep: Invoke, fresh: StoreFiles
) -> None:
    pytest.importorskip("entropic_dask")
    from distributed import LocalCluster

    from entropic_dask import DaskFallbackWarning

    unpicklable = "_cli_helpers:UNPICKLABLE"  # works here, cannot be sent to a worker
    grid = ["--grid", "n=1,2,3", "--grid", "x=0.5", "--grid", "label=u", "--no-progress"]
    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol="tcp",  # reachable from another process
        host="127.0.0.1",
        dashboard_address=":0",
    ) as cluster:
        on = ["--scheduler", cluster.scheduler_address]
        # the installed script, in a process of its own: its stderr holds all it printed, what
        # distributed's loggers print too (they write to the stderr they found at import)
        script = shutil.which("entropic")
        assert script is not None, "the entropic script is not installed in this environment"
        helpers = str(Path(__file__).parents[1])  # where _cli_helpers is
        path = os.pathsep.join(p for p in (helpers, os.environ.get("PYTHONPATH")) if p)
        command = [script, "sweep", unpicklable, MODEL, *grid, *on, "--file-suffix", ".txt"]
        refused = subprocess.run(
            [*command, "--no-fallback"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **fresh.env, "PYTHONPATH": path},
        )
        assert refused.returncode == 1, refused.stderr
        assert "Traceback" not in refused.stderr
        lines = [line for line in refused.stderr.splitlines() if not line.startswith("note: ")]
        assert len(lines) == 1, refused.stderr
        assert lines[0].startswith("Error: entropic-dask: ")
        assert "could not run on the Dask cluster, and fallback is off" in lines[0]
        assert "the runner cannot be pickled for the workers" in lines[0]
        assert lines[0].count("this runner stays in its process") == 1, lines[0]
        assert "reported as" not in lines[0]
        assert refused.stdout == ""
        assert _stored(fresh) == {}  # nothing ran, here or there
        assert not list(fresh.results_dir.glob("*.txt"))
        with pytest.warns(DaskFallbackWarning, match="run in this process instead"):
            fell_back = sweep(unpicklable, MODEL, *grid, *on)
    assert fell_back.stdout.endswith("3 parameter set(s): 0 cached, 3 ran\n")
    stored = _stored(fresh)
    assert sorted(stored) == [(1, 0.5, "u"), (2, 0.5, "u"), (3, 0.5, "u")]
    for (n, x, label), text in stored.items():
        assert text == content({"n": n, "x": x, "label": label})
