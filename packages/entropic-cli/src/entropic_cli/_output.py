"""Where output goes and how the commands talk to the person at the terminal."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import click

from entropic_cli._errors import Failure

__all__ = ["confirm", "human_bytes", "output", "relative", "show_warnings"]


@contextmanager
def output(path: Path | None) -> Iterator[IO[str]]:
    """Standard output, or ``path`` written through a temporary file and renamed at the end."""
    if path is None:
        yield sys.stdout
        return
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            yield out
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def human_bytes(size: int) -> str:
    """``size`` bytes in B, KiB, MiB, GiB or TiB."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def relative(path: Path, folder: Path) -> str:
    """``path`` relative to ``folder`` when inside it, else as it is."""
    try:
        return str(path.relative_to(folder))
    except ValueError:
        return str(path)


def confirm(question: str) -> None:
    """Ask ``question``; go on only on yes.

    Raises:
        Failure: The answer is no, or there is no one to answer (no terminal, no input).
    """
    try:
        answer = click.confirm(question, default=False)
    except click.Abort:
        if not sys.stdin.isatty():
            click.echo(err=True)
            raise Failure(
                "there is no terminal to answer on, so nothing was done; "
                "pass --yes to go ahead without asking"
            ) from None
        raise
    if not answer:
        raise Failure("nothing done")


class _EchoHandler(logging.Handler):
    """Shows entropic's warnings (a skipped manifest, a fallback) on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"{record.levelname.lower()}: {record.getMessage()}", err=True)


def show_warnings(ctx: click.Context) -> None:
    """Show entropic's log warnings on stderr until ``ctx`` closes."""
    logger = logging.getLogger("entropic")
    handler = _EchoHandler(logging.WARNING)
    logger.addHandler(handler)
    ctx.call_on_close(lambda: logger.removeHandler(handler))
