"""The exceptions entropic raises.

Every exception is an :class:`EntropicError`; where one refines a built-in exception it inherits
that too, so ``except ValueError`` keeps working for callers who do not know entropic's types.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "EntropicError",
    "FailedBeforeError",
    "FailedRun",
    "FallbackRefusedError",
    "HashCollisionError",
    "MissingResultError",
    "ParameterError",
    "ReservedColumnError",
    "SchemaError",
    "SweepError",
    "UnknownExecutorError",
]


class EntropicError(Exception):
    """Base class of every error entropic raises on purpose."""


class ParameterError(EntropicError, ValueError):
    """A parameter set does not fit the model: unknown keys, missing columns or an invalid id."""


class HashCollisionError(EntropicError):
    """A stored record has the requested key but different parameters.

    Floats are rounded to 12 decimal places before hashing, so parameters that differ only below
    that precision share a key. entropic refuses to hand back another parameter set's result.
    """


class UnknownExecutorError(EntropicError, ValueError):
    """An executor was asked for by a name that no installed package registers."""


class FallbackRefusedError(EntropicError, RuntimeError):
    """An executor could not perform some runs where it was told to, and may not fall back.

    Raised instead of performing those runs in the calling process (an executor's
    ``fallback=False``). Runs that finished before were stored; a later sweep runs the rest.

    Attributes:
        causes: What went wrong, one line per kind of failure, the real cause first where it is
            known (``ModuleNotFoundError: No module named 'sim'``, say).
        remaining: How many runs were not performed, or ``None`` if that is not known.
    """

    causes: list[str]
    remaining: int | None

    def __init__(
        self, message: str, *, causes: Sequence[str] = (), remaining: int | None = None
    ) -> None:
        super().__init__(message)
        self.causes = list(causes)
        self.remaining = remaining


class SchemaError(EntropicError):
    """The model and the database table disagree, or a model is declared wrongly."""


class ReservedColumnError(SchemaError, TypeError):
    """A model redefines one of the columns that :class:`entropic.Base` reserves."""


class MissingResultError(EntropicError, FileNotFoundError):
    """A runner returned without writing the file it was given in ``params["result_file"]``."""


class FailedBeforeError(EntropicError):
    """A run that ``sweep(skip_failed=True)`` did not start: it has failed that many times.

    Attributes:
        attempts: How many times in a row the run has failed.
        exc_type: The name of the exception its last attempt raised.
    """

    def __init__(self, message: str, attempts: int, exc_type: str) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.exc_type = exc_type


@dataclass(frozen=True)
class FailedRun:
    """One run of a sweep that raised.

    Attributes:
        id: The run's key.
        params: The parameters the run was asked for.
        error: The exception the runner raised (or that entropic raised for the run).
    """

    id: str
    params: Mapping[str, Any]
    error: Exception


class SweepError(ExceptionGroup[Exception], EntropicError):
    """Some runs of a sweep failed; every other run was persisted before this was raised.

    The group's exceptions are the runners' own exceptions, each carrying a note with its run's id
    and parameters. :attr:`failures` pairs them with their ids and parameters, and :attr:`records`
    holds the sweep's result list with ``None`` where a run failed. Runs that ``skip_failed``
    did not start are among the failures with a :class:`FailedBeforeError`; :attr:`skipped`
    says how many there are.
    """

    failures: list[FailedRun]
    records: list[Any]
    skipped: int

    def __new__(
        cls,
        message: str,
        exceptions: Sequence[Exception],
        failures: Sequence[FailedRun] = (),
        records: Sequence[Any] = (),
        skipped: int = 0,
    ) -> SweepError:
        self = super().__new__(cls, message, exceptions)
        self.failures = list(failures)
        self.records = list(records)
        self.skipped = skipped
        return self

    def __init__(
        self,
        message: str,
        exceptions: Sequence[Exception],
        failures: Sequence[FailedRun] = (),
        records: Sequence[Any] = (),
        skipped: int = 0,
    ) -> None:
        super().__init__(message, exceptions)

    def derive(self, excs: Sequence[Exception]) -> SweepError:  # type: ignore[override]
        kept = {id(e) for e in excs}
        failures = [f for f in self.failures if id(f.error) in kept]
        skipped = sum(isinstance(f.error, FailedBeforeError) for f in failures)
        return SweepError(self.message, excs, failures, self.records, skipped)


class TimeLimitError(EntropicError):
    """A sweep reached its ``time_limit``: no run started after it, and runs in flight were kept.

    Attributes:
        records: One entry per distinct parameter set in input order: the record, or ``None``
            for a run that was not done.
        remaining: How many parameter sets were not done.
    """

    def __init__(self, message: str, records: list[Any], remaining: int) -> None:
        super().__init__(message)
        self.records = records
        self.remaining = remaining


class SweepTerminated(KeyboardInterrupt):
    """Raised in a sweep's thread when the process gets SIGTERM (walltime, ``scancel``).

    A ``KeyboardInterrupt`` so that executors stop their work as they do for Ctrl-C; the Store
    commits what finished, releases its claims, and exits the process with status 143.
    """


class CommitError(EntropicError):
    """The last commit of a sweep failed: finished runs are on disk but not in the database.

    Attributes:
        unstored: How many finished runs were not committed.
    """

    def __init__(self, message: str, unstored: int) -> None:
        super().__init__(message)
        self.unstored = unstored


class DatabaseUnavailableError(EntropicError, ConnectionError):
    """The database did not answer for longer than entropic waits through an outage.

    Finished runs are on disk with their manifests; the next sweep, or ``ingest()``, indexes
    them once the database answers again.
    """
