"""A worker process for the many-writers tests: one Store, one sweep or one request.

Usage: python _sweeper.py DB_URL TABLE RESULTS_DIR CALLS_LOG START STOP [--block-at N]
       [--single] [--go FILE] [--log FILE]

The runner appends each run's id to CALLS_LOG and writes its file in two halves. With
``--block-at N`` the runner of the N-th call (counting from 0 in this process) writes half its
file and then blocks for good, so the test can kill the process mid-run. ``--single`` asks for
the parameter set START with run_or_retrieve instead of sweeping; ``--go FILE`` waits for FILE to
exist before starting (so several processes start together). Prints the ids it got, one per line.
"""

import argparse
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import _manywriters as mw

from entropic import Store


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("db_url", "table", "results", "calls"):
        parser.add_argument(name)
    parser.add_argument("start", type=int)
    parser.add_argument("stop", type=int)
    parser.add_argument("--block-at", type=int, default=-1)
    parser.add_argument("--single", action="store_true")
    parser.add_argument("--go")
    parser.add_argument("--log")
    parser.add_argument("--lease", type=float, default=60.0)
    parser.add_argument("--wait-waiters", type=int, default=0)
    parser.add_argument("--work", type=float, default=0.0, help="seconds each run takes")
    args = parser.parse_args()
    if args.log:
        handler = logging.FileHandler(args.log)
        handler.setFormatter(logging.Formatter("%(process)d %(message)s"))
        logging.getLogger("entropic").addHandler(handler)
        logging.getLogger("entropic").setLevel(logging.DEBUG)
    calls = Path(args.calls)
    count = 0
    never = threading.Event()

    def runner(params: dict[str, Any]) -> None:
        nonlocal count
        mw.record_call(calls, params["id"])
        if args.wait_waiters:
            # hold the run until the other processes are seen waiting for it
            mw.wait_until(
                lambda: Path(args.log).read_text().count("waiting for") >= args.wait_waiters,
                timeout=60,
            )
        if args.work:
            time.sleep(args.work)  # the run's own work, not a synchronisation
        text = mw.content_for(params)
        with open(params["result_file"], "w") as f:
            f.write(text[: len(text) // 2])
            f.flush()
            os.fsync(f.fileno())
            if count == args.block_at:
                Path(args.calls + f".blocked-{os.getpid()}").touch()
                never.wait()  # until the test kills this process
            f.write(text[len(text) // 2 :])
        count += 1

    store = Store(
        runner,
        mw.point_model(args.table),
        args.results,
        ".txt",
        args.db_url,
        claim_lease=args.lease,
    )
    if args.go:
        Path(f"{args.go}.ready-{os.getpid()}").touch()
        while not os.path.exists(args.go):  # a start line shared by the processes
            time.sleep(0.005)
    if args.single:
        records = [store.run_or_retrieve(mw.points(args.start, args.start + 1)[0])]
    else:
        records = store.sweep(mw.points(args.start, args.stop))
    sys.stdout.write("".join(f"{r.id}\n" for r in records))


if __name__ == "__main__":
    main()
