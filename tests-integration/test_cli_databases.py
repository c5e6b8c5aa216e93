"""The entropic command on SQLite, PostgreSQL and MariaDB: listing, filtering, repair, ingest."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import _manywriters as mw
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, delete, make_url, text

from entropic import Store, hash_params, reflect_model
from entropic._internal import params_table
from entropic.manifests import manifest_path, read_manifest
from entropic_cli.main import cli


def _runner(params: dict[str, Any]) -> None:
    Path(params["result_file"]).write_text(mw.content_for(params))


def _points() -> list[dict[str, Any]]:
    points = mw.points(0, 6)
    points[1]["mode"] = mw.Mode.FAST
    points[2]["shape"] = [2, 3]
    points[3]["when"] = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    return points


@pytest.fixture
def cli_store(db_url: str, table_name: str, tmp_path: Path) -> tuple[Any, list[str]]:
    model = mw.point_model(table_name)
    with Store(_runner, model, tmp_path / "results", ".txt", db_url) as store:
        ids = [r.id for r in store.sweep(_points())]
    return model, ids


def _entropic(db_url: str, table: str, tmp_path: Path, *args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(
        cli,
        ["--db", db_url, "--table", table, "--results-dir", str(tmp_path / "results"), *args],
        catch_exceptions=False,
    )
    assert result.exit_code == code, result.output
    return result


def test_cli_reads_and_filters_on_every_database(
    db_url: str, table_name: str, tmp_path: Path, cli_store: tuple[Any, list[str]]
) -> None:
    _model, ids = cli_store

    def run(*args: str, code: int = 0) -> Result:
        return _entropic(db_url, table_name, tmp_path, *args, code=code)

    rows = json.loads(run("ls", "--format", "json").stdout)
    assert sorted(r["id"] for r in rows) == sorted(ids)
    by_n = {r["n"]: r for r in rows}
    assert dt.datetime.fromisoformat(by_n[0]["created_at"]).utcoffset() == dt.timedelta(0)
    assert isinstance(by_n[0]["custom_data"], dict)
    # the kinds the Store recorded give the reflected table its model's types back: the enum's
    # value (not the label the database stores), JSON as JSON (MariaDB's is LONGTEXT), aware UTC
    assert by_n[2]["shape"] == [2, 3]
    assert by_n[1]["mode"] == "fast"
    assert by_n[0]["mode"] is None
    assert by_n[3]["when"] == "2024-05-06T07:08:09+00:00"

    def where(*conditions: str) -> list[int]:
        args = [a for c in conditions for a in ("--where", c)]
        return sorted(r["n"] for r in json.loads(run("ls", *args, "--format", "json").stdout))

    assert where("n=3") == [3]
    assert where("x=0.4") == [4]
    assert where("label=p5", "n=5") == [5]
    assert where("label=x' OR '1'='1") == []
    assert "unknown column 'nope'" in run("ls", "--where", "nope=1", code=2).stderr
    assert where("mode=fast") == [1]  # the enum's value, as ls shows it
    assert where("mode=FAST") == [1]  # or its member's name
    assert where("mode=slow") == []
    wrong = run("ls", "--where", "mode=medium", code=2).stderr
    assert "'medium' is not a value of column 'mode'; its values are fast, slow" in wrong
    assert "holds JSON" in run("ls", "--where", "shape=[2, 3]", code=2).stderr
    assert run("ls", "--where", "mode=fast").stdout.split("\n")[1].split()[0] == ids[1]

    record = json.loads(run("show", ids[2], "--format", "json").stdout)
    assert record["file_exists"] is True
    assert record["file_size"] == len(mw.content_for(_points()[2]))
    assert (record["shape"], record["mode"]) == ([2, 3], None)
    record = json.loads(run("show", ids[1], "--format", "json").stdout)
    assert (record["shape"], record["mode"]) == (None, "fast")
    assert ["mode", "fast"] in [line.split() for line in run("show", ids[1]).stdout.splitlines()]

    info = json.loads(run("info", "--format", "json").stdout)
    assert info["rows"] == 6
    assert info["hash_scheme"] == "sha256-16:round12:v2"
    assert info["database"] == make_url(db_url).render_as_string(hide_password=True)

    exported = list(csv.DictReader(io.StringIO(run("export", "--format", "csv").stdout)))
    assert sorted(r["id"] for r in exported) == sorted(ids)
    assert next(r for r in exported if r["n"] == "2")["shape"] == "[2,3]"
    assert next(r for r in exported if r["n"] == "1")["mode"] == "fast"
    dumped = {r["n"]: r for r in json.loads(run("export", "--format", "json").stdout)}
    assert (dumped[1]["mode"], dumped[2]["shape"]) == ("fast", [2, 3])
    lines = [json.loads(line) for line in run("export", "--format", "jsonl").stdout.splitlines()]
    assert {r["n"]: r["mode"] for r in lines} == {n: r["mode"] for n, r in dumped.items()}


def test_cli_repairs_and_reindexes_on_every_database(
    db_url: str, table_name: str, tmp_path: Path, cli_store: tuple[Any, list[str]]
) -> None:
    model, _ids = cli_store

    def run(*args: str, code: int = 0) -> Result:
        return _entropic(db_url, table_name, tmp_path, *args, code=code)

    with Store(_runner, model, tmp_path / "results", ".txt", db_url) as store:
        before = {r.id: r for r in store}
    run("verify")
    engine = create_engine(db_url)
    quoted = engine.dialect.identifier_preparer.quote(table_name)
    with engine.begin() as conn:
        conn.execute(text(f"DELETE FROM {quoted} WHERE n IN (3, 4, 5)"))
    engine.dispose()
    problems = json.loads(run("verify", "--format", "json", code=1).stdout)
    assert sorted(p["problem"] for p in problems) == ["unindexed-manifest"] * 3
    assert run("ingest").stdout == f"indexed 3 run(s) into table {table_name!r}\n"
    run("verify")
    with Store(_runner, model, tmp_path / "results", ".txt", db_url) as store:
        after = {r.id: r for r in store}
    assert set(after) == set(before)
    for run_id, old in before.items():
        new = after[run_id]
        assert (new.n, new.x, new.label, new.mode, new.shape) == (
            old.n,
            old.x,
            old.label,
            old.mode,
            old.shape,
        )
        assert new.when == old.when
        assert new.created_at == old.created_at
        assert new.custom_data == old.custom_data

    assert run("rm", "--where", "n=0", "--remove-file", "--yes").stdout == (
        "removed 1 run(s) and 1 result file(s)\n"
    )
    (tmp_path / "results" / "stray.txt").write_text("x")
    assert "stray.txt" in run("verify", code=1).stdout
    run("gc", "--yes")
    run("verify")
    assert len(json.loads(run("ls", "--format", "json").stdout)) == 5


def _raw_rows(db_url: str, table: str) -> dict[str, tuple[Any, ...]]:
    """The parameter columns of every row as the database holds them (no entropic types)."""
    engine = create_engine(db_url)
    quote = engine.dialect.identifier_preparer.quote
    columns = ", ".join(
        map(quote, ["id", "result_file", "n", "x", "label", "mode", "shape", "when"])
    )
    quoted = quote(table)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(f"SELECT {columns} FROM {quoted}")).all()
    finally:
        engine.dispose()
    return {row[0]: tuple(_plain(v) for v in row[1:]) for row in rows}


def _plain(value: Any) -> Any:
    """A JSON value the driver hands back as text (MariaDB) compared as the value it holds."""
    if isinstance(value, str) and value[:1] in "[{":
        return json.loads(value)
    return value


def _delete(db_url: str, table: str, where: str = "1 = 1") -> None:
    engine = create_engine(db_url)
    quoted = engine.dialect.identifier_preparer.quote(table)
    with engine.begin() as conn:
        conn.execute(text(f"DELETE FROM {quoted} WHERE {where}"))
    engine.dispose()


@pytest.mark.parametrize("how", ["cli", "python-reflected", "python-model"])
def test_ingest_rebuilds_enum_and_json_parameters_exactly(
    db_url: str,
    table_name: str,
    tmp_path: Path,
    cli_store: tuple[Any, list[str]],
    how: str,
) -> None:
    """Ingest stores what the Store stored: an enum's label, JSON that reads back as JSON."""
    model, ids = cli_store
    before = _raw_rows(db_url, table_name)
    assert before[ids[1]][4] == "FAST"  # SQLAlchemy's Enum stores the member's name
    _delete(db_url, table_name)
    results = tmp_path / "results"
    if how == "cli":
        _entropic(db_url, table_name, tmp_path, "ingest")
    else:
        engine = create_engine(db_url)
        used = reflect_model(engine, table_name) if how == "python-reflected" else model
        engine.dispose()
        with Store(_runner, used, results, ".txt", db_url) as store:
            assert store.ingest() == len(ids)
    assert _raw_rows(db_url, table_name) == before
    with Store(_runner, model, results, ".txt", db_url) as store:
        for params, run_id in zip(_points(), ids, strict=True):
            record = store.retrieve(params)  # a hit for the original parameters, no collision
            assert record is not None
            assert record.id == run_id
            assert (record.mode, record.shape, record.when) == (
                params.get("mode"),
                params.get("shape"),
                params.get("when"),
            )
            # the manifest's parameters hash back to the id (parameters left to their column
            # default are written to the manifest as null, and were not part of the hash)
            manifest = read_manifest(manifest_path(results, run_id), results)
            given = {k: v for k, v in manifest.params.items() if v is not None}
            if "when" in given:  # JSON holds a datetime as ISO 8601 text
                given["when"] = dt.datetime.fromisoformat(given["when"])
            assert hash_params(given) == run_id
            assert store.key(given) == run_id


def test_a_store_without_recorded_kinds_is_reflected_as_the_database_says(
    db_url: str, table_name: str, tmp_path: Path, cli_store: tuple[Any, list[str]]
) -> None:
    """Tables made before entropic recorded parameter kinds still work, as plain reflection."""
    model, _ids = cli_store
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(delete(params_table).where(params_table.c.table_name == table_name))
    dialect = engine.dialect.name
    engine.dispose()

    def run(*args: str, code: int = 0) -> Result:
        return _entropic(db_url, table_name, tmp_path, *args, code=code)

    rows = {r["n"]: r for r in json.loads(run("ls", "--format", "json").stdout)}
    assert rows[1]["mode"] == "FAST"  # the label the database holds
    shape = rows[2]["shape"]
    assert (json.loads(shape) if dialect == "mysql" else shape) == [2, 3]  # LONGTEXT on MariaDB
    assert [
        r["n"] for r in json.loads(run("ls", "--where", "mode=FAST", "--format", "json").stdout)
    ] == [1]
    if dialect != "sqlite":  # a native ENUM reflects with its labels (SQLite's is VARCHAR)
        assert "its values are FAST, SLOW" in run("ls", "--where", "mode=fast", code=2).stderr
    run("info")
    # opening the store with its model once records the kinds
    Store(_runner, model, tmp_path / "results", ".txt", db_url).close()
    rows = {r["n"]: r for r in json.loads(run("ls", "--format", "json").stdout)}
    assert (rows[1]["mode"], rows[2]["shape"]) == ("fast", [2, 3])


def test_ingest_into_a_table_guessed_from_the_manifests(
    db_url: str, table_name: str, tmp_path: Path, cli_store: tuple[Any, list[str]]
) -> None:
    """A rebuilt table's JSON parameter reads back as JSON, on MariaDB too."""
    _model, ids = cli_store
    rebuilt = mw.new_table_name()
    try:
        _entropic(db_url, rebuilt, tmp_path, "ingest")
        rows = {
            r["n"]: r
            for r in json.loads(
                _entropic(db_url, rebuilt, tmp_path, "ls", "--format", "json").stdout
            )
        }
    finally:
        if not db_url.startswith("sqlite"):
            mw.drop_table(db_url, rebuilt)
    assert sorted(r["id"] for r in rows.values()) == sorted(ids)
    assert rows[2]["shape"] == [2, 3]
    assert rows[1]["mode"] == "fast"  # without the model, the enum's value is a string
