"""A runner for the Dask kill test; worker processes import it from this folder."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any


class HoldingRunner:
    """Writes a JSON result in two halves, ``WORK_SECONDS`` apart.

    Once the first half is on disk, a run notes ``started-<pid>-<id>`` in ``control``. In a
    process for which ``control/hold-<pid>`` exists, the run then stops (for up to two minutes),
    so that the test can kill the process while a half-written file exists.
    """

    WORK_SECONDS = 0.03

    def __init__(self, control: Path) -> None:
        self.control = control

    def __call__(self, p: dict[str, Any]) -> None:
        pid = os.getpid()
        head = json.dumps({"x": p["x"], "pid": pid, "pad": "." * 4096})[:-1]
        with open(p["result_file"], "w") as fh:
            fh.write(head)
            fh.flush()
            (self.control / f"started-{pid}-{p['id']}").touch()
            if (self.control / f"hold-{pid}").exists():
                threading.Event().wait(120)  # ended by the test's SIGKILL
            time.sleep(self.WORK_SECONDS)  # the workload
            fh.write(', "complete": true}')
