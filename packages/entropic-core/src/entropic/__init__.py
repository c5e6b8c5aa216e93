"""entropic: a run cache for parameterised simulations.

Describe a run's parameters as a model, hand a :class:`Store` a runner that writes one result
file, and ask for results by parameters: each parameter set runs once; every later request is
answered from the database.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Mapped, mapped_column

from entropic import executors, provenance
from entropic.__about__ import __version__
from entropic._merge import MergeReport
from entropic._progress import SweepProgress
from entropic.errors import (
    CommitError,
    DatabaseUnavailableError,
    EntropicError,
    FailedBeforeError,
    FailedRun,
    FallbackRefusedError,
    HashCollisionError,
    MissingResultError,
    ParameterError,
    ReservedColumnError,
    SchemaError,
    SweepError,
    SweepTerminated,
    TimeLimitError,
    UnknownExecutorError,
)
from entropic.grid import expand_grid
from entropic.hashing import hash_params
from entropic.provenance import CodeChangedWarning
from entropic.reflection import entropic_tables, reflect_model
from entropic.running import Runner, RunOutcome, RunTask
from entropic.schema import Base
from entropic.store import Store

__all__ = [
    "Base",
    "CodeChangedWarning",
    "CommitError",
    "DatabaseUnavailableError",
    "EntropicError",
    "FailedBeforeError",
    "FailedRun",
    "FallbackRefusedError",
    "HashCollisionError",
    "Mapped",
    "MergeReport",
    "MissingResultError",
    "ParameterError",
    "ReservedColumnError",
    "RunOutcome",
    "RunTask",
    "Runner",
    "SchemaError",
    "Store",
    "SweepError",
    "SweepProgress",
    "SweepTerminated",
    "TimeLimitError",
    "UnknownExecutorError",
    "__version__",
    "executors",
    "expand_grid",
    "hash_params",
    "provenance",
    "entropic_tables",
    "mapped_column",
    "reflect_model",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
