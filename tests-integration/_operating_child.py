"""A sweep that a test watches from outside: ``python _operating_child.py DB RESULTS TABLE DIR``.

Ten points; the runner completes the first five, then, on the sixth, writes ``DIR/blocked`` and
waits for ``DIR/go`` (or a minute) before it completes that point and the rest.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import _manywriters as mw

from entropic import Store

POINTS = mw.points(0, 10)


def main() -> None:
    """Sweep :data:`POINTS`, blocking in the sixth until told to go on."""
    db_url, results_dir, table, folder = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])

    def runner(params: dict[str, Any]) -> None:
        if params["n"] == 5:
            (folder / "blocked").write_text("")
            deadline = time.monotonic() + 60
            while not (folder / "go").exists() and time.monotonic() < deadline:
                time.sleep(0.02)
        Path(params["result_file"]).write_text(mw.content_for(params))

    store = Store(runner, mw.point_model(table), results_dir, ".txt", db_url)
    store.sweep(POINTS)
    (folder / "finished").write_text("")


if __name__ == "__main__":
    main()
