"""Planning runs: where each result goes, and the task an executor performs."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from entropic._params import ParameterSchema, Request
from entropic.running import RunTask

__all__ = ["Planner"]


class Planner:
    """Turns requests into run tasks for one results directory and file suffix.

    Args:
        schema: The model's parameter schema (for the defaults a run is stored with).
        results_dir: The results directory (absolute).
        file_suffix: Appended to the id to name each result file.
        provenance: Gives the provenance each task records (gathered once, on first use), or
            ``None`` to record none.
    """

    def __init__(
        self,
        schema: ParameterSchema,
        results_dir: Path,
        file_suffix: str,
        provenance: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        self.schema = schema
        self.provenance = provenance
        self.results_dir = results_dir
        self.file_suffix = file_suffix
        self._dir = str(results_dir)

    def result_path(self, run_id: str) -> Path:
        """The final path of the result file of run ``run_id``."""
        return self.results_dir / f"{run_id}{self.file_suffix}"

    def task(self, request: Request, custom_data: Mapping[str, Any]) -> RunTask:
        """The task that runs ``request``."""
        return RunTask(
            id=request.key,
            params=self.schema.run_values(request),
            result_file=os.path.join(self._dir, f"{request.key}{self.file_suffix}"),
            results_dir=self._dir,
            custom_data=dict(custom_data),
            explicit_id=request.explicit,
            key_names=None if request.explicit else tuple(request.values),
            provenance=None if self.provenance is None else self.provenance(),
        )
