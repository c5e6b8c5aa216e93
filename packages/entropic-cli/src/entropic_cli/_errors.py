"""Turning failures into one-line messages and exit codes, never tracebacks.

Exit codes: 2 for usage errors (click's own, and values that cannot be understood), 1 for
everything that went wrong while doing what was asked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import click
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    NoSuchModuleError,
    SQLAlchemyError,
)

from entropic import EntropicError

__all__ = ["Failure", "UsageFailure", "first_line", "scrub", "to_click"]

#: ``scheme://user:password@`` in free text: the password part is hidden.
_CREDENTIALS = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*):(?P<secret>[^@\s]*)@")


class Failure(click.ClickException):
    """Something went wrong while doing what was asked (exit code 1)."""

    exit_code = 1


class UsageFailure(click.ClickException):
    """The command line asks for something that cannot be understood (exit code 2).

    Unlike :class:`click.UsageError` it prints one line, without the usage text.
    """

    exit_code = 2


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Hide passwords in ``text``: URL credentials and each of ``secrets``."""
    text = _CREDENTIALS.sub(lambda m: f"{m['head']}:***@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def first_line(text: str) -> str:
    """The first non-blank line of ``text``, stripped (drivers like long messages)."""
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()
    return ""


def _database_message(exc: DBAPIError) -> str:
    reason = first_line(str(exc.orig)) if exc.orig is not None else first_line(str(exc))
    return f"database error: {reason or type(exc).__name__}"


def to_click(exc: BaseException, secrets: Iterable[str] = ()) -> click.ClickException:
    """Return the click exception that reports ``exc`` in one line, with passwords hidden.

    Args:
        exc: What went wrong.
        secrets: Strings that must not appear in the message (the database password).

    Returns:
        A :class:`click.ClickException` (exit code 1) or :class:`click.UsageError` (exit code 2).
    """
    secrets = list(secrets)
    if isinstance(exc, click.ClickException):
        return exc  # our own messages never hold a password
    usage = False
    if isinstance(exc, NoSuchModuleError):
        message = f"unknown database dialect or driver: {first_line(str(exc))}"
        usage = True
    elif isinstance(exc, ArgumentError):
        message = f"invalid argument: {first_line(str(exc))}"
        usage = True
    elif isinstance(exc, DBAPIError):
        message = _database_message(exc)
    elif isinstance(exc, SQLAlchemyError):
        message = f"database error: {first_line(str(exc))}"
    elif isinstance(exc, EntropicError):
        message = first_line(str(exc))
    elif isinstance(exc, FileNotFoundError) and exc.filename is not None:
        message = f"no such file: {exc.filename}"
    elif isinstance(exc, PermissionError) and exc.filename is not None:
        message = f"permission denied: {exc.filename}"
    elif isinstance(exc, OSError):
        message = first_line(str(exc)) or type(exc).__name__
    elif isinstance(exc, ImportError):
        message = f"cannot import: {first_line(str(exc))}"
    else:
        message = f"{type(exc).__name__}: {first_line(str(exc))}"
    message = scrub(message, secrets)
    return UsageFailure(message) if usage else Failure(message)
