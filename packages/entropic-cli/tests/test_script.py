"""The installed ``entropic`` script, run as a process, and shell completion."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from _cli_helpers import StoreFiles
from click.testing import CliRunner

from entropic_cli.main import cli


def _script() -> str:
    path = shutil.which("entropic")
    assert path is not None, "the entropic script is not installed in this environment"
    return path


def test_installed_script_runs_as_a_process(store: StoreFiles, tmp_path: Path) -> None:
    env = {**os.environ, **store.env}
    version = subprocess.run(
        [_script(), "--version"], capture_output=True, text=True, timeout=120, check=True
    )
    assert version.stdout == "entropic 3.0.0\n"
    listing = subprocess.run(
        [_script(), "ls", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    )
    assert sorted(r["id"] for r in json.loads(listing.stdout)) == sorted(store.ids)
    failed = subprocess.run(
        [_script(), "show", "nope"], capture_output=True, text=True, timeout=120, env=env
    )
    assert failed.returncode == 1
    assert failed.stderr == "Error: no run with id 'nope' in table 'cli_points'\n"
    usage = subprocess.run(
        [_script(), "ls", "--limit", "x"], capture_output=True, text=True, timeout=120, env=env
    )
    assert usage.returncode == 2
    assert len(usage.stderr.splitlines()) == 1


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """``entropic export | head -1``: more output than a pipe holds, and the reader leaves."""
    files = StoreFiles(f"sqlite:///{tmp_path / 'big.sqlite3'}", tmp_path / "big")
    with files.open() as s:
        s.sweep({"n": i, "x": 0.5, "label": "p" * 200} for i in range(1500))
    with subprocess.Popen(
        [_script(), "export", "--format", "jsonl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **files.env},
    ) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        assert proc.stdout.readline().startswith(b"{")
        proc.stdout.close()
        err = proc.stderr.read()
        code = proc.wait(timeout=120)
    assert code == 1
    assert err == b""


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_script_for_each_shell(shell: str) -> None:
    result = subprocess.run(
        [_script()],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "_ENTROPIC_COMPLETE": f"{shell}_source"},
        check=True,
    )
    assert "_ENTROPIC_COMPLETE" in result.stdout
    assert f"{shell}_complete" in result.stdout


def _complete(runner: CliRunner, words: str, env: dict[str, str]) -> list[str]:
    result = runner.invoke(
        cli,
        [],
        prog_name="entropic",
        env={
            **env,
            "_ENTROPIC_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split(" ")) - 1),
        },
    )
    assert result.exit_code == 0, result.output
    return [line.split(",", 1)[1] for line in result.stdout.splitlines() if line]


def test_completion_of_commands_tables_and_ids(runner: CliRunner, store: StoreFiles) -> None:
    assert {"info", "ls", "show", "rm", "verify", "gc", "ingest", "export", "sweep"} <= set(
        _complete(runner, "entropic ", store.env)
    )
    assert _complete(runner, "entropic --table ", store.env) == ["cli_points"]
    prefix = store.ids[0][:3]
    expected = sorted(i for i in store.ids if i.startswith(prefix))
    assert _complete(runner, f"entropic show {prefix}", store.env) == expected
    # a database that cannot be read completes nothing, quietly
    assert _complete(runner, "entropic show ", {"ENTROPIC_DB_URL": "sqlite:///nowhere.db"}) == []


@pytest.fixture
def big(tmp_path: Path) -> StoreFiles:
    """A store with more rows than a pipe holds when listed."""
    files = StoreFiles(f"sqlite:///{tmp_path / 'big.sqlite3'}", tmp_path / "big")
    with files.open() as s:
        s.sweep({"n": i, "x": 0.5, "label": "p" * 200} for i in range(1500))
    return files


def test_ls_into_a_closed_pipe_ends_quietly(big: StoreFiles) -> None:
    """``entropic ls | head -1``, with a real pipe whose reader goes away."""
    with subprocess.Popen(
        [_script(), "ls"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **big.env},
    ) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        assert proc.stdout.readline().split()[0] == b"id"
        proc.stdout.close()
        err = proc.stderr.read()
        code = proc.wait(timeout=120)
    assert code == 1
    assert err == b""


SLOW_SIM = """
import time
from pathlib import Path
from entropic import Base, Mapped

class Slow(Base):
    __tablename__ = "cli_slow"
    k: Mapped[int]

def run(params):
    time.sleep(0.05)
    Path(params["result_file"]).write_text(str(params["k"]))
"""


def test_ctrl_c_stops_a_sweep_with_130_and_the_same_command_resumes(tmp_path: Path) -> None:
    (tmp_path / "slow_sim.py").write_text(SLOW_SIM)
    results = tmp_path / "results"
    command = [_script(), "sweep", "slow_sim:run", "slow_sim:Slow", "--no-progress"]
    command += ["--grid", "k=" + ",".join(str(k) for k in range(400)), "--file-suffix", ".txt"]
    env = {
        **os.environ,
        "ENTROPIC_DB_URL": f"sqlite:///{tmp_path / 'slow.sqlite3'}",
        "ENTROPIC_RESULTS_DIR": str(results),
    }
    with subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        deadline = time.monotonic() + 120
        while len(list(results.glob("*.txt"))) < 5:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the sweep wrote no results"
            time.sleep(0.02)  # polling the folder for a condition, with a deadline
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    match = re.fullmatch(
        r"interrupted: (\d+) run\(s\) finished and were stored, 0 were cached, (\d+) did not "
        r"run; run the same command again to resume",
        last,
    )
    assert match is not None, err
    stored = int(match.group(1))
    assert stored >= 5
    assert stored + int(match.group(2)) == 400
    again = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=True
    )
    assert again.stdout == f"400 parameter set(s): {stored} cached, {400 - stored} ran\n"


def test_gc_with_no_terminal_says_to_pass_yes(store: StoreFiles) -> None:
    (store.results_dir / "stray.dat").write_text("x")
    result = subprocess.run(
        [_script(), "gc"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **store.env},
    )
    assert result.returncode == 1
    assert "Aborted!" not in result.stderr
    assert "pass --yes" in result.stderr
    assert (store.results_dir / "stray.dat").exists()
