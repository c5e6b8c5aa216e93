"""A small simulation for the SLURM tests, importable by batch jobs and Dask workers.

The jobs find this module through ``PYTHONPATH``; the environment variables below tell them
where to note their calls, which table to use and how long a run takes, so that one module
serves every test without code generation.

- ``ENTROPIC_SLURM_TABLE``: the model's table name (default ``slurm_points``).
- ``ENTROPIC_SLURM_CALLS``: a folder where each runner call leaves one empty file.
- ``ENTROPIC_SLURM_SECONDS``: how long each run works (default 0.05).
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from entropic import Base, Mapped


class SlurmPoint(Base):
    """Two parameters: an integer and a float."""

    __tablename__ = os.environ.get("ENTROPIC_SLURM_TABLE", "slurm_points")

    n: Mapped[int]
    x: Mapped[float]


def run(p: dict[str, Any]) -> None:
    """Work for ``ENTROPIC_SLURM_SECONDS`` and write who ran the point, as JSON."""
    calls = os.environ.get("ENTROPIC_SLURM_CALLS")
    job = os.environ.get("SLURM_ARRAY_TASK_ID") or os.environ.get("SLURM_JOB_ID") or "none"
    if calls:
        (Path(calls) / f"{p['id']}-{job}-{uuid.uuid4().hex[:8]}").touch()
    time.sleep(float(os.environ.get("ENTROPIC_SLURM_SECONDS", "0.05")))  # the workload
    body = {
        "n": p["n"],
        "x": p["x"],
        "job": os.environ.get("SLURM_JOB_ID"),
        "task": os.environ.get("SLURM_ARRAY_TASK_ID"),
        "pid": os.getpid(),
        "host": socket.gethostname(),
    }
    Path(p["result_file"]).write_text(json.dumps(body))


def calls_by_job(folder: Path) -> dict[str, int]:
    """Runner calls noted in ``folder``, by array task (or job) id."""
    counts: dict[str, int] = {}
    for entry in folder.iterdir():
        job = entry.name.split("-")[1]
        counts[job] = counts.get(job, 0) + 1
    return counts
