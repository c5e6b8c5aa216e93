"""Helpers for the tests on the SLURM test cluster: is it up, submit, wait, job states.

The cluster is the one ``tests-integration/slurm/start-cluster.sh`` starts (``.ci/run`` does).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

HERE = Path(__file__).parent
#: States of a node that can run jobs.
_USABLE = frozenset({"idle", "mixed", "allocated", "completing"})
#: What squeue shows of a job that has not ended.
_ACTIVE = frozenset({"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED"})


def problem() -> str | None:
    """``None`` when a SLURM cluster answers and has a node that can run jobs, else why not."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "SLURM is not installed (no sinfo/sbatch on PATH)"
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 30 s"
    if out.returncode != 0:
        return f"sinfo failed: {out.stderr.strip() or out.returncode}"
    states = [s.rstrip("*~#!%$@^-") for s in out.stdout.split()]
    if not any(s in _USABLE for s in states):
        return f"no SLURM node can run jobs (states: {states or 'none'})"
    return None


def job_env(**extra: str) -> dict[str, str]:
    """This process's environment, with this folder importable, plus ``extra``."""
    python_path = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": python_path, **extra}


def sbatch(args: Sequence[str], env: Mapping[str, str]) -> str:
    """Submit a batch job; its id (an array job's id for ``--array``)."""
    out = subprocess.run(
        ["sbatch", "--parsable", *args],
        capture_output=True,
        text=True,
        env=dict(env),
        timeout=60,
        check=True,
    )
    return out.stdout.strip().split(";")[0]


def active(job: str) -> list[tuple[str, str]]:
    """The tasks of ``job`` that have not ended: (id, state) pairs."""
    out = subprocess.run(
        ["squeue", "-h", "-j", job, "-o", "%i %T"], capture_output=True, text=True, timeout=30
    )
    if out.returncode != 0:  # a job the controller has forgotten has ended
        return []
    pairs = [tuple(line.split()[:2]) for line in out.stdout.splitlines() if line.strip()]
    return [(i, s) for i, s in pairs if s in _ACTIVE]


def wait_until_ended(jobs: Sequence[str], timeout: float) -> None:
    """Wait for every task of ``jobs`` to end; cancel them and fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    pause = 0.2
    while any(active(job) for job in jobs):
        if time.monotonic() > deadline:
            subprocess.run(["scancel", *jobs], timeout=30, check=False)
            raise AssertionError(f"SLURM jobs {list(jobs)} did not end within {timeout:.0f} s")
        time.sleep(pause)  # the poll's pause between two looks at the queue
        pause = min(pause * 1.5, 2.0)


def states(job: str) -> dict[str, tuple[str, str]]:
    """Each task of ``job`` (``<job>_<index>`` for an array) with its state and exit code."""
    out = subprocess.run(
        ["scontrol", "-o", "show", "job", job], capture_output=True, text=True, timeout=30
    )
    found: dict[str, tuple[str, str]] = {}
    for line in out.stdout.splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        name = fields.get("JobId", "?")
        if "ArrayTaskId" in fields and "ArrayJobId" in fields:
            name = f"{fields['ArrayJobId']}_{fields['ArrayTaskId']}"
        found[name] = (fields.get("JobState", "?"), fields.get("ExitCode", "?"))
    return found
