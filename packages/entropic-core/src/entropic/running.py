"""One run: a planned task, the runner call with an atomic result file, and its outcome.

:func:`perform` is what executors call, in the client process or on a worker. It never touches
the database: it writes the result file and its manifest and returns a small outcome that the
:class:`~entropic.Store` persists.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

from entropic.errors import MissingResultError
from entropic.manifests import Manifest, write_manifest
from entropic.scratch import SCRATCH_DIR_NAME, release, thread_folder

__all__ = ["TEMP_DIR_NAME", "RunOutcome", "RunTask", "Runner", "perform", "release_scratch"]

#: Remove this thread's scratch folder under a results directory (see :mod:`entropic.scratch`).
release_scratch = release

#: A runner writes one result file to ``params["result_file"]``.
Runner: TypeAlias = Callable[[dict[str, Any]], None]

#: Folder inside the results directory that holds results while their runner writes them
#: (kept for code written against entropic 3.0; :mod:`entropic.scratch` owns the layout).
TEMP_DIR_NAME: Final = SCRATCH_DIR_NAME

_HOST: Final = socket.gethostname()


@dataclass(frozen=True, slots=True)
class RunTask:
    """Everything a worker needs to perform one run.

    Attributes:
        id: The run's key.
        params: The parameter values as they are persisted (no reserved keys).
        result_file: The final path of the result file.
        results_dir: The results directory (temporary files and the manifest go there).
        custom_data: Extra data for the runner and the record, without ``elapsed_seconds``.
        record_host: Whether to record the host the run happened on in ``custom_data["host"]``.
        explicit_id: Whether ``id`` was given by the user rather than hashed (the manifest says
            so, for ``ingest`` to trust it).
        key_names: The parameters the id was hashed from (recorded in the manifest).
        provenance: What makes the result (runner, code, environment), recorded in the manifest
            and the database with the run's pid, host, start and end; ``None`` records none.
    """

    id: str
    params: Mapping[str, Any]
    result_file: str
    results_dir: str
    custom_data: Mapping[str, Any] = field(default_factory=dict)
    record_host: bool = False
    explicit_id: bool = False
    key_names: tuple[str, ...] | None = None
    provenance: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What came of one run.

    Attributes:
        id: The run's key.
        error: The exception the run raised, or ``None`` when the result file is in place.
        elapsed_seconds: Wall time of the runner call.
        created_at: When the run finished (timezone-aware UTC).
        custom_data: The record's ``custom_data``, including ``elapsed_seconds``.
        host: The host the run happened on.
        started_at: When the runner was called (timezone-aware UTC), if known.
        traceback: The tail of the failed run's traceback, formatted where it happened.
        pid: The process the run happened in, if known.
        provenance: The task's provenance with this run's pid, host, start and end, when the
            task has one.
    """

    id: str
    error: Exception | None
    elapsed_seconds: float
    created_at: dt.datetime
    custom_data: Mapping[str, Any]
    host: str
    started_at: dt.datetime | None = None
    traceback: str | None = None
    pid: int | None = None
    provenance: Mapping[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """Whether the run succeeded."""
        return self.error is None


def _discard(path: str) -> None:
    """Remove what a run left at ``path``: a file, or a directory the runner made there."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except (IsADirectoryError, PermissionError):  # PermissionError: unlink of a dir on macOS
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            raise


def perform(task: RunTask, runner: Runner) -> RunOutcome:
    """Call ``runner`` for ``task`` and move its result into place atomically.

    The runner gets a copy of the parameters with ``id``, ``result_file`` (a temporary path that
    has the final file's name, in a scratch folder under ``results_dir``) and, when there is any,
    ``custom_data``. When it returns, the file is moved to its final path with :func:`os.replace`
    and the manifest is written. When it raises, or writes no file, the temporary file is removed,
    nothing at the final path changes, and the exception is returned in the outcome.
    ``KeyboardInterrupt`` and ``SystemExit`` propagate after the clean-up.

    Args:
        task: The planned run.
        runner: The user's function.

    Returns:
        The outcome; never raises for a failed run.
    """
    final = task.result_file
    temp_file = os.path.join(thread_folder(task.results_dir), os.path.basename(final))
    call = dict(task.params)
    call["id"] = task.id
    call["result_file"] = temp_file
    if task.custom_data:
        call["custom_data"] = dict(task.custom_data)
    error: Exception | None = None
    started_at = dt.datetime.now(dt.UTC)
    start = time.perf_counter()
    try:
        runner(call)
        elapsed = time.perf_counter() - start
        if os.path.isdir(temp_file):
            raise IsADirectoryError(
                f"the runner made a directory at params['result_file'] for run {task.id}; a "
                "result is one file (write an archive, or one file that names the others)"
            )
        try:
            os.replace(temp_file, final)
        except FileNotFoundError:
            if os.path.exists(temp_file):
                raise  # the final folder is missing, not the result
            raise MissingResultError(
                f"the runner returned without writing params['result_file'] "
                f"({os.path.basename(temp_file)}) for run {task.id}"
            ) from None
    except Exception as exc:  # the runner's failure is data, handed back to the caller
        elapsed = time.perf_counter() - start
        error = exc
        _discard(temp_file)
    except BaseException:
        _discard(temp_file)
        raise
    created_at = dt.datetime.now(dt.UTC)
    custom = dict(task.custom_data)
    custom["elapsed_seconds"] = elapsed
    host = _HOST
    if task.record_host:
        custom["host"] = host
    provenance = None
    if task.provenance is not None:
        provenance = {
            **task.provenance,
            "host": host,
            "pid": os.getpid(),
            "started_at": started_at.isoformat(),
            "finished_at": created_at.isoformat(),
        }
    if error is None:
        try:
            write_manifest(
                task.results_dir,
                Manifest(
                    task.id,
                    dict(task.params),
                    final,
                    created_at,
                    custom,
                    task.explicit_id,
                    provenance,
                    task.key_names,
                ),
            )
        except Exception as exc:  # e.g. a full disk: the run does not count without its manifest
            error = exc
    tail = None if error is None else traceback_tail(error)
    return RunOutcome(
        task.id,
        error,
        elapsed,
        created_at,
        custom,
        host,
        started_at,
        tail,
        os.getpid(),
        provenance=provenance,
    )


#: How much of a failed run's traceback an outcome keeps (its end, where the error is).
TRACEBACK_TAIL: Final = 8000


def traceback_tail(error: BaseException, limit: int = TRACEBACK_TAIL) -> str:
    """The end of ``error``'s formatted traceback, at most ``limit`` characters."""
    text = "".join(traceback.format_exception(error))
    return text if len(text) <= limit else "...\n" + text[-limit:]
