"""info, ls, show, export and executors on a real SQLite store."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from pathlib import Path

import pytest
from _cli_helpers import POINTS, Grade, Graded, Invoke, StoreFiles, write_graded
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text

from entropic import Store
from entropic_cli.main import cli


def _created(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    assert parsed.utcoffset() == dt.timedelta(0), value  # ISO 8601 with its +00:00 offset
    return parsed


def test_info_reports_rows_columns_span_disk_scheme_and_versions(
    invoke: Invoke, store: StoreFiles
) -> None:
    data = json.loads(invoke("info", "--format", "json").stdout)
    assert data["table"] == "cli_points"
    assert data["rows"] == len(POINTS)
    columns = {c["name"]: c for c in data["columns"]}
    assert list(columns)[:5] == ["id", "n", "x", "label", "flag"]
    assert columns["n"]["type"] == "INTEGER"
    assert [columns[k]["kind"] for k in ("n", "x", "label", "flag")] == [
        "int",
        "float",
        "str",
        "bool",
    ]
    assert (columns["created_at"]["kind"], columns["custom_data"]["kind"]) == ("datetime", "json")
    assert not columns["n"]["reserved"]
    assert columns["custom_data"]["reserved"]
    assert data["hash_scheme"] == "sha256-16:round12:v2"
    assert data["created_by"].startswith("entropic-core ")
    assert data["versions"] == {"entropic-core": "3.0.0", "entropic-cli": "3.0.0"}
    sizes = sum(p.stat().st_size for p in store.results_dir.glob("*.txt"))
    assert data["disk_used_bytes"] == sizes > 0
    assert data["result_files"] == len(POINTS)
    assert data["missing_files"] == 0
    with store.open() as s:
        stamps = sorted(r.created_at for r in s)
    assert _created(data["first_created_at"]) == stamps[0]
    assert _created(data["last_created_at"]) == stamps[-1]

    text_out = invoke("info").stdout
    assert "rows         6" in text_out
    assert "sha256-16:round12:v2" in text_out
    assert "entropic-cli 3.0.0" in text_out


def test_info_counts_missing_files(invoke: Invoke, store: StoreFiles) -> None:
    (store.results_dir / f"{store.ids[0]}.txt").unlink()
    data = json.loads(invoke("info", "--format", "json").stdout)
    assert data["missing_files"] == 1
    assert data["result_files"] == len(POINTS) - 1


def test_ls_json_is_one_array_of_objects(invoke: Invoke, store: StoreFiles) -> None:
    rows = json.loads(invoke("ls", "--format", "json").stdout)
    assert isinstance(rows, list)
    assert len(rows) == len(POINTS)
    assert {r["id"] for r in rows} == set(store.ids)
    first = rows[0]
    assert isinstance(first["custom_data"], dict)
    assert first["custom_data"]["elapsed_seconds"] >= 0
    _created(first["created_at"])
    assert isinstance(first["flag"], bool)
    stamps = [dt.datetime.fromisoformat(r["created_at"]) for r in rows]
    assert stamps == sorted(stamps)  # by created_at unless --sort says otherwise


def test_ls_csv_has_a_header_and_parses_back(invoke: Invoke, store: StoreFiles) -> None:
    out = invoke("ls", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == [
        "id", "n", "x", "label", "flag", "result_file", "created_at", "custom_data"
    ]  # fmt: skip
    assert len(rows) == len(POINTS)
    by_id = {r["id"]: r for r in rows}
    with store.open() as s:
        for record in s:
            row = by_id[record.id]
            assert int(row["n"]) == record.n
            assert float(row["x"]) == record.x
            assert json.loads(row["custom_data"]) == record.custom_data
            assert dt.datetime.fromisoformat(row["created_at"]) == record.created_at


def test_ls_table_lists_every_row(invoke: Invoke, store: StoreFiles) -> None:
    result = invoke("ls")
    lines = result.stdout.splitlines()
    assert lines[0].split()[:5] == ["id", "n", "x", "label", "flag"]
    assert {line.split()[0] for line in lines[1:]} == set(store.ids)
    assert "6 rows" in result.stderr


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (["n=2"], [p for p in POINTS if p["n"] == 2]),
        (["x=1.5"], [p for p in POINTS if p["x"] == 1.5]),
        (["label=odd", "x=0.5"], [p for p in POINTS if p["label"] == "odd" and p["x"] == 0.5]),
        (["flag=true"], [p for p in POINTS if p["flag"]]),
        (["flag=false", "n=3"], [p for p in POINTS if not p["flag"] and p["n"] == 3]),
        (["n=7"], []),
    ],
)
def test_ls_where_converts_values_to_the_column_type(
    invoke: Invoke, where: list[str], expected: list[dict[str, object]]
) -> None:
    args = [a for w in where for a in ("--where", w)]
    rows = json.loads(invoke("ls", *args, "--format", "json").stdout)
    got = sorted((r["n"], r["x"], r["label"], r["flag"]) for r in rows)
    assert got == sorted((p["n"], p["x"], p["label"], p["flag"]) for p in expected)


def test_ls_where_binds_values_rather_than_pasting_them(invoke: Invoke, store: StoreFiles) -> None:
    hostile = "x' OR '1'='1"
    assert json.loads(invoke("ls", "--where", f"label={hostile}", "--format", "json").stdout) == []
    # stored as data, the same text matches exactly itself
    engine = create_engine(store.db_url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE cli_points SET label = :v WHERE id = :i"),
            {"v": hostile, "i": store.ids[0]},
        )
    engine.dispose()
    rows = json.loads(invoke("ls", "--where", f"label={hostile}", "--format", "json").stdout)
    assert [r["id"] for r in rows] == [store.ids[0]]
    assert len(json.loads(invoke("ls", "--format", "json").stdout)) == len(POINTS)


def test_enum_and_json_parameters_read_filter_export_and_ingest(
    runner: CliRunner, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'graded.sqlite3'}"
    results = tmp_path / "graded"
    points = [{"level": Grade.LOW, "tags": ["a", 1]}, {"level": Grade.HIGH}]
    with Store(write_graded, Graded, results, ".txt", db) as store:
        low, high = (r.id for r in store.sweep(points))

    def run(*args: str, code: int = 0) -> Result:
        result = runner.invoke(
            cli, ["--db", db, "--results-dir", str(results), *args], catch_exceptions=False
        )
        assert result.exit_code == code, result.output
        return result

    def ids(*where: str) -> list[str]:
        args = [a for w in where for a in ("--where", w)]
        return [r["id"] for r in json.loads(run("ls", *args, "--format", "json").stdout)]

    rows = json.loads(run("ls", "--format", "json").stdout)
    assert {r["id"]: (r["level"], r["tags"]) for r in rows} == {low: (1, ["a", 1]), high: (3, None)}
    assert ids("level=3") == [high]  # the enum's value
    assert ids("level=LOW") == [low]  # or its name
    columns = {c["name"]: c for c in json.loads(run("info", "--format", "json").stdout)["columns"]}
    assert (columns["level"]["kind"], columns["level"]["values"]) == ("enum", [1, 3])
    assert columns["tags"]["kind"] == "json"
    assert "values" not in columns["tags"]
    assert re.search(r"^level +\S+ +enum of 1, 3 +", run("info").stdout, re.MULTILINE)
    wrong = run("ls", "--where", "level=2", code=2).stderr
    assert wrong == "Error: '2' is not a value of column 'level'; its values are 1, 3\n"
    exported = {r["id"]: r for r in csv.DictReader(io.StringIO(run("export").stdout))}
    assert (exported[low]["level"], exported[low]["tags"]) == ("1", '["a",1]')

    engine = create_engine(db)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM cli_graded"))
    assert run("ingest").stdout == "indexed 2 run(s) into table 'cli_graded'\n"
    with engine.connect() as conn:  # the member's name, as SQLAlchemy's Enum stores it
        stored = dict(conn.execute(text("SELECT id, level FROM cli_graded")).all())
    engine.dispose()
    assert stored == {low: "LOW", high: "HIGH"}
    with Store(write_graded, Graded, results, ".txt", db) as store:
        assert [r.id for r in store.sweep(points)] == [low, high]  # hits, nothing ran
        found = store.retrieve(points[0])
        assert found is not None
        assert found.tags == ["a", 1]


def test_ls_limit_and_sort(invoke: Invoke) -> None:
    rows = json.loads(invoke("ls", "--sort", "-n", "--limit", "3", "--format", "json").stdout)
    assert [r["n"] for r in rows] == [3, 3, 2]
    rows = json.loads(invoke("ls", "--sort", "x", "--format", "json").stdout)
    assert [r["x"] for r in rows] == sorted(p["x"] for p in POINTS)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--where", "bogus=1"], "unknown column 'bogus'"),
        (["--where", "n=abc"], "'abc' is not a valid int for column 'n'"),
        (["--where", "x=abc"], "not a valid float for column 'x'"),
        (["--where", "flag=maybe"], "not a valid bool for column 'flag'"),
        (["--where", "n"], "--where expects KEY=VALUE"),
        (["--where", "custom_data=1"], "it holds JSON"),
        (["--sort", "bogus"], "unknown column 'bogus' for --sort"),
    ],
)
def test_ls_bad_where_or_sort_is_a_usage_error(
    invoke: Invoke, args: list[str], message: str
) -> None:
    result = invoke("ls", *args, code=2)
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_show_one_object_with_file_facts(invoke: Invoke, store: StoreFiles) -> None:
    run_id = store.ids[1]
    record = json.loads(invoke("show", run_id, "--format", "json").stdout)
    assert isinstance(record, dict)
    assert record["id"] == run_id
    assert record["file_exists"] is True
    assert record["file_size"] == (store.results_dir / f"{run_id}.txt").stat().st_size
    assert record["manifest_exists"] is True
    assert isinstance(record["custom_data"], dict)
    _created(record["created_at"])

    (store.results_dir / f"{run_id}.txt").unlink()
    record = json.loads(invoke("show", run_id, "--format", "json").stdout)
    assert record["file_exists"] is False
    assert record["file_size"] is None

    text_out = invoke("show", run_id).stdout
    assert f"id               {run_id}" in text_out
    assert "file_exists      False" in text_out


def test_show_unknown_id_fails_in_one_line(invoke: Invoke) -> None:
    result = invoke("show", "0000000000000000", code=1)
    assert result.stderr == "Error: no run with id '0000000000000000' in table 'cli_points'\n"
    assert result.stdout == ""


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_export_formats_parse_back(invoke: Invoke, store: StoreFiles, fmt: str) -> None:
    out = invoke("export", "--format", fmt).stdout
    if fmt == "csv":
        rows: list[dict[str, object]] = list(csv.DictReader(io.StringIO(out)))
        for row in rows:
            row["custom_data"] = json.loads(str(row["custom_data"]))
            row["n"] = int(str(row["n"]))
    elif fmt == "json":
        rows = json.loads(out)
    else:
        rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == sorted(store.ids)
    with store.open() as s:
        for row in rows:
            record = s.retrieve({"id": row["id"]})
            assert record is not None
            assert row["n"] == record.n
            assert row["custom_data"] == record.custom_data
            assert dt.datetime.fromisoformat(str(row["created_at"])) == record.created_at


def test_export_to_a_file(invoke: Invoke, store: StoreFiles, tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    result = invoke("export", "--format", "json", "-o", str(target / "all.json"))
    assert result.stdout == ""
    assert "exported 6 row(s)" in result.stderr
    rows = json.loads((target / "all.json").read_text())
    assert len(rows) == len(POINTS)
    assert [p.name for p in target.iterdir()] == ["all.json"]  # no temporary file left

    invoke("export", "--where", "n=1", "-o", str(target / "some.csv"))
    assert len(list(csv.DictReader((target / "some.csv").open()))) == 2


def _unique_prefix(run_id: str, ids: list[str]) -> str:
    for length in range(1, len(run_id) + 1):
        prefix = run_id[:length]
        if [i for i in ids if i.startswith(prefix)] == [run_id]:
            return prefix
    raise AssertionError("no unique prefix")


def test_show_accepts_a_unique_id_prefix(invoke: Invoke, store: StoreFiles) -> None:
    run_id = store.ids[2]
    prefix = _unique_prefix(run_id, store.ids)
    record = json.loads(invoke("show", prefix, "--format", "json").stdout)
    assert record["id"] == run_id


def test_show_lists_the_candidates_of_an_ambiguous_prefix(
    invoke: Invoke, store: StoreFiles
) -> None:
    with store.open() as s:
        s.run({"id": "run-a1", "n": 7, "x": 0.5, "label": "a"})
        s.run({"id": "run-a2", "n": 8, "x": 0.5, "label": "a"})
        s.run({"id": "run-a", "n": 9, "x": 0.5, "label": "a"})
    result = invoke("show", "run-a", "--format", "json")  # an exact id wins
    assert json.loads(result.stdout)["n"] == 9
    result = invoke("show", "run-a1")
    assert "run-a1" in result.stdout
    with store.open() as s:
        s.delete(hash="run-a")
    result = invoke("show", "run-", code=1)
    assert result.stderr == (
        "Error: id prefix 'run-' is ambiguous in table 'cli_points': it could be run-a1, run-a2\n"
    )


def test_info_show_and_verify_work_from_any_folder_with_only_the_database(
    runner: CliRunner, store: StoreFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    def run(*args: str) -> Result:
        result = runner.invoke(cli, ["--db", store.db_url, *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "warning" not in result.stderr
        return result

    info = json.loads(run("info", "--format", "json").stdout)
    assert info["results_dir"] == str(store.results_dir)
    assert (info["result_files"], info["missing_files"], info["file_suffix"]) == (6, 0, ".txt")
    shown = json.loads(run("show", store.ids[0], "--format", "json").stdout)
    assert (shown["file_exists"], shown["manifest_exists"]) == (True, True)
    assert run("verify").stdout == f"ok: {len(POINTS)} rows checked, no problems\n"
    assert list(elsewhere.iterdir()) == []  # nothing was created here


def test_a_results_dir_that_differs_from_the_record_is_a_warning(
    invoke: Invoke, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    result = invoke("info", "--results-dir", str(other))
    assert result.stderr.startswith(f"warning: the results directory {other} differs from ")
    assert "recorded for table 'cli_points'" in result.stderr


def test_read_only_commands_on_a_missing_sqlite_file_create_nothing(
    runner: CliRunner, tmp_path: Path
) -> None:
    missing = tmp_path / "typo.sqlite3"
    for command in (["ls"], ["show", "abc"], ["verify"], ["info"], ["export"]):
        result = runner.invoke(cli, [*command, "--db", f"sqlite:///{missing}"])
        assert result.exit_code == 1, result.output
        assert result.stderr == f"Error: no database at {missing}\n"
    assert not missing.exists()
