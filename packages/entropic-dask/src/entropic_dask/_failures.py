"""Failures said in one line: the root cause of a chain first, and whether a value can be
pickled for the workers, without distributed's own logging of the attempt.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Final

from distributed.protocol import pickle as dask_pickle

__all__ = ["describe", "one_line", "pickling_error", "root_cause"]

# distributed's own annotations leave this untyped; pin down what we rely on.
_pickle: Callable[[Any], bytes] = dask_pickle.dumps
#: Where ``_pickle`` logs a failure, as an ERROR with the whole traceback, before raising it.
_pickle_logger = logging.getLogger(dask_pickle.__name__)

#: Longest description of one exception in a warning or an error message.
_MAX_DESCRIPTION: Final = 600


def one_line(exc: BaseException) -> str:
    """``Type: message``, the message's lines joined into one."""
    text = " ".join(str(exc).split())
    if len(text) > _MAX_DESCRIPTION:
        cut = text.rfind(" ", 0, _MAX_DESCRIPTION)
        text = text[: cut if cut > 0 else _MAX_DESCRIPTION] + " [...]"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def root_cause(exc: BaseException, *, implicit: bool = True) -> BaseException:
    """The first exception of the chain that ``exc`` ends (``raise ... from`` or, if
    ``implicit``, during)."""
    seen = {id(exc)}
    while True:
        below = exc.__cause__
        if below is None and implicit and not exc.__suppress_context__:
            below = exc.__context__
        if below is None or id(below) in seen:
            return exc
        seen.add(id(below))
        exc = below


def describe(exc: BaseException, *, implicit: bool = True) -> str:
    """One line naming what went wrong, the root cause first (as :func:`root_cause` finds it).

    The scheduler, for one, wraps a graph it cannot unpickle in a ``RuntimeError`` about
    different environments; the ``ModuleNotFoundError`` underneath is what the user must fix.
    A chain that says the same thing twice is said once.
    """
    root, line = root_cause(exc, implicit=implicit), one_line(exc)
    cause = one_line(root)
    if root is exc or cause == line:
        return line
    return f"{cause} (reported as {line})"


class _ThisThread(logging.Filter):
    """Drops the records of the thread that made it (and those that do not say their thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.ident = threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread is not None and record.thread != self.ident


def pickling_error(value: Any) -> Exception | None:
    """Why ``value`` cannot be pickled for the workers, or ``None`` if it can.

    distributed's pickling logs a failure with its traceback before raising it; here that
    record is dropped (this thread's, during this call only), since the sweep reports the
    failure itself, in one line. The exception returned is the last attempt's (cloudpickle's):
    the ones it was raised during are distributed's earlier attempts, not its causes.
    """
    quiet = _ThisThread()
    _pickle_logger.addFilter(quiet)
    try:
        _pickle(value)
    except Exception as exc:
        return exc
    finally:
        _pickle_logger.removeFilter(quiet)
    return None
