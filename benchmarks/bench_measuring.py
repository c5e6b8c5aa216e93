"""Measuring: one fresh process per measurement, contenders in alternating rounds, the spread.

A :class:`Row` is one workload: every round's figure of each contender, their medians, and the
targets it is held to. :func:`alternate` fills one, rotating who goes first from round to round
so that a machine that slows down (or warms up) does not favour one contender.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_config import LEGACY_ENV, LEGACY_SCRIPT, OURS_SCRIPT

__all__ = ["Row", "Runner", "alternate", "log", "ratio_target"]

Measure = Callable[[], dict[str, Any]]


@dataclass
class Row:
    """One line of the table: a workload and its figure for each contender.

    ``runs`` holds each contender's figures in round order; ``rounds`` the same figures round by
    round, so that ratios can be taken within a round (see :meth:`round_ratios`).
    """

    workload: str
    unit: str
    values: dict[str, float | None] = field(default_factory=dict)
    target: str = ""
    notes: list[str] = field(default_factory=list)
    runs: dict[str, list[float]] = field(default_factory=dict)
    rounds: list[dict[str, float]] = field(default_factory=list)

    def spread(self, key: str) -> tuple[float, float] | None:
        """The lowest and highest figure of ``key`` over the rounds."""
        values = self.runs.get(key)
        return (min(values), max(values)) if values else None

    def round_ratios(self, key: str = "ours", other: str = "raw") -> list[float]:
        """``key`` over ``other`` in each round that measured both."""
        return [r[key] / r[other] for r in self.rounds if key in r and r.get(other)]


class Runner:
    """Starts one measurement process per call and collects its JSON (or its failure)."""

    def __init__(self, legacy_python: str | None, workdir: Path) -> None:
        self.legacy_python = legacy_python
        self.workdir = workdir

    def available(self, impl: str) -> bool:
        """Whether ``impl`` can be measured in this run."""
        return impl not in LEGACY_ENV or self.legacy_python is not None

    def folder(self, impl: str, folder: str) -> Path:
        """Where ``impl`` keeps the store of ``folder``."""
        return self.workdir / impl / folder

    def __call__(self, impl: str, action: str, folder: str, **options: int | str) -> dict[str, Any]:
        """Run ``action`` of ``impl`` in a fresh process; ``{"error": ...}`` when it fails."""
        if impl in LEGACY_ENV:
            assert self.legacy_python is not None
            command = [self.legacy_python, str(LEGACY_SCRIPT)]
        else:
            command = [sys.executable, str(OURS_SCRIPT)]
        command += [impl, action, "--dir", str(self.folder(impl, folder))]
        for name, value in options.items():
            command += [f"--{name}", str(value)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=3600, check=False)
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines() or ["no output"]
            return {"error": f"{impl} {action} failed: {lines[-1]}"}
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result


def log(message: str) -> None:
    """Say what the bench is doing, on stderr."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def alternate(
    row: Row,
    contenders: Mapping[str, Measure],
    repeats: int,
    figure: Callable[[dict[str, Any]], float],
) -> None:
    """Measure ``contenders`` (column key to measurement) in ``repeats`` alternating rounds.

    Each round rotates who goes first. A contender that fails once is dropped, with its error
    in the row's notes; the row's values are the medians of the rounds.
    """
    keys = list(contenders)
    failed: set[str] = set()
    for r in range(repeats):
        order = keys[r % len(keys) :] + keys[: r % len(keys)] if keys else []
        this_round: dict[str, float] = {}
        for key in order:
            if key in failed:
                continue
            result = contenders[key]()
            if "error" in result:
                failed.add(key)
                row.notes.append(result["error"])
                continue
            this_round[key] = figure(result)
            row.runs.setdefault(key, []).append(this_round[key])
        row.rounds.append(this_round)
        log(f"{row.workload}: round {r + 1}/{repeats} done")
    for key, values in row.runs.items():
        row.values[key] = statistics.median(values)


def ratio_target(
    row: Row, against: str, limit: float, label: str, *, every_round: bool = False
) -> None:
    """Hold ``row`` to ``ours / against <= limit``, on the medians or in every round.

    The verdict is added to the row's target column (several targets are joined by ``;``).
    """
    ours, other = row.values.get("ours"), row.values.get(against)
    if ours is None or other is None or other == 0:
        verdict = f"{label}: not measured"
    elif every_round:
        ratios = row.round_ratios("ours", against)
        worst = max(ratios)
        met = "met" if worst <= limit else "NOT met"
        verdict = f"{label}: {met} (worst round {worst:.2f}x)"
    else:
        ratio = ours / other
        verdict = f"{label}: {'met' if ratio <= limit else 'NOT met'} ({ratio:.2f}x)"
    row.target = f"{row.target}; {verdict}" if row.target else verdict
