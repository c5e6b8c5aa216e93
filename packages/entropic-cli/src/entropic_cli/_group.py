"""The ``entropic`` group class: every failure of a command becomes one line and an exit code."""

from __future__ import annotations

import os
import sys
from contextlib import suppress
from typing import Any, Final

import click

from entropic_cli._errors import UsageFailure, to_click

__all__ = ["INTERRUPTED", "EntropicGroup", "Interrupted"]

#: The exit status of a command stopped by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED: Final = 130


class Interrupted(Exception):
    """A command stopped by Ctrl-C (or SIGTERM), with what it kept and how to go on.

    Args:
        message: What was kept and how to go on.
        exit_code: The exit status, :data:`INTERRUPTED` unless the signal was another.
    """

    def __init__(self, message: str, exit_code: int = INTERRUPTED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class EntropicGroup(click.Group):
    """A group that reports every failure of its commands as one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; turn exceptions into :class:`click.ClickException`."""
        from entropic_cli._context import state_of

        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, UsageFailure):
            raise
        except (KeyboardInterrupt, Interrupted) as exc:
            message = str(exc) if isinstance(exc, Interrupted) else ""
            code = exc.exit_code if isinstance(exc, Interrupted) else INTERRUPTED
            click.echo(f"\ninterrupted{': ' + message if message else ''}", err=True)
            raise click.exceptions.Exit(code) from None
        except BrokenPipeError:  # the reader went away (`entropic ls | head`): stop quietly
            with suppress(OSError, ValueError, AttributeError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise click.exceptions.Exit(1) from None
        except click.UsageError as exc:  # one line, with a pointer to the help
            where = exc.ctx.command_path if exc.ctx is not None else "entropic"
            raise UsageFailure(f"{exc.format_message()} (see '{where} --help')") from exc
        except Exception as exc:
            raise to_click(exc, state_of(ctx).secrets) from exc
