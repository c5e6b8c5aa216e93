"""Shared options and value parsing: global options after the command, --where, --grid."""

from __future__ import annotations

import json

import pytest
from _cli_helpers import Invoke, StoreFiles
from click.testing import CliRunner

from entropic_cli._options import parse_scalar
from entropic_cli.main import cli


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("-2", -2),
        ("0.25", 0.25),
        ("1e3", 1000.0),
        ("true", True),
        ("False", False),
        ("abc", "abc"),
        ("", ""),
    ],
)
def test_grid_values_are_int_float_bool_or_string(text: str, value: object) -> None:
    parsed = parse_scalar(text)
    assert parsed == value
    assert type(parsed) is type(value)


STORE_COMMANDS = [
    ["info"],
    ["ls"],
    ["show"],
    ["rm"],
    ["verify"],
    ["gc"],
    ["ingest"],
    ["export"],
    ["sweep"],
    ["merge"],
    ["relocate"],
    ["migrate", "add-param"],
]


@pytest.mark.parametrize("command", STORE_COMMANDS, ids=" ".join)
def test_every_store_command_shows_the_store_options_in_its_help(
    runner: CliRunner, command: list[str]
) -> None:
    result = runner.invoke(cli, [*command, "--help"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    for option in ("--db URL", "--results-dir", "--table NAME", "ENTROPIC_DB_URL"):
        assert option in result.stdout, (command, option)


def test_store_options_are_accepted_after_the_command(runner: CliRunner, store: StoreFiles) -> None:
    args = ["--db", store.db_url, "--results-dir", str(store.results_dir), "--table", "cli_points"]
    result = runner.invoke(cli, ["ls", "--format", "json", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert sorted(r["id"] for r in json.loads(result.stdout)) == sorted(store.ids)
    # the one after the command wins over the one before it
    result = runner.invoke(
        cli, ["--db", "sqlite:///nowhere.db", "ls", "--db", store.db_url], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["--table", "cli_points", "ls", "--table", "nope"])
    assert result.exit_code == 1


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (["n>=2"], {2, 3}),
        (["n>2"], {3}),
        (["n<2"], {1}),
        (["n<=2"], {1, 2}),
        (["n!=2"], {1, 3}),
        (["n=2"], {2}),
        (["x<1", "label!=odd"], {2}),
        (["label>=odd"], {1, 3}),  # strings compare as strings
    ],
)
def test_where_takes_comparisons_converted_to_the_column_type(
    invoke: Invoke, where: list[str], expected: set[int]
) -> None:
    args = [a for w in where for a in ("--where", w)]
    rows = json.loads(invoke("ls", *args, "--format", "json").stdout)
    assert {r["n"] for r in rows} == expected
    assert len(json.loads(invoke("export", *args, "--format", "json").stdout)) == len(rows)


def test_where_with_a_bad_value_after_a_comparison_is_a_usage_error(invoke: Invoke) -> None:
    result = invoke("ls", "--where", "n>=many", code=2)
    assert "'many' is not a valid int for column 'n'" in result.stderr


def test_grid_values_are_converted_to_the_column_type(runner: CliRunner, store: StoreFiles) -> None:
    """``x=2`` on a float column is the cached ``2.0``; ``label=3`` stays a string."""

    def sweep(*grid: str) -> str:
        args = [a for g in grid for a in ("--grid", g)]
        result = runner.invoke(
            cli,
            ["sweep", "_cli_helpers:write_point", "_cli_helpers:Point", *args, "--no-progress"],
            env=store.env,
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        return str(result.stdout)

    assert sweep("n=1", "x=2.0", "label=3").endswith("1 parameter set(s): 0 cached, 1 ran\n")
    assert sweep("n=1", "x=2", "label=3").endswith("1 parameter set(s): 1 cached, 0 ran\n")
    # the stored point of the fixture, given with an int where the column is a float
    assert sweep("n=1", "x=0.5", "label=odd", "flag=no").endswith("1 cached, 0 ran\n")
    with store.open() as s:
        record = s.retrieve({"n": 1, "x": 2.0, "label": "3"})
    assert record is not None
    assert record.label == "3"
