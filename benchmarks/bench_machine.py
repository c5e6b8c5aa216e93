"""The facts of the machine a benchmark ran on, read when it runs."""

from __future__ import annotations

import os
import platform
import subprocess
from typing import Any

from bench_config import ROOT

__all__ = ["machine", "postgres_version"]


def _first_line(path: str, prefix: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip() if ":" in line else line.strip()
    except OSError:
        return None
    return None


def _os_name() -> str:
    pretty = None
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    pretty = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pretty = None
    return f"{pretty or platform.system()} (kernel {platform.release()})"


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        return ""


def postgres_version() -> str | None:
    """The PostgreSQL server's version, or ``None`` when it does not answer."""
    try:
        from bench_floors import RawPostgres

        with RawPostgres.connect_server() as conn:
            version: str = conn.execute("SHOW server_version").fetchone()[0]
            return version
    except Exception:
        return None


def machine(postgres: bool = False) -> dict[str, Any]:
    """Describe this machine, read now: CPU model, cores, memory, OS, Python, SQLite.

    Args:
        postgres: Also ask the PostgreSQL server for its version.
    """
    import sqlite3

    total = _first_line("/proc/meminfo", "MemTotal")  # "24684084 kB"
    memory = f"{int(total.split()[0]) / 1024**2:.1f} GiB" if total else "unknown"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    facts: dict[str, Any] = {
        "commit": _commit() or "unknown",
        "cpu": _first_line("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory": memory,
        "os": _os_name(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite": sqlite3.sqlite_version,
    }
    if postgres:
        facts["postgresql"] = postgres_version() or "not reachable"
    return facts
