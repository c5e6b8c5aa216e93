"""The installed ``entropic`` script, run as a process, and shell completion."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
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
