"""entropic-cli: the ``entropic`` command for looking after entropic stores.

The command works on any entropic store without the model's code: it reflects the table from the
database and recognises entropic's reserved columns. See ``entropic --help``.
"""

from __future__ import annotations

from entropic_cli.__about__ import __version__
from entropic_cli.main import cli, main

__all__ = ["__version__", "cli", "main"]
