"""Signals during a sweep: SIGINT and SIGTERM stop it cleanly.

For the duration of a sweep, in the main thread, SIGINT raises ``KeyboardInterrupt`` (even when
another library replaced Python's handler, as dask-jobqueue does) and SIGTERM raises
:class:`~entropic.errors.SweepTerminated`. Either unwinds the sweep through its ``finally``
blocks: no new run starts, finished runs are committed, claims are released. The previous
handlers come back when the sweep ends.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from entropic.errors import SweepTerminated

__all__ = ["stopping_signals"]


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SweepTerminated(f"terminated by signal {signum} (SIGTERM)")


@contextmanager
def stopping_signals() -> Iterator[None]:
    """Handle SIGINT and SIGTERM as described above while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[signal.Signals, Any] = {}
    try:
        for signum, handler in ((signal.SIGINT, _on_sigint), (signal.SIGTERM, _on_sigterm)):
            previous[signum] = signal.signal(signum, handler)
    except ValueError:  # not the main interpreter
        pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
