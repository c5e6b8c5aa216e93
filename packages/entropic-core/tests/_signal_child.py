"""A sweep that signals itself: ``python _signal_child.py DB_URL RESULTS SIGNAL AT [--replace]``.

The runner writes each result; on the point ``n == AT`` it sends SIGNAL (``TERM`` or ``INT``) to
its own process before writing, so the signal arrives while a run is in flight. With
``--replace`` a handler that calls ``sys.exit(0)`` is installed first, as dask-jobqueue does, to
show that the sweep's own handling wins for its duration. Prints one JSON line on exit from an
interrupt: the points finished and the SIGINT handler in force afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _core_models import SimResult

from entropic import Store, expand_grid

finished: list[int] = []


def main() -> None:
    """Sweep ten points and signal this process in the middle."""
    db_url, results, which, at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    signum = signal.SIGTERM if which == "TERM" else signal.SIGINT

    def leave(*_: Any) -> None:
        sys.exit(0)

    if "--replace" in sys.argv:
        signal.signal(signal.SIGINT, leave)

    def runner(params: dict[str, Any]) -> None:
        if params["n"] == at:
            os.kill(os.getpid(), signum)
        Path(params["result_file"]).write_text(str(params["n"]))
        finished.append(params["n"])

    store = Store(runner, SimResult, results, ".txt", db_url)
    client = None
    if "--dask" in sys.argv:  # the same on a Dask cluster in this process (entropic-dask)
        from distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
        )
        client = Client(cluster)
    try:
        store.sweep(expand_grid({"n": list(range(10)), "dt": [0.5]}), client=client)
    except KeyboardInterrupt:
        after = signal.getsignal(signal.SIGINT)
        print(json.dumps({"finished": finished, "restored": after is leave}), flush=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
