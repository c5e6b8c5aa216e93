"""A process for the chaos tests to kill, freeze or starve: one Store, one operation.

Usage: python _chaosworker.py OPERATION DB_URL TABLE RESULTS_DIR [options]

Operations:
    sweep       sweep points START..STOP (``--order`` shuffles them with a seed); the runner
                appends each run's id to ``--calls``, then writes its file in pieces, pausing
                a random few milliseconds (``--pause``) between them. Prints the ids it got.
                With ``--hold-at N --gate FILE`` the N-th runner call (from 0) creates
                ``FILE.held`` and waits for FILE before going on.
    delete      delete the runs whose ids are listed in ``--ids`` one by one, with their
                files, appending each id to ``--progress`` once it is gone.
    ingest      index the manifests of RESULTS_DIR; prints how many.
    addparam    add the ``temperature`` parameter (default 300.0), ``--chunk`` rows at a time,
                appending ``done/total`` to ``--progress`` after each chunk.

Exit status: 0 done, 3 a SweepError (its failures are printed as ``failed ID`` lines),
4 a CommitError (``unstored N`` printed), 5 any other EntropicError; anything else is a crash
with its traceback on stderr, which the tests treat as a failure.
"""

import argparse
import logging
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent.parent))

import _manywriters as mw

import entropic
from entropic import CommitError, EntropicError, Store, SweepError


def _content(params: dict[str, Any], tag: str, pad: int) -> str:
    # the same text as _chaos.content (not imported: that module pulls in pytest)
    padding = "#" * pad + "\n" if pad else ""
    return mw.content_for(params) + padding + f"written by {tag}\n"


def _ready(args: argparse.Namespace) -> None:
    if args.ready:
        Path(args.ready).touch()


def _sweep(args: argparse.Namespace) -> int:
    calls = Path(args.calls)
    rng = random.Random(args.seed)
    low, high = (float(v) / 1000 for v in args.pause.split(","))
    tag = args.tag or str(os.getpid())

    count = 0

    def runner(params: dict[str, Any]) -> None:
        nonlocal count
        mw.record_call(calls, params["id"])
        if count == args.hold_at:  # wait at a gate the test opens (after stopping a server)
            Path(f"{args.gate}.held").touch()
            deadline = time.monotonic() + 120
            while not os.path.exists(args.gate) and time.monotonic() < deadline:
                time.sleep(0.005)
        count += 1
        text = _content(params, tag, args.pad)
        pieces = 3
        step = len(text) // pieces + 1
        with open(params["result_file"], "w") as f:
            for i in range(pieces):
                f.write(text[i * step : (i + 1) * step])
                f.flush()
                time.sleep(rng.uniform(low, high))  # the run's work

    store = Store(
        runner,
        mw.point_model(args.table),
        args.results,
        ".txt",
        args.db_url,
        claim_lease=args.lease,
    )
    grid = mw.points(args.start, args.stop)
    if args.order is not None:
        random.Random(args.order).shuffle(grid)
    if args.go:
        Path(f"{args.go}.ready-{os.getpid()}").touch()
        deadline = time.monotonic() + 120
        while not os.path.exists(args.go) and time.monotonic() < deadline:
            time.sleep(0.005)  # a start line shared by the processes
    try:
        records = store.sweep(grid)
    except SweepError as exc:
        for failure in exc.failures:
            sys.stdout.write(f"failed {failure.id} {type(failure.error).__name__}\n")
            sys.stderr.write(f"run {failure.id} failed: {failure.error!r}"[:2000] + "\n")
        for record in exc.records:
            if record is not None:
                sys.stdout.write(f"{record.id}\n")
        sys.stderr.write(f"SweepError: {exc}\n")
        return 3
    except CommitError as exc:
        sys.stdout.write(f"unstored {exc.unstored}\n")
        sys.stderr.write(f"CommitError: {exc}\n")
        return 4
    sys.stdout.write("".join(f"{r.id}\n" for r in records))
    return 0


def _delete(args: argparse.Namespace) -> int:
    store = Store(None, mw.point_model(args.table), args.results, ".txt", args.db_url)
    _ready(args)
    progress = Path(args.progress)
    for run_id in Path(args.ids).read_text().split():
        store.delete(hash=run_id, remove_file=True)
        mw.record_call(progress, run_id)
    return 0


def _ingest(args: argparse.Namespace) -> int:
    store = Store(None, mw.point_model(args.table), args.results, ".txt", args.db_url)
    _ready(args)
    sys.stdout.write(f"{store.ingest()}\n")
    return 0


def _addparam(args: argparse.Namespace) -> int:
    from entropic import _db, _rekey

    size = args.chunk
    _rekey.chunks = lambda items, size=size: _db.chunks(items, size)  # smaller steps to kill in
    store = Store(None, mw.heated_model(args.table), args.results, ".txt", args.db_url)
    _ready(args)
    progress = Path(args.progress)

    def callback(done: int, total: int) -> None:
        mw.record_call(progress, f"{done}/{total}")

    sys.stdout.write(f"{store.add_parameter('temperature', 300.0, callback=callback)}\n")
    return 0


def _impatient(seconds: float) -> None:
    """Wait through an outage for ``seconds`` instead of a minute (a private knob, for tests)."""
    from entropic import _batching, _db, _sweeping

    for module in (_batching, _sweeping, _db):
        for name in ("FINAL_PATIENCE", "OUTAGE_PATIENCE"):
            if hasattr(module, name):
                setattr(module, name, seconds)
    for function in (_batching.BatchWriter.close, getattr(_db, "patiently", None)):
        if function is not None and function.__defaults__:
            function.__defaults__ = (seconds,) * len(function.__defaults__)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("operation", choices=["sweep", "delete", "ingest", "addparam"])
    for name in ("db_url", "table", "results"):
        parser.add_argument(name)
    parser.add_argument("--calls")
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--stop", type=int, default=0)
    parser.add_argument("--order", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pause", default="1,4", help="milliseconds between pieces: LOW,HIGH")
    parser.add_argument("--pad", type=int, default=0, help="bytes of padding in each file")
    parser.add_argument("--tag")
    parser.add_argument("--lease", type=float, default=60.0)
    parser.add_argument("--go")
    parser.add_argument("--hold-at", type=int, default=-1, help="the runner call to hold")
    parser.add_argument("--gate", help="the file whose creation lets the held call go on")
    parser.add_argument("--ids")
    parser.add_argument("--progress")
    parser.add_argument("--chunk", type=int, default=100)
    parser.add_argument("--patience", type=float, help="the final commit's patience (seconds)")
    parser.add_argument("--log")
    parser.add_argument("--ready", help="a file to create once the Store is open")
    args = parser.parse_args()
    if args.log:
        handler = logging.FileHandler(args.log)
        handler.setFormatter(logging.Formatter("%(process)d %(levelname)s %(message)s"))
        logging.getLogger("entropic").addHandler(handler)
        logging.getLogger("entropic").setLevel(logging.INFO)
    else:  # warnings to stderr, where the tests count them
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    if args.patience is not None:
        _impatient(args.patience)
    operation = {"sweep": _sweep, "delete": _delete, "ingest": _ingest, "addparam": _addparam}
    try:
        return operation[args.operation](args)
    except EntropicError as exc:
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        return 5


if __name__ == "__main__":
    assert entropic.__file__
    sys.exit(main())
