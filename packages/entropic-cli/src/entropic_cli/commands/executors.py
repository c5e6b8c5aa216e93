"""``entropic executors``: the registered executors."""

from __future__ import annotations

import sys

import click

from entropic import executors as registry
from entropic_cli import _format
from entropic_cli._options import FORMATS

__all__ = ["executors"]


@click.command()
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
def executors(fmt: str) -> None:
    """List the registered executors and the package each comes from."""
    found = registry.registry()
    if fmt == "json":
        _format.write_json(({"name": k, "package": v} for k, v in found.items()), sys.stdout)
    else:
        _format.write_table(list(found.items()), ["name", "package"], sys.stdout)
