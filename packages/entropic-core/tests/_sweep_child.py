"""A sweep that a test kills with SIGKILL: run as ``python _sweep_child.py DB_URL RESULTS_DIR``.

The runner completes the first three points it is given, then, on the fourth, waits until the
Store has committed rows of its model table, prints the completed points and blocks forever.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).parent))

from _core_models import SimResult

from entropic import Store

committed = threading.Event()
finished: list[int] = []


def runner(params: dict[str, Any]) -> None:
    """Complete three points, then report and hang inside the fourth."""
    if len(finished) == 3:
        Path(params["result_file"]).write_text("half")
        if not committed.wait(timeout=60):
            print(json.dumps({"error": "nothing was committed while the sweep ran"}), flush=True)
        print(json.dumps({"finished": finished, "hanging": params["n"]}), flush=True)
        threading.Event().wait()  # until killed
    Path(params["result_file"]).write_text(str(params["n"]))
    finished.append(params["n"])


def main() -> None:
    """Sweep ten points; the test kills this process in the middle."""
    db_url, results_dir = sys.argv[1], sys.argv[2]
    store = Store(runner, SimResult, results_dir, ".txt", db_url)
    wrote = threading.local()

    @event.listens_for(store.engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO CORE_SIM_RESULTS"):
            wrote.rows = True

    @event.listens_for(store.engine, "commit")
    def _commit(conn: Any) -> None:
        if getattr(wrote, "rows", False):
            committed.set()

    store.sweep({"n": n, "dt": 0.1} for n in range(10))


if __name__ == "__main__":
    main()
