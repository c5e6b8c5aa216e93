"""Rendering: the Markdown report (machine, table, notes, Dask table) and the JSON beside it."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench_config import NAMES, Config
from bench_dask_cases import DASK_NAMES, DASK_TARGETS, DaskCase
from bench_measuring import Row

__all__ = ["render", "render_dask", "write"]


def render_dask(cases: Sequence[DaskCase], config: Config) -> list[str]:
    """The Dask section of the report: one line per contender and case."""
    if not cases:
        return []
    lines = [
        "## Dask sweeps of new runs",
        "",
        f"A LocalCluster of 2 single-threaded worker processes; medians of {config.dask_rounds} "
        "alternating rounds. Overhead and ratio are against raw `client.map` + `gather` of the "
        "same runner on the same cluster.",
        "",
        "| Workload | Runs | Contender | Wall s | ms per run | Overhead ms per run | "
        "Ratio to raw | Target |",
        "|---|---:|---|---:|---:|---:|---:|---|",
    ]
    notes: list[str] = []
    for case in cases:
        runner = "trivial runner" if case.workload == "trivial" else "runner sleeping 10 ms"
        for key, name in DASK_NAMES.items():
            seconds = case.median(key)
            if seconds is None:
                continue
            floor = case.floor(key)
            overhead = ratio = target = ""
            if floor and key != "raw":
                overhead = f"{(seconds - floor) / case.n * 1e3:+.3f}"
                ratio = f"{seconds / floor:.2f}"
                if key == "ours":
                    limit = DASK_TARGETS[case.workload]
                    met = "met" if seconds / floor <= limit else "NOT met"
                    target = f"≤ {limit}x raw: {met}"
            lines.append(
                f"| {runner} | {case.n:,} | {name} | {seconds:.3f} | "
                f"{seconds / case.n * 1e3:.3f} | {overhead} | {ratio} | {target} |"
            )
        if case.legacy_raw:
            notes.append(
                f"{runner}, {case.n:,} runs: entropic 2.3.0 ran on a cluster of its own in its "
                f"environment; its floor there was {statistics.median(case.legacy_raw):.3f} s"
            )
        notes += [f"{runner}, {case.n:,} runs: {note}" for note in case.notes]
    lines += ["", *(f"- {note}" for note in notes), ""] if notes else [""]
    return lines


def _fmt(value: float | None, unit: str) -> str:
    if value is None or math.isnan(value):
        return "—"
    if unit in ("µs", "runs/s", "MiB"):
        return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"
    if unit == "s":
        return f"{value:.3f}"
    if unit == "ms":
        return f"{value:.3f}"
    return f"{value:.4g}"


def _range(low: float, high: float, unit: str) -> str:
    return f"{_fmt(low, unit)}-{_fmt(high, unit)}"


def _spread(row: Row) -> str:
    """The lowest and highest round of ours and of the floor, and of their ratio per round."""
    parts = []
    for key, label in (("ours", "ours"), ("raw", "floor")):
        spread = row.spread(key)
        if spread is not None and len(row.runs[key]) > 1:
            parts.append(f"{label} {_range(*spread, row.unit)}")
    ratios = row.round_ratios()
    if len(ratios) > 1:
        parts.append(f"ours/floor {min(ratios):.2f}-{max(ratios):.2f}")
    return "; ".join(parts)


def _ratio(row: Row, other: str) -> str:
    ours, theirs = row.values.get("ours"), row.values.get(other)
    if ours is None or theirs is None or theirs == 0:
        return "—"
    return f"{ours / theirs:.2f}"


def render(
    rows: Sequence[Row],
    info: dict[str, Any],
    config: Config,
    elapsed: float,
    dask: Sequence[DaskCase] = (),
) -> str:
    """The Markdown report: the machine, the table, the notes, then the Dask table."""
    m = info["machine"]
    lines = [
        "# entropic benchmarks",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable); memory {m['memory']}",
        f"- OS: {m['os']}",
        f"- Python {m['python']}, SQLite {m['sqlite']}"
        + (f", PostgreSQL {m['postgresql']}" if m.get("postgresql") else ""),
    ]
    for label, versions in info.get("versions", {}).items():
        listed = ", ".join(f"{k} {v}" for k, v in versions.items() if k != "entropic_from")
        lines.append(f"- {label}: {listed}")
    lines += [
        f"- Repository at commit {m.get('commit', 'unknown')}; {config.repeats} alternating "
        f"rounds per timing (medians shown, the spread of the rounds beside them); elapsed "
        f"{elapsed:.0f} s",
        "",
    ]
    if rows:
        columns = list(NAMES.values())
        header = ["Workload", "Unit", *columns]
        header += ["ours / floor", "ours / 2.3.0", "ours / signac", "ours / joblib"]
        header += ["Spread (lowest-highest round)", "Target"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append(
            "|" + "|".join(["---", "---"] + ["---:"] * (len(header) - 4) + ["---"] * 2) + "|"
        )
        for row in rows:
            cells = [row.workload, row.unit]
            cells += [_fmt(row.values.get(impl), row.unit) for impl in NAMES]
            cells += [_ratio(row, o) for o in ("raw", "entropic230", "signac", "joblib")]
            cells += [_spread(row), row.target]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", "Notes:", ""]
        for row in rows:
            for note in row.notes:
                lines.append(f"- {row.workload}: {note}")
        lines.append("")
    lines += render_dask(dask, config)
    return "\n".join(lines)


def write(out: Path, report: str, payload: dict[str, Any]) -> None:
    """Write the report to ``out/latest.md`` and the raw figures to ``out/latest.json``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.md").write_text(report, encoding="utf-8")
    (out / "latest.json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
