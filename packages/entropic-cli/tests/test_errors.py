"""Every failure is one line on stderr and an exit code (2 usage, 1 failure); no password shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from _cli_helpers import POINTS, Invoke, Other, StoreFiles, write_other
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text

from entropic import Store
from entropic_cli.main import cli

UNREACHABLE = "postgresql+psycopg://postgres:hunter2@127.0.0.1:1/test"


def _run(runner: CliRunner, *args: str, **env: str) -> Result:
    return runner.invoke(cli, list(args), env=env, catch_exceptions=False)


def _one_line(result: Result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize(
    ("url", "code", "message"),
    [
        ("not a url at all:pw@", 2, "invalid database URL"),
        ("nosuchdialect://u:hunter2@127.0.0.1/db", 2, "unknown database dialect or driver"),
        (UNREACHABLE, 1, "cannot connect to postgresql+psycopg://postgres:***@127.0.0.1:1/test"),
    ],
)
@pytest.mark.parametrize("command", ["info", "ls", "verify", "export"])
def test_bad_or_unreachable_database(
    runner: CliRunner, tmp_path: Path, url: str, code: int, message: str, command: str
) -> None:
    (tmp_path / "results").mkdir()
    line = _one_line(_run(runner, "--db", url, command), code)
    assert message in line
    assert "hunter2" not in line


def test_missing_sqlite_file_is_not_created(runner: CliRunner, tmp_path: Path) -> None:
    line = _one_line(_run(runner, "--db", f"sqlite:///{tmp_path / 'none.db'}", "info"), 1)
    assert line == f"Error: no database at {tmp_path / 'none.db'}"
    assert not (tmp_path / "none.db").exists()


def test_default_database_is_db_sqlite3_in_the_working_directory(
    runner: CliRunner, tmp_path: Path
) -> None:
    assert _one_line(_run(runner, "info"), 1) == "Error: no database at db.sqlite3"


def test_environment_supplies_the_defaults(
    runner: CliRunner, store: StoreFiles, tmp_path: Path
) -> None:
    result = _run(runner, "info", "--format", "json", **store.env, ENTROPIC_TABLE="cli_points")
    assert result.exit_code == 0, result.output
    assert f'"rows": {len(POINTS)}' in result.stdout
    assert str(store.results_dir) in result.stdout
    line = _one_line(_run(runner, "info", **store.env, ENTROPIC_TABLE="nope"), 1)
    assert line.startswith("Error: no table 'nope' in sqlite:///")


def test_database_without_entropic_tables(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "plain.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE plain (id INTEGER PRIMARY KEY, name TEXT)"))
        conn.execute(text("CREATE TABLE entropic_meta (table_name TEXT, key TEXT, value TEXT)"))
    engine.dispose()
    line = _one_line(_run(runner, "--db", f"sqlite:///{path}", "ls"), 1)
    assert line == f"Error: no entropic table in sqlite:///{path}"
    line = _one_line(_run(runner, "--db", f"sqlite:///{path}", "--table", "plain", "ls"), 1)
    assert "table 'plain'" in line
    assert "is not an entropic table" in line
    assert "result_file, created_at, custom_data" in line


def test_several_tables_need_table(runner: CliRunner, store: StoreFiles) -> None:
    with Store(write_other, Other, store.results_dir, ".dat", store.db_url) as other:
        other.sweep([{"k": 1}])
    line = _one_line(_run(runner, "ls", **store.env), 1)
    assert "several entropic tables" in line
    assert "cli_others, cli_points" in line
    assert "--table" in line
    result = _run(runner, "--table", "cli_others", "ls", "--format", "json", **store.env)
    assert result.exit_code == 0
    assert '"k": 1' in result.stdout


def test_missing_argument_and_unknown_option(invoke: Invoke) -> None:
    result = invoke("show", code=2)
    assert result.stderr == "Error: Missing argument 'ID'. (see 'entropic show --help')\n"
    result = invoke("ls", "--bogus", code=2)
    assert "No such option" in result.stderr
    assert "--bogus" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_unknown_id_for_show_and_rm(invoke: Invoke) -> None:
    for args in (["show", "nope"], ["rm", "nope", "--yes"]):
        result = invoke(*args, code=1)
        assert "no run with id 'nope'" in result.stderr
        assert len(result.stderr.splitlines()) == 1


def test_password_in_a_reachable_url_is_never_printed(runner: CliRunner) -> None:
    """PostgreSQL here trusts local connections, so a password in the URL is accepted."""
    url = "postgresql+psycopg://postgres:hunter2@127.0.0.1:5432/test"
    probe = create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with probe.connect():
            pass
    except Exception as exc:  # the server is a test dependency; CI has it
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    finally:
        probe.dispose()
    result = _run(runner, "--db", url, "--table", "cli_no_such_table_here", "ls")
    line = _one_line(result, 1)
    assert "postgres:***@127.0.0.1:5432/test" in line
    assert "hunter2" not in result.output
