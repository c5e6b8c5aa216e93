"""Provenance and on_code_change across processes, on SQLite, PostgreSQL and MariaDB.

The runner lives in a module written to a temporary folder (outside any git repository). Each
step runs in a child process, so every step imports the runner's current source, as a user's
next session would; between steps the test edits the file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, Table, create_engine, delete, inspect, text

from entropic.provenance import provenance_of

RUNNER = """
from pathlib import Path

from entropic import Base, Mapped


class Point(Base):
    __tablename__ = "{table}"

    n: Mapped[int]


def simulate(params):
    Path(params["result_file"]).write_text("{output} %d" % params["n"])
"""

#: One step of the test, in a child process: open the Store, sweep, print what came back.
CHILD = """
import json, sys, warnings
sys.path.insert(0, sys.argv[1])
from entropic import Store, provenance
from pathlib import Path
import runner_mod
options = json.loads(sys.argv[2])
store = Store(runner_mod.simulate, runner_mod.Point, sys.argv[3], ".txt", sys.argv[4], **options)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    records = store.sweep([{"n": n} for n in range(3)])
    single = store.run_or_retrieve({"n": 0})
print(json.dumps({
    "ids": [r.id for r in records],
    "outputs": [Path(r.result_file).read_text() for r in records],
    "created": [r.created_at.isoformat() for r in records],
    "single": Path(single.result_file).read_text(),
    "warnings": [str(w.message) for w in caught
                 if issubclass(w.category, provenance.CodeChangedWarning)],
    "code": provenance.runner_code(runner_mod.simulate, options.get("runner_version")),
}))
store.close()
"""


class Steps:
    """The runner's folder, the store and a way to run one step in a child process."""

    def __init__(self, tmp_path: Path, db_url: str, table: str) -> None:
        self.folder = tmp_path / "code"
        self.folder.mkdir()
        self.results = tmp_path / "results"
        self.db_url = db_url
        self.table = table
        self.write("first")

    def write(self, output: str) -> None:
        """Write the runner module with ``output`` in its source."""
        source = RUNNER.format(table=self.table, output=output)
        (self.folder / "runner_mod.py").write_text(source)
        for cached in (self.folder / "__pycache__").glob("*.pyc"):
            cached.unlink()

    def step(self, **options: Any) -> dict[str, Any]:
        """Sweep the three points and look one up again in a fresh process."""
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                str(self.folder),
                json.dumps(options),
                str(self.results),
                self.db_url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        assert done.returncode == 0, done.stderr
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    def cli(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        """Run an ``entropic`` command on the store in a child process, in the runner's folder."""
        done = subprocess.run(
            [sys.executable, "-m", "entropic_cli.main", *args, "--db", self.db_url],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=self.folder,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "ENTROPIC_TABLE": self.table},
        )
        assert done.returncode == code, done.stderr
        return done

    def python(self, body: str) -> Any:
        """Run ``body`` in a child process with ``store`` (no runner) open; return ``result``."""
        script = (
            "import json, sys\n"
            "sys.path.insert(0, sys.argv[1])\n"
            "import runner_mod\n"
            "from pathlib import Path\n"
            "from entropic import Store, provenance\n"
            "store = Store(None, runner_mod.Point, sys.argv[2], '.txt', sys.argv[3])\n"
            f"{body}\n"
            "store.close()\n"
            "print(json.dumps(result, default=str))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script, str(self.folder), str(self.results), self.db_url],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    def show(self, run_id: str) -> dict[str, str]:
        """``entropic show ID`` as a mapping of its lines."""
        lines = self.cli("show", run_id).stdout.splitlines()
        pairs = [[*line.split(None, 1), ""][:2] for line in lines if line.strip()]
        return {key: value.strip() for key, value in pairs}

    def stale(self, *args: str) -> dict[str, Any]:
        """``entropic stale --format json`` with ``args``."""
        out: dict[str, Any] = json.loads(self.cli("stale", "--format", "json", *args).stdout)
        return out


@pytest.fixture
def steps(tmp_path: Path, db_url: str, table_name: str) -> Steps:
    return Steps(tmp_path, db_url, table_name)


def test_a_changed_runner_under_each_policy(steps: Steps) -> None:
    first = steps.step()
    assert first["outputs"] == ["first 0", "first 1", "first 2"]
    assert first["warnings"] == []
    old_code = first["code"]
    assert old_code.startswith("source:")

    steps.write("second")  # the runner's source changes between two processes
    reused = steps.step()
    assert reused["outputs"] == first["outputs"]  # reuse: the old results, silently
    assert reused["warnings"] == []
    new_code = reused["code"]
    assert new_code != old_code

    warned = steps.step(on_code_change="warn")
    assert warned["outputs"] == first["outputs"]
    assert len(warned["warnings"]) == 2  # one for the sweep, one for the single hit
    assert warned["warnings"][0].startswith("3 of 3 results were made by other code")
    assert warned["warnings"][1].startswith("1 of 1 result was made by other code")

    report = steps.stale("--runner", "runner_mod:simulate")
    assert report["current"] == new_code
    assert report["stale"] == 3
    assert [(g["code"], g["runs"]) for g in report["groups"]] == [(old_code, 3)]
    steps.cli("stale", "--runner", "runner_mod:simulate", "--check", code=1)
    assert steps.stale()["stale"] == 0  # against the newest run, which is the old code's

    rerun = steps.step(on_code_change="rerun")
    assert rerun["ids"] == first["ids"]  # replaced under the same ids
    assert rerun["outputs"] == ["second 0", "second 1", "second 2"]
    assert rerun["single"] == "second 0"  # the single lookup found the new run, not again
    assert rerun["warnings"] == []
    assert all(b > a for a, b in zip(first["created"], rerun["created"], strict=True))
    assert steps.stale("--runner", "runner_mod:simulate")["stale"] == 0
    again = steps.step(on_code_change="rerun")
    assert again["created"] == rerun["created"]  # current now: hits

    provenance = provenance_of(create_engine(steps.db_url), steps.table, first["ids"][0])
    assert provenance is not None
    assert provenance["code"] == new_code
    assert provenance["runner"] == "runner_mod:simulate"
    assert provenance["git_commit"] is None  # the runner's folder is in no git repository
    assert provenance["git_dirty"] is None
    assert provenance["origin"] == "run"
    assert isinstance(provenance["pid"], int)
    assert provenance["finished_at"] >= provenance["started_at"]


def test_a_declared_version_overrides_the_source_hash_and_bless_stops_reruns(
    steps: Steps,
) -> None:
    made = steps.step(runner_version="1")
    assert made["code"] == "version:1"
    steps.write("edited but still version 1")
    kept = steps.step(runner_version="1", on_code_change="rerun")
    assert kept["created"] == made["created"]  # the hash changed, the version did not
    assert kept["outputs"] == made["outputs"]

    report = steps.stale("--version", "2")
    assert report["stale"] == 3
    assert report["groups"][0]["code"] == "version:1"
    steps.cli("bless", "--from", "1", "--version", "2", "--yes")
    assert steps.stale("--version", "2")["stale"] == 0
    blessed = steps.step(runner_version="2", on_code_change="rerun")
    assert blessed["created"] == made["created"]  # blessed: not rerun
    shown = steps.show(made["ids"][0])
    assert shown["provenance.blessed_from"] == "version:1"
    assert shown["provenance.code"] == "version:2"
    assert shown["provenance.version"] == "1"  # what made it is kept

    # the database is lost; ingest rebuilds it from the manifests, provenance and blessing too
    engine = create_engine(steps.db_url)
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {conn.dialect.identifier_preparer.quote(steps.table)}"))
        for name in ("entropic_provenance", "entropic_meta", "entropic_params"):
            if inspect(conn).has_table(name):
                internal = Table(name, MetaData(), autoload_with=conn)
                conn.execute(delete(internal).where(internal.c.table_name == steps.table))
    engine.dispose()
    ingested = steps.python(
        "result = [store.ingest(), provenance.provenance_of(store.engine, "
        f"{steps.table!r}, {made['ids'][1]!r})]"
    )
    assert ingested[0] == 3
    provenance = ingested[1]
    assert provenance is not None
    assert provenance["origin"] == "run"
    assert provenance["runner"] == "runner_mod:simulate"
    assert provenance["code"] == "version:2"
    assert provenance["blessed_from"] == "version:1"
    assert steps.step(runner_version="2", on_code_change="rerun")["created"] == made["created"]


def test_export_with_provenance_and_registered_runs(steps: Steps, tmp_path: Path) -> None:
    made = steps.step()
    exported = json.loads(steps.cli("export", "--format", "json", "--provenance").stdout)
    assert {r["id"] for r in exported} == set(made["ids"])
    assert all(r["provenance"]["code"] == made["code"] for r in exported)
    csv_text = steps.cli("export", "--provenance").stdout
    header = csv_text.splitlines()[0].split(",")
    assert "provenance.code" in header
    assert "provenance.git_commit" in header

    outside = tmp_path / "made-elsewhere.txt"
    outside.write_text("x")
    run_id, found = steps.python(
        f"record = store.register({{'n': 7}}, {str(outside)!r})\n"
        f"result = [record.id, provenance.provenance_of(store.engine, {steps.table!r}, record.id)]"
    )
    assert found["origin"] == "register"
    assert found["known"] is False
    assert found["code"] is None
    assert steps.show(run_id)["provenance"] == "unknown (registered: entropic did not run it)"
    assert steps.stale("--all")["groups"][-1]["code"] == "unknown"
