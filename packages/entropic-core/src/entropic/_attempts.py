"""A failed attempt of a run, as the journal keeps it: bounded text, parameters as JSON.

:class:`Attempt` is what a sweep notes when a run raises and writes with its next commit, into
``entropic_failures`` (the run's last attempt) and ``entropic_attempts`` (every attempt).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from entropic._json import to_json
from entropic.running import RunOutcome, traceback_tail

__all__ = ["MESSAGE_LIMIT", "TYPE_LIMIT", "Attempt", "exception_name", "params_json"]

_HOST: Final = socket.gethostname()

#: Longest exception message kept (the traceback tail is bounded by ``running``).
MESSAGE_LIMIT: Final = 4000
#: Longest exception type name kept (the column's width).
TYPE_LIMIT: Final = 255


def exception_name(error: BaseException) -> str:
    """The exception's class, qualified by its module unless it is a built-in."""
    cls = type(error)
    module = cls.__module__
    name = cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"
    return name[:TYPE_LIMIT]


def params_json(params: Mapping[str, Any]) -> str:
    """Parameter values as the JSON text the journal keeps (enums by value, dates as ISO)."""
    return json.dumps(params, sort_keys=True, ensure_ascii=False, default=to_json)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One failed attempt of a run, waiting to be written with the sweep's next commit.

    Attributes:
        run_id: The run's key.
        params: Its parameters as JSON text.
        key_names: The parameters its id was hashed from, as JSON text (``None``: all).
        explicit_id: Whether the id was given rather than hashed.
        attempt: The attempt's number (1 for a run's first failure).
        exc_type: The exception's qualified class name.
        message: The exception's text.
        traceback: The tail of its traceback.
        host: Where the attempt ran.
        pid: The process it ran in.
        started_at: When the runner was called.
        ended_at: When it ended.
        elapsed: Its wall time in seconds.
        final: Whether the run counts as failed (no retry follows).
    """

    run_id: str
    params: str
    key_names: str | None
    explicit_id: bool
    attempt: int
    exc_type: str
    message: str
    traceback: str | None
    host: str | None
    pid: int | None
    started_at: dt.datetime | None
    ended_at: dt.datetime
    elapsed: float | None
    final: bool

    @classmethod
    def of(
        cls,
        run_id: str,
        params: Mapping[str, Any],
        explicit_id: bool,
        error: BaseException,
        outcome: RunOutcome | None,
        attempt: int,
        *,
        final: bool,
        key_names: Sequence[str] | None = None,
    ) -> Attempt:
        """The attempt number ``attempt`` of a run that raised ``error``.

        The traceback is the one formatted where the run happened (``outcome.traceback``),
        else formatted here; texts are cut to what the columns hold.
        """
        tail = outcome.traceback if outcome is not None else None
        if tail is None and error.__traceback__ is not None:
            tail = traceback_tail(error)
        try:
            message = str(error)[:MESSAGE_LIMIT]
        except Exception:  # an exception whose text cannot be made
            message = repr(type(error))
        return cls(
            run_id=run_id,
            params=params_json(params),
            key_names=None if key_names is None else json.dumps(list(key_names)),
            explicit_id=explicit_id,
            attempt=attempt,
            exc_type=exception_name(error),
            message=message,
            traceback=tail,
            host=(outcome.host if outcome is not None else _HOST)[:255],
            pid=outcome.pid if outcome is not None else os.getpid(),
            started_at=outcome.started_at if outcome is not None else None,
            ended_at=outcome.created_at if outcome is not None else dt.datetime.now(dt.UTC),
            elapsed=outcome.elapsed_seconds if outcome is not None else None,
            final=final,
        )

    def facts(self) -> dict[str, Any]:
        """The columns the current failure and the history share."""
        return {
            "run_id": self.run_id,
            "attempt": self.attempt,
            "exc_type": self.exc_type,
            "message": self.message,
            "traceback": self.traceback,
            "host": self.host,
            "pid": self.pid,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "elapsed": self.elapsed,
        }
