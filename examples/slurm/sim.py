"""The simulation the SLURM examples sweep: a stand-in for yours.

A run integrates dx/dt = -k x with explicit Euler steps and writes the trajectory's last value
and length as JSON. Each run also waits ``SIM_SECONDS`` (default 0.02) to stand for real work.
Replace :class:`Result` and :func:`run` by your model and runner; the scripts beside this file
only name them (``sim:run sim:Result``).
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from entropic import Base, Mapped


class Result(Base):
    """One run of the decay: its rate ``k`` and its time step ``dt``."""

    # SIM_TABLE keeps experiments (and the tests) apart; a real model names its table.
    __tablename__ = os.environ.get("SIM_TABLE", "decay")

    k: Mapped[float]
    dt: Mapped[float]


def run(params: dict[str, Any]) -> None:
    """Integrate to t = 1 and write the result file entropic asks for."""
    k, dt = params["k"], params["dt"]
    x, steps = 1.0, round(1.0 / dt)
    for _ in range(steps):
        x -= k * x * dt
    time.sleep(float(os.environ.get("SIM_SECONDS", "0.02")))  # stands for the real work
    body = {
        "x_final": x,
        "steps": steps,
        "host": socket.gethostname(),
        "job": os.environ.get("SLURM_JOB_ID"),
        "task": os.environ.get("SLURM_ARRAY_TASK_ID"),
    }
    Path(params["result_file"]).write_text(json.dumps(body))
