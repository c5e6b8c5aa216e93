"""The one context object: which store a command works on, opened lazily.

The options given (before or after the command) win over the environment, which wins over what
the store recorded about itself (its results directory and file suffix), which wins over the
defaults. Every command reaches the database through :mod:`entropic.inspection`,
:mod:`entropic.maintenance` and :class:`entropic.Store`; nothing here writes SQL.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar, cast

import click
from sqlalchemy import Engine, Table
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from entropic import Base, Store, entropic_tables, reflect_model
from entropic.inspection import (
    connect,
    missing_reserved,
    recorded_location,
    sqlite_file,
    table_facts,
)
from entropic.maintenance import guess_suffix
from entropic_cli._errors import Failure, UsageFailure, first_line, scrub

#: The database when neither ``--db`` nor ``$ENTROPIC_DB_URL`` names one.
DEFAULT_DB: Final = "sqlite:///db.sqlite3"

__all__ = ["DEFAULT_DB", "StoreContext", "pass_state", "state_of"]

F = TypeVar("F", bound=Callable[..., Any])


def _parse_url(text: str) -> URL:
    try:
        return make_url(text)
    except (ArgumentError, ValueError):
        # the text is not echoed: whatever it holds could be a password
        raise UsageFailure(
            "invalid database URL: expected dialect+driver://user@host/database "
            "or sqlite:///path/to/file"
        ) from None


def _same(a: Path, b: Path) -> bool:
    return os.path.normcase(os.path.abspath(a)) == os.path.normcase(os.path.abspath(b))


@dataclass
class StoreContext:
    """The store a command works on.

    Attributes:
        db: The database URL given with ``--db``, if any.
        results_dir_given: The results directory given with ``--results-dir``, if any.
        table_given: The table given with ``--table``, if any.
        create: Whether a missing SQLite file may be created.
    """

    db: str | None = None
    results_dir_given: Path | None = None
    table_given: str | None = None
    create: bool = False
    _url: URL | None = field(default=None, repr=False)
    _engine: Engine | None = field(default=None, repr=False)
    _model: type[Base] | None = field(default=None, repr=False)
    _results_dir: Path | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ the database

    @property
    def db_text(self) -> str:
        """The database URL as given, from the environment, or the default."""
        return self.db or os.environ.get("ENTROPIC_DB_URL") or DEFAULT_DB

    @property
    def url(self) -> URL:
        """The parsed database URL."""
        if self._url is None:
            self._url = _parse_url(self.db_text)
        return self._url

    @property
    def secrets(self) -> list[str]:
        """Strings no message may show: the database password."""
        try:
            password = self.url.password
        except click.ClickException:
            return []
        return [str(password)] if password else []

    @property
    def shown_url(self) -> str:
        """The database URL with its password hidden."""
        return self.url.render_as_string(hide_password=True)

    def database_missing(self) -> Path | None:
        """The SQLite file the URL names when it does not exist yet, else ``None``."""
        path = sqlite_file(self.url)
        return path if path is not None and not path.is_file() else None

    @property
    def engine(self) -> Engine:
        """An engine on the database, checked to answer."""
        if self._engine is None:
            try:
                engine = connect(self.url, create=self.create)
            except ImportError as exc:
                raise Failure(
                    f"cannot use {self.shown_url}: its database driver is not installed ({exc})"
                ) from None
            try:
                with engine.connect():
                    pass
            except DBAPIError as exc:
                engine.dispose()
                reason = first_line(str(exc.orig)) if exc.orig is not None else str(exc)
                raise Failure(
                    f"cannot connect to {self.shown_url}: {scrub(reason, self.secrets)}"
                ) from None
            self._engine = engine
        return self._engine

    def tables(self) -> list[str]:
        """Every entropic table in the database."""
        return entropic_tables(self.engine)

    @property
    def table_name(self) -> str | None:
        """The table asked for with ``--table`` or ``$ENTROPIC_TABLE``, if any."""
        return self.table_given or os.environ.get("ENTROPIC_TABLE") or None

    def _choose_table(self) -> str:
        found = self.tables()
        name = self.table_name
        where = self.shown_url
        if name is not None:
            if name in found:
                return name
            missing = missing_reserved(self.engine, name)
            if missing is not None:
                raise Failure(
                    f"table {name!r} in {where} is not an entropic table "
                    f"(it lacks {', '.join(missing)})"
                )
            known = f"; entropic tables: {', '.join(found)}" if found else ""
            raise Failure(f"no table {name!r} in {where}{known}")
        if not found:
            raise Failure(f"no entropic table in {where}")
        if len(found) > 1:
            raise Failure(
                f"several entropic tables in {where}: {', '.join(found)}; "
                "choose one with --table (or $ENTROPIC_TABLE)"
            )
        return found[0]

    @property
    def model(self) -> type[Base]:
        """A model reflected from the table the command works on."""
        if self._model is None:
            self._model = reflect_model(self.engine, self._choose_table())
        return self._model

    @property
    def table(self) -> Table:
        """The reflected table the command works on."""
        table = self.model.__table__
        assert isinstance(table, Table)
        return table

    def facts(self) -> dict[str, str]:
        """What entropic recorded about the table (hash scheme, creating version...)."""
        return table_facts(self.engine, self.table.name)

    # ------------------------------------------------------------------ the files

    @property
    def results_dir_explicit(self) -> Path | None:
        """The results directory given with ``--results-dir`` or the environment, if any."""
        given = self.results_dir_given or os.environ.get("ENTROPIC_RESULTS_DIR") or None
        return Path(given).expanduser().resolve() if given else None

    def results_dir_for(self, table_name: str | None) -> Path:
        """The results directory: as given, else recorded for ``table_name``, else ./results.

        A given directory that differs from the recorded one is a warning.
        """
        explicit = self.results_dir_explicit
        recorded = None
        if table_name is not None and self.database_missing() is None:
            recorded, _suffix = recorded_location(self.engine, table_name)
        if explicit is None:
            return recorded if recorded is not None else Path("results").resolve()
        if recorded is not None and explicit.is_dir() and not _same(recorded, explicit):
            click.echo(
                f"warning: the results directory {explicit} differs from {recorded}, "
                f"recorded for table {table_name!r}",
                err=True,
            )
        return explicit

    @property
    def results_dir(self) -> Path:
        """The results directory of the table the command works on."""
        if self._results_dir is None:
            self._results_dir = self.results_dir_for(self.table.name)
        return self._results_dir

    def use_results_dir(self, folder: Path) -> None:
        """Work on ``folder`` as the results directory, whatever was given or recorded."""
        self._results_dir = folder.expanduser().resolve()

    def need_results_dir(self) -> Path:
        """The results directory, which must exist.

        Raises:
            Failure: It does not.
        """
        folder = self.results_dir
        if not folder.is_dir():
            hint = ""
            if self.results_dir_explicit is None and self._recorded_dir() is not None:
                hint = (
                    f" (recorded for table {self.table.name!r}); if it moved, give "
                    f"--results-dir NEW and run 'entropic relocate {folder} NEW'"
                )
            raise Failure(f"no results directory at {folder}{hint}")
        return folder

    def _recorded_dir(self) -> Path | None:
        recorded, _suffix = recorded_location(self.engine, self.table.name)
        return recorded

    def file_suffix(self) -> str:
        """The suffix of the table's result files: recorded, else read from a stored name."""
        return self.file_suffix_for(self.table)

    def file_suffix_for(self, table: Table) -> str:
        """The suffix of ``table``'s result files: recorded, else read from a stored name."""
        _dir, recorded = recorded_location(self.engine, table.name)
        if recorded is not None:
            return recorded
        return guess_suffix(self.engine, table) or ""

    def result_path(self, stored: str) -> Path:
        """The file a row's ``result_file`` names (relative paths are in the results dir)."""
        path = Path(stored)
        return path if path.is_absolute() else self.results_dir / path

    def open_store(
        self,
        model: type[Base] | None = None,
        suffix: str | None = None,
        *,
        must_exist: bool = True,
    ) -> Store[Any]:
        """A Store without a runner on the table, its results directory and file suffix.

        Raises:
            Failure: ``must_exist`` and the results directory does not exist.
        """
        results_dir = self.need_results_dir() if must_exist else self.results_dir
        chosen = self.file_suffix() if suffix is None else suffix
        return Store(None, model or self.model, results_dir, chosen, self.url)

    def close(self) -> None:
        """Release the database connections."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def state_of(ctx: click.Context) -> StoreContext:
    """The context object of the command line ``ctx`` belongs to, made on first use."""
    root = ctx.find_root()
    if not isinstance(root.obj, StoreContext):
        root.obj = StoreContext()
    return cast(StoreContext, root.obj)


def pass_state(command: F) -> F:
    """Hand the command the :class:`StoreContext` as its first argument."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return command(state_of(click.get_current_context()), *args, **kwargs)

    return cast(F, wrapper)
