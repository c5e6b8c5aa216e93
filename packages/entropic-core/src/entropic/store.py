"""The Store: the run cache, and the only code that talks to the database."""

from __future__ import annotations

import datetime as dt
import gc
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import Enum
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

from sqlalchemy import Column, ColumnElement, Table, and_, delete, func, select, true, update
from sqlalchemy import Enum as SAEnum
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import URL
from sqlalchemy.orm import sessionmaker

from entropic import _evolve, _kinds
from entropic import executors as _executors
from entropic.__about__ import __version__
from entropic._batching import BatchWriter
from entropic._claims import ClaimBook, claims_table, new_owner
from entropic._compare import same_value
from entropic._db import (
    create_tables,
    ensure_meta,
    make_engine,
    meta_table,
    params_table,
    read_meta,
    upsert,
    write_connection,
)
from entropic._evolve import MIGRATING, PARAM_DEFAULT, MergeReport, id_map_table
from entropic._progress import ProgressCallback, ProgressReporter
from entropic._reading import Reader, RecordFactory
from entropic.errors import (
    FailedRun,
    HashCollisionError,
    ParameterError,
    SchemaError,
    SweepError,
)
from entropic.hashing import (
    HASH_SCHEME,
    RESERVED_KEYS,
    _hash_values,
    to_python,
    validate_id,
)
from entropic.manifests import (
    Manifest,
    manifest_path,
    read_manifest,
    scan_manifests,
    write_manifest,
)
from entropic.running import Runner, RunOutcome, RunTask, perform, release_scratch
from entropic.schema import RESERVED_COLUMNS, Base

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["Store"]

logger = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=Base)

#: Parameter sets looked up per query in a sweep.
LOOKUP_CHUNK: Final = 500
#: A sweep commits its finished runs at least this often...
FLUSH_SECONDS: Final = 1.0
#: ...or whenever this many have finished.
FLUSH_RUNS: Final = 256
#: Longest pause between two looks at a run another process is doing.
MAX_POLL_SECONDS: Final = 0.5


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a sweep builds many records.

    Building 100,000 records allocates enough objects to trigger repeated full collections,
    each scanning every record built so far; nothing built here forms cycles that need them.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if gc.get_freeze_count() == 0:
                # Move what was built straight to the oldest generation, as surviving several
                # collections would, but without scanning it: freeze() parks every tracked
                # object in the permanent generation and unfreeze() hands them to the oldest.
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def _not_finite(value: float) -> bool:
    return not math.isfinite(value)


def _refers(table: Table, other: Table) -> bool:
    """Whether ``table`` has a foreign key to ``other``."""
    return any(fk.column.table is other for fk in table.foreign_keys)


#: Value types that need no conversion before hashing and persisting.
_PLAIN: Final = frozenset({str, int, float, bool, type(None)})


class _Request:
    """A parameter set checked against the model: its key and the values to persist."""

    __slots__ = ("key", "values")

    def __init__(self, key: str, values: dict[str, Any]) -> None:
        self.key = key
        self.values = values


class Store(Generic[ModelT]):
    """A run cache backed by a database and a results directory.

    Args:
        runner: Called as ``runner(params)`` for each run; writes one file to
            ``params["result_file"]``. ``params`` is a copy of the parameters with ``id``,
            ``result_file`` and, when given, ``custom_data`` added.
        result_cls: The model, a subclass of :class:`entropic.Base` with one column per
            parameter.
        results_dir: Where result files and their manifests live; created if missing.
        file_suffix: Appended to the id to name each result file (``".h5"``, ``".json"``, ...).
        db_url: A SQLAlchemy database URL. SQLite by default; PostgreSQL and MySQL/MariaDB work
            with the driver of your choice (``postgresql+psycopg://``, ``mysql+pymysql://``).
        claim_lease: Seconds a claim on a run in progress stays valid without renewal. The Store
            renews its claims while it runs; a claim left by a process that died is taken over
            once its lease has expired (at once when the dead process was on this host).

    Raises:
        TypeError: ``runner`` is not callable or ``result_cls`` is not an entropic model.
        ValueError: ``file_suffix`` contains a path separator.
        SchemaError: The table was created with a different hash scheme.

    A Store opens one engine (a connection pool) and is safe to share between threads. Records it
    returns are detached from any session and stay readable.
    """

    def __init__(
        self,
        runner: Runner,
        result_cls: type[ModelT],
        results_dir: str | Path = "./results",
        file_suffix: str = ".h5",
        db_url: str | URL = "sqlite:///db.sqlite3",
        *,
        claim_lease: float = 60.0,
    ) -> None:
        if not callable(runner):
            raise TypeError(f"runner must be callable, not {type(runner).__name__}")
        if not (isinstance(result_cls, type) and issubclass(result_cls, Base)):
            raise TypeError("result_cls must be a mapped subclass of entropic.Base")
        if not hasattr(result_cls, "__table__"):
            raise TypeError(f"{result_cls.__name__} is not mapped: give it a __tablename__")
        if not isinstance(file_suffix, str) or any(
            sep and sep in file_suffix for sep in ("/", os.sep, os.altsep, "\0")
        ):
            raise ValueError(f"file_suffix must be a file name ending, not {file_suffix!r}")
        self.runner: Runner = runner
        self.result_cls: type[ModelT] = result_cls
        self.results_dir: Path = Path(results_dir).expanduser().resolve()
        self.file_suffix: str = file_suffix
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = make_engine(db_url)
        table = result_cls.__table__
        assert isinstance(table, Table)
        self._table: Table = table
        self._columns: dict[str, Column[Any]] = {
            c.name: c for c in table.columns if c.name not in RESERVED_COLUMNS
        }
        self._column_names = frozenset(self._columns)
        self._required = frozenset(
            name
            for name, c in self._columns.items()
            if not c.nullable and c.default is None and c.server_default is None
        )
        self._defaults = {
            name: (None if c.default is None else getattr(c.default, "arg", None))
            for name, c in self._columns.items()
            if name not in self._required
            and c.server_default is None
            and (c.default is None or getattr(c.default, "is_scalar", False))
        }
        self._enums = {
            name: c.type.enum_class
            for name, c in self._columns.items()
            if isinstance(c.type, SAEnum) and c.type.enum_class is not None
        }
        # SQLite stores a NaN as NULL and MySQL/MariaDB refuse non-finite numbers: such a
        # parameter is refused before its run, not when its row is written after it
        dialect = self.engine.dialect.name
        self._refuse_float: Callable[[float], bool] | None = (
            math.isnan if dialect == "sqlite" else _not_finite if dialect == "mysql" else None
        )
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._reader = Reader(self.engine, table)
        self._make = RecordFactory(result_cls, table)
        if claim_lease <= 0:
            raise ValueError(f"claim_lease must be positive, not {claim_lease!r}")
        self._claims = ClaimBook(self.engine, table.name, claim_lease)
        # Only this model's table and the tables it refers to: entropic.Base's metadata holds
        # every model of the process, and other models' tables do not belong in this database.
        needed = [t for t in result_cls.metadata.sorted_tables if t is table or _refers(table, t)]
        create_tables(self.engine, [meta_table, params_table, claims_table, id_map_table, *needed])
        self._drift: str | None = None
        self._facts: dict[str, str] = {}
        self._check_schema()
        facts = ensure_meta(
            self.engine,
            table.name,
            {"hash_scheme": HASH_SCHEME, "created_by": f"entropic-core {__version__}"},
        )
        self._facts = facts
        self._filled: dict[str, Any] = {}
        self._load_filled()
        if facts.get("hash_scheme") != HASH_SCHEME:
            raise SchemaError(
                f"table {table.name!r} was keyed with hash scheme {facts.get('hash_scheme')!r}, "
                f"but this entropic uses {HASH_SCHEME!r}; its ids would not match"
            )
        # what reflecting the table cannot tell (enum members, JSON on MariaDB), for tools
        # that open this store without the model's code
        _kinds.record_kinds(
            self.engine, table.name, _kinds.declared_columns(result_cls, self._columns)
        )

    # ------------------------------------------------------------------ helpers

    def __repr__(self) -> str:
        url = self.engine.url.render_as_string(hide_password=True)
        return (
            f"Store({self.result_cls.__name__}, results_dir={str(self.results_dir)!r}, "
            f"file_suffix={self.file_suffix!r}, db_url={url!r})"
        )

    def close(self) -> None:
        """Close the Store's database connections."""
        self._reader.close()
        self.engine.dispose()

    def __enter__(self) -> Store[ModelT]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_schema(self) -> None:
        """Compare the model with the table in the database and remember any difference."""
        present = {c["name"] for c in sa_inspect(self.engine).get_columns(self._table.name)}
        wanted = set(self._table.columns.keys())
        lacking = sorted(wanted - present)
        extra = sorted(present - wanted)
        problems = []
        if lacking:
            names = ", ".join(lacking)
            problems.append(
                f"the table {self._table.name!r} lacks the model's column(s) {names}: add each "
                f"with store.add_parameter(name, default) (or `entropic migrate add-param "
                f"NAME=VALUE`), which also re-keys the existing runs"
            )
        if extra:
            problems.append(
                f"the table {self._table.name!r} has column(s) {', '.join(extra)} that "
                f"{self.result_cls.__name__} lacks: add them to the model"
            )
        self._drift = "; ".join(problems) or None
        if self._drift is None and any(k.startswith(MIGRATING) for k in self._facts):
            self._load_filled()

    def _load_filled(self) -> None:
        """Read which parameters were added later, and the defaults old runs were keyed with."""
        with self.engine.connect() as conn:
            facts = read_meta(conn, self._table.name)
        self._facts = facts
        self._filled = {
            key.removeprefix(PARAM_DEFAULT): self._from_json(
                key.removeprefix(PARAM_DEFAULT), json.loads(value)
            )
            for key, value in facts.items()
            if key.startswith(PARAM_DEFAULT) and key.removeprefix(PARAM_DEFAULT) in self._columns
        }
        migrating = [k.removeprefix(MIGRATING) for k in facts if k.startswith(MIGRATING)]
        if migrating and self._drift is None:
            self._drift = (
                f"adding the parameter(s) {', '.join(migrating)} to {self._table.name!r} did "
                "not finish: run store.add_parameter (or `entropic migrate add-param`) again "
                "with the same default to complete it"
            )

    def _ready(self) -> None:
        """Raise while the model and the table disagree (looking again first)."""
        if self._drift is not None:
            drift = self._refresh_schema()
            if drift is not None:
                raise SchemaError(drift)

    def _refresh_schema(self) -> str | None:
        """Look at the table again; return what still disagrees with the model, if anything."""
        self._facts = {}
        self._check_schema()
        if self._drift is None:
            self._load_filled()
        return self._drift

    def result_path(self, run_id: str) -> Path:
        """The path of the result file of run ``run_id``."""
        return self.results_dir / f"{run_id}{self.file_suffix}"

    def key(self, params: Mapping[str, Any]) -> str:
        """Return the id that ``params`` is stored under (its hash, or its explicit ``id``).

        Raises:
            TypeError: ``params`` is not a mapping.
            ParameterError: ``params`` has keys the model lacks, or an invalid explicit id.
        """
        return self._request(params, complete=False).key

    def _request(self, params: Mapping[str, Any], *, complete: bool) -> _Request:
        if type(params) is not dict and not isinstance(params, Mapping):
            raise TypeError(f"params must be a mapping (a dict), not {type(params).__name__}")
        values: dict[str, Any] = {}
        explicit: Any = None
        for name, value in params.items():
            if name in RESERVED_KEYS:
                if name == "id":
                    explicit = value
                continue
            values[name] = value if type(value) in _PLAIN else to_python(value)
        if not self._column_names.issuperset(values):
            unknown = [k for k in values if k not in self._columns]
            raise ParameterError(
                f"unknown parameter(s) {', '.join(map(repr, unknown))} for "
                f"{self.result_cls.__name__}; its columns are {', '.join(self._columns) or 'none'}"
            )
        if explicit is None and self._filled:
            # parameters added after these runs: leaving one out means its recorded default
            for name, value in self._filled.items():
                values.setdefault(name, value)
        if complete and not self._required.issubset(values):
            missing = sorted(self._required.difference(values))
            raise ParameterError(
                f"missing parameter(s) {', '.join(map(repr, missing))} for "
                f"{self.result_cls.__name__}: these columns have no default"
            )
        key = validate_id(explicit) if explicit is not None else _hash_values(values)
        for name, enum_cls in self._enums.items():
            value = values.get(name)
            if value is not None and not isinstance(value, enum_cls):
                try:
                    values[name] = enum_cls(value)
                except ValueError:
                    raise ParameterError(
                        f"{value!r} is not a value of {enum_cls.__name__} (parameter {name!r})"
                    ) from None
        return _Request(key, values)

    def _storable(self, request: _Request) -> _Request:
        """Check that this database can store ``request``'s values, before anything runs."""
        refuse = self._refuse_float
        if refuse is not None:
            for name, value in request.values.items():
                if isinstance(value, float) and refuse(value):
                    raise ParameterError(
                        f"parameter {name!r} is {value!r}, which {self.engine.dialect.name} "
                        "cannot store (SQLite keeps NaN as NULL; MySQL and MariaDB refuse NaN "
                        "and infinities); use PostgreSQL, or encode the value, e.g. as None"
                    )
        return request

    def _record(self, row: Mapping[str, Any]) -> ModelT:
        return self._make.from_mapping(row)

    def _check_hit(self, record: ModelT, request: _Request) -> ModelT:
        if request.values.items() <= vars(record).items():
            return record  # every value stored exactly as requested (compared in C)
        mismatched = [
            (name, getattr(record, name), value)
            for name, value in request.values.items()
            if not same_value(getattr(record, name), value)
        ]
        if mismatched:
            detail = "; ".join(f"{n}={s!r} stored, {r!r} requested" for n, s, r in mismatched)
            raise HashCollisionError(
                f"id {request.key!r} is stored for different parameters ({detail}). "
                "entropic rounds floats to 12 decimal places before hashing, so values that "
                "differ only below 1e-12 share an id; rescale such a parameter (say, dt in "
                "femtoseconds) or give each parameter set an explicit 'id'"
            )
        return record

    def _fetch(self, ids: Sequence[str]) -> dict[str, ModelT]:
        make = self._make
        return {record.id: record for record in map(make, self._reader.many(ids))}

    def _fetch_one(self, run_id: str) -> ModelT | None:
        row = self._reader.one(run_id)
        return None if row is None else self._make(row)

    def _task(self, request: _Request, custom_data: Mapping[str, Any]) -> RunTask:
        return RunTask(
            id=request.key,
            params={**self._defaults, **request.values},
            result_file=str(self.result_path(request.key)),
            results_dir=str(self.results_dir),
            custom_data=dict(custom_data),
        )

    @staticmethod
    def _row(task: RunTask, outcome: RunOutcome) -> dict[str, Any]:
        return {
            **task.params,
            "id": task.id,
            "result_file": task.result_file,
            "created_at": outcome.created_at,
            "custom_data": dict(outcome.custom_data),
        }

    def _persist(
        self,
        rows: Sequence[Mapping[str, Any]],
        owner: str | None = None,
        release: Iterable[str] = (),
    ) -> None:
        """Store ``rows`` and drop ``owner``'s claims on ``release`` in one transaction."""
        with write_connection(self.engine) as conn:
            upsert(conn, self._table, rows)
            if owner is not None:
                self._claims.release(release, owner, conn)

    def _run(
        self, request: _Request, custom_data: Mapping[str, Any], owner: str | None = None
    ) -> ModelT:
        task = self._task(request, custom_data)
        try:
            outcome = perform(task, self.runner)
        finally:
            release_scratch(self.results_dir)
        if outcome.error is not None:
            logger.info("run %s failed after %.3f s", task.id, outcome.elapsed_seconds)
            raise outcome.error
        row = self._row(task, outcome)
        self._persist([row], owner, [task.id])
        logger.info("ran %s in %.3f s", task.id, outcome.elapsed_seconds)
        return self._record(row)

    def _run_single_flight(self, request: _Request, custom_data: Mapping[str, Any]) -> ModelT:
        """Run ``request`` unless another thread or process is already running it."""
        owner = new_owner()
        pause = 0.005
        while True:
            if self._claims.claim_one(request.key, owner):
                try:
                    record = self._fetch_one(request.key)
                    if record is not None:  # finished by someone else since we looked
                        return self._check_hit(record, request)
                    with self._claims.kept(owner):
                        return self._run(request, custom_data, owner)
                finally:
                    self._claims.release([request.key], owner)
            logger.debug("waiting for %s, which another process is running", request.key)
            while True:
                record = self._fetch_one(request.key)
                if record is not None:
                    return self._check_hit(record, request)
                if not self._claims.holders([request.key]):
                    break  # the other run failed or its owner died: try to claim it
                time.sleep(pause)
                pause = min(pause * 2, MAX_POLL_SECONDS)

    # ------------------------------------------------------------------ the seed's API

    def run_or_retrieve(self, params: Mapping[str, Any], **custom_data: Any) -> ModelT:
        """Return the stored record for ``params``, running the runner first on a miss.

        Args:
            params: The parameter set: one value per model column (columns with a default may
                be left out). An ``id`` key is used as the record's id instead of the hash.
            **custom_data: Handed to the runner as ``params["custom_data"]`` and stored on the
                record when a run happens; ignored on a hit.

        Returns:
            The record, detached from any session.

        Raises:
            TypeError: ``params`` is not a mapping.
            ParameterError: ``params`` has unknown keys, lacks required ones, or has an invalid
                ``id`` (a ``ValueError``). The runner is not called.
            HashCollisionError: The id is stored for parameters that differ beyond float noise.
            Exception: Whatever the runner raises, unchanged; nothing is stored then.
        """
        self._ready()
        request = self._request(params, complete=True)
        record = self._fetch_one(request.key)
        if record is not None:
            logger.debug("hit %s", request.key)
            return self._check_hit(record, request)
        return self._run_single_flight(self._storable(request), custom_data)

    def run(self, params: Mapping[str, Any], **custom_data: Any) -> ModelT:
        """Run the runner for ``params`` and store the result, replacing any stored one.

        ``custom_data["elapsed_seconds"]`` records the runner's wall time. When the runner
        raises, the exception propagates unchanged and a previous result (file and record) is
        left as it was.

        Args:
            params: The parameter set, as for :meth:`run_or_retrieve`.
            **custom_data: Handed to the runner and stored on the record.

        Returns:
            The new record.

        Raises:
            TypeError: ``params`` is not a mapping.
            ParameterError: ``params`` does not fit the model; the runner is not called.
            Exception: Whatever the runner raises, unchanged.
        """
        self._ready()
        return self._run(self._storable(self._request(params, complete=True)), custom_data)

    def retrieve(self, params: Mapping[str, Any]) -> ModelT | None:
        """Look up the record of ``params`` without running anything.

        An explicit ``id`` in ``params`` is used as it is; otherwise the reserved keys are
        ignored and the rest is hashed.

        Returns:
            The record, or ``None`` on a miss.

        Raises:
            TypeError: ``params`` is not a mapping.
            ParameterError: ``params`` has keys the model lacks, or an invalid ``id``.
            HashCollisionError: The id is stored for different parameters.
        """
        self._ready()
        request = self._request(params, complete=False)
        record = self._fetch_one(request.key)
        return None if record is None else self._check_hit(record, request)

    def register(
        self, params: Mapping[str, Any], result_file: str | Path, **custom_data: Any
    ) -> ModelT:
        """Record a result file that was produced outside the Store.

        The file stays where it is; the record and a manifest point to it.

        Args:
            params: The parameter set the file is the result of.
            result_file: Path of the existing file.
            **custom_data: Stored on the record.

        Returns:
            The new record (replacing any stored for the same id).

        Raises:
            FileNotFoundError: ``result_file`` does not exist.
            ParameterError: ``params`` does not fit the model.
        """
        self._ready()
        path = Path(result_file).expanduser().resolve()
        if not path.is_file():
            raise FileNotFoundError(f"no result file at {path}")
        request = self._storable(self._request(params, complete=True))
        row = {
            **request.values,
            "id": request.key,
            "result_file": str(path),
            "created_at": dt.datetime.now(dt.UTC),
            "custom_data": dict(custom_data),
        }
        write_manifest(
            self.results_dir,
            Manifest(request.key, request.values, str(path), row["created_at"], row["custom_data"]),
        )
        self._persist([row])
        return self._record(row)

    def delete(self, params: Mapping[str, Any], remove_file: bool = False) -> bool:
        """Delete the record of ``params`` and its manifest.

        Args:
            params: The parameter set (or ``{"id": ...}``).
            remove_file: Also delete the result file.

        Returns:
            Whether a record was removed.

        Raises:
            HashCollisionError: The id is stored for different parameters; nothing is deleted.
        """
        self._ready()
        request = self._request(params, complete=False)
        record = self._fetch_one(request.key)
        if record is None:
            manifest_path(self.results_dir, request.key).unlink(missing_ok=True)
            return False
        self._check_hit(record, request)
        with write_connection(self.engine) as conn:
            removed = conn.execute(delete(self._table).where(self._table.c.id == request.key))
        manifest_path(self.results_dir, request.key).unlink(missing_ok=True)
        if remove_file:
            Path(record.result_file).unlink(missing_ok=True)
        return bool(removed.rowcount)

    def patch(self, params: Mapping[str, Any], data: Mapping[str, Any]) -> ModelT:
        """Apply :meth:`Base.apply_patch` to a stored record and persist it.

        In ``data["custom_data"]`` a ``None`` value removes a key and ``{}`` clears it; other
        keys are merged. Parameter columns and the id cannot be patched: they are the key.

        Returns:
            The updated record.

        Raises:
            KeyError: Nothing is stored for ``params``.
            ParameterError: ``data`` names a parameter column or the id.
        """
        self._ready()
        request = self._request(params, complete=False)
        frozen = sorted(k for k in data if k in self._columns or k == "id")
        if frozen:
            raise ParameterError(
                f"cannot patch {', '.join(map(repr, frozen))}: parameters and the id are the "
                "record's key; run the new parameter set instead"
            )
        with self._sessions.begin() as session:
            record = session.get(self.result_cls, request.key)
            if record is None:
                raise KeyError(f"no record with id {request.key!r}")
            self._check_hit(record, request)
            record.apply_patch(data)
        if manifest_path(self.results_dir, record.id).exists():
            write_manifest(
                self.results_dir,
                Manifest(
                    record.id,
                    {n: getattr(record, n) for n in self._columns},
                    record.result_file,
                    record.created_at,
                    dict(record.custom_data),
                ),
            )
        return record

    def ingest(self) -> int:
        """Index every manifest in the results directory that has no record.

        This rebuilds a lost database from its results directory, and indexes results written
        elsewhere (an array job that only wrote files and manifests). Manifests whose result file
        is missing, or whose parameters do not fit the model, are skipped with a warning.

        Returns:
            How many records were added.
        """
        self._ready()
        added = 0
        paths = scan_manifests(self.results_dir)
        while chunk := list(islice(paths, LOOKUP_CHUNK)):
            by_id = {p.name[1 : -len(".entropic.json")]: p for p in chunk}
            with self.engine.connect() as conn:
                present = set(
                    conn.scalars(select(self._table.c.id).where(self._table.c.id.in_(list(by_id))))
                )
            rows = []
            for run_id, path in by_id.items():
                if run_id in present:
                    continue
                try:
                    manifest = read_manifest(path, self.results_dir)
                    values = {k: self._from_json(k, v) for k, v in manifest.params.items()}
                    self._request({**values, "id": manifest.id}, complete=True)
                except (ValueError, KeyError, TypeError) as exc:
                    logger.warning("skipping manifest %s: %s", path, exc)
                    continue
                if not Path(manifest.result_file).is_file():
                    logger.warning("skipping manifest %s: its result file is missing", path)
                    continue
                rows.append(
                    {
                        **values,
                        "id": manifest.id,
                        "result_file": manifest.result_file,
                        "created_at": manifest.created_at,
                        "custom_data": manifest.custom_data,
                    }
                )
            self._persist(rows)
            added += len(rows)
        logger.info("ingested %d manifests", added)
        return added

    def _from_json(self, name: str, value: Any) -> Any:
        column = self._columns.get(name)
        if column is None or value is None:
            return value
        enum_cls = self._enums.get(name)
        if enum_cls is not None:
            return enum_cls(value)
        try:
            python_type = column.type.python_type
        except NotImplementedError:
            return value
        if python_type is dt.datetime and isinstance(value, str):
            return dt.datetime.fromisoformat(value)
        if python_type is dt.date and isinstance(value, str):
            return dt.date.fromisoformat(value)
        if isinstance(python_type, type) and issubclass(python_type, Enum):
            return python_type(value)
        return value

    # ------------------------------------------------------------------ sweeps

    def sweep(
        self,
        params: Iterable[Mapping[str, Any]],
        client: Any = None,
        *,
        executor: str | _executors.Executor | None = None,
        progress: bool = False,
        callback: ProgressCallback | None = None,
    ) -> list[ModelT]:
        """Run or retrieve a result for every parameter set in ``params``.

        Every parameter set is checked against the model before anything runs. The cache is
        checked in chunked bulk queries; only misses run, through the executor, and finished runs
        are committed in batches as they complete, so an interrupted sweep keeps them.

        Args:
            params: Parameter sets, consumed once (a generator is fine). Duplicates (same id)
                are run and returned once.
            client: A client for an executor plugin, e.g. a ``distributed.Client`` (needs
                entropic-dask). ``None`` runs in this process unless ``executor`` says otherwise.
            executor: A registered executor name (see :func:`entropic.executors.available`) or
                an executor object.
            progress: Show a progress bar on stderr (tqdm when installed).
            callback: Called with a :class:`~entropic.SweepProgress` as the sweep advances.

        Returns:
            One record per distinct parameter set, in the order each first appeared.

        Raises:
            TypeError: An element of ``params`` is not a mapping.
            ParameterError: A parameter set does not fit the model; nothing has run.
            HashCollisionError: Two parameter sets, or one and a stored record, share an id
                but differ; nothing has run.
            SweepError: Some runs failed; all others were stored. It is an ``ExceptionGroup``
                of the runners' exceptions.
        """
        self._ready()
        with _gc_paused():
            records, position, pending = self._lookup(params)
        total = len(records)
        hits = total - len(pending)
        logger.debug("sweep of %d parameter sets: %d hits, %d to run", total, hits, len(pending))
        to_run = len(pending)  # _execute empties pending as it goes
        reporter = ProgressReporter(total, hits, show=progress, callback=callback)
        try:
            if pending:
                failures = self._execute(pending, records, position, reporter, client, executor)
            else:
                failures = []
        finally:
            reporter.close()
        if failures:
            ok = to_run - len(failures)
            raise SweepError(
                f"{len(failures)} of {to_run} runs failed ({ok} stored)",
                [f.error for f in failures],
                failures,
                records,
            )
        return records  # type: ignore[return-value]

    def _lookup(
        self, params: Iterable[Mapping[str, Any]]
    ) -> tuple[list[ModelT | None], dict[str, int], dict[str, _Request]]:
        """Check every parameter set and look the new ones up in chunks.

        Returns:
            The result list with hits filled in, each id's position in it, and the misses.
        """
        records: list[ModelT | None] = []
        position: dict[str, int] = {}
        pending: dict[str, _Request] = {}
        iterator = iter(params)
        index = 0
        while chunk := list(islice(iterator, LOOKUP_CHUNK)):
            fresh: list[_Request] = []
            waiting: dict[str, _Request] = {}  # this chunk's new ids, not yet looked up
            for item in chunk:
                try:
                    request = self._request(item, complete=True)
                except (TypeError, ParameterError) as exc:
                    exc.add_note(f"in parameter set #{index} of the sweep: {item!r}")
                    raise
                index += 1
                at = position.get(request.key)
                if at is None:
                    position[request.key] = len(records)
                    records.append(None)
                    fresh.append(request)
                    waiting[request.key] = request
                    continue
                earlier = records[at]
                if earlier is not None:
                    self._check_hit(earlier, request)
                else:
                    first = pending.get(request.key) or waiting[request.key]
                    self._check_same(first, request)
            found = self._fetch([r.key for r in fresh])
            for request in fresh:
                record = found.get(request.key)
                if record is None:
                    pending[request.key] = self._storable(request)
                else:
                    records[position[request.key]] = self._check_hit(record, request)
        return records, position, pending

    def _check_same(self, first: _Request, again: _Request) -> None:
        stored = self.result_cls(**first.values)
        self._check_hit(stored, again)

    def _execute(
        self,
        pending: dict[str, _Request],
        records: list[ModelT | None],
        position: dict[str, int],
        reporter: ProgressReporter,
        client: Any,
        executor: str | _executors.Executor | None,
    ) -> list[FailedRun]:
        """Run the misses, sharing the work with any other process sweeping the same ids."""
        chosen = _executors.resolve(executor, client)
        owner = new_owner()
        failures: list[FailedRun] = []
        pause = 0.005
        with self._claims.kept(owner):
            try:
                while pending:
                    held = self._claims.claim_many(list(pending), owner)
                    progressed = bool(held)
                    if held:
                        # in the order they were given, not the claims' (a set's) order
                        mine = {key: pending.pop(key) for key in list(pending) if key in held}
                        done = self._fetch(list(mine))  # finished elsewhere since we looked
                        for key, record in done.items():
                            records[position[key]] = self._check_hit(record, mine.pop(key))
                        self._claims.release(done, owner)
                        reporter.advance(len(done), 0)
                        if mine:
                            failures += self._run_claimed(
                                mine, records, position, reporter, chosen, owner
                            )
                    if pending:
                        waiting = list(pending)
                        found = self._fetch(waiting)
                        for key, record in found.items():
                            records[position[key]] = self._check_hit(record, pending.pop(key))
                        reporter.advance(len(found), 0)
                        progressed = progressed or bool(found)
                        if pending and not progressed:
                            orphaned = set(pending) - self._claims.holders(list(pending))
                            if not orphaned:
                                time.sleep(pause)
                                pause = min(pause * 2, MAX_POLL_SECONDS)
                        else:
                            pause = 0.005
            finally:
                self._claims.release(list(pending), owner)
        return failures

    def _run_claimed(
        self,
        mine: dict[str, _Request],
        records: list[ModelT | None],
        position: dict[str, int],
        reporter: ProgressReporter,
        chosen: _executors.Executor,
        owner: str,
    ) -> list[FailedRun]:
        """Run the claimed ``mine`` through ``chosen``; persist in batches as they complete."""
        tasks = {key: self._task(request, {}) for key, request in mine.items()}
        failures: list[FailedRun] = []

        def commit(rows: list[dict[str, Any]], released: list[str]) -> None:
            self._persist(rows, owner, [*(row["id"] for row in rows), *released])
            for row in rows:
                records[position[row["id"]]] = self._record(row)
            if rows:
                logger.info("stored %d runs", len(rows))

        writer = BatchWriter(commit, interval=FLUSH_SECONDS, size=FLUSH_RUNS)
        outcomes: Iterator[RunOutcome] = iter(chosen.execute(list(tasks.values()), self.runner))
        try:
            for outcome in outcomes:
                task = tasks.pop(outcome.id)
                if outcome.error is None:
                    writer.add(row=self._row(task, outcome))
                    reporter.advance(1, 0)
                else:
                    error = outcome.error
                    error.add_note(f"entropic run {task.id} with params {dict(task.params)!r}")
                    failures.append(FailedRun(task.id, dict(task.params), error))
                    writer.add(release=task.id)
                    logger.info("run %s failed: %r", task.id, error)
                    reporter.advance(1, 1)
        finally:
            close = getattr(outcomes, "close", None)
            if close is not None:
                close()
            for key in tasks:  # runs that never finished: let others take them
                writer.add(release=key)
            writer.close()
        return failures

    # ------------------------------------------------------------------ evolving a store

    def add_parameter(
        self,
        name: str,
        default: Any,
        *,
        callback: Callable[[int, int], Any] | None = None,
    ) -> int:
        """Add a new parameter to a store that already holds runs.

        Declare the column in the model first; then this adds it to the table, sets it to
        ``default`` on the old rows, and re-keys them as if ``default`` had always been given:
        their ids, result files and manifests are renamed, and ``entropic_id_map`` records each
        old id with its new one. From then on a request that gives ``default`` (or leaves the
        parameter out) is a hit for the old runs. Runs with explicit ids keep them.

        Killed at any point, calling it again with the same arguments completes the work; until
        then the Store refuses other operations.

        Args:
            name: The new column of the model.
            default: The value the old runs had, implicitly.
            callback: Called as ``callback(done, total)`` after each chunk of rows.

        Returns:
            How many runs were re-keyed.

        Raises:
            ParameterError: The model has no column ``name``.
        """
        rekeyed: int = _evolve.add_parameter(self, name, default, callback)
        return rekeyed

    def merge(self, other_db_url: str | URL, other_results_dir: str | Path) -> MergeReport:
        """Copy into this store the runs another store has and this one lacks.

        Each run's file is copied into this results directory (through a temporary file, its
        size checked), with its manifest and row. A run both stores have with the same parameters
        is left alone; the same id with different parameters is reported in
        :attr:`MergeReport.conflicts` and never overwritten.

        Args:
            other_db_url: The other store's database URL (same table name and columns).
            other_results_dir: The other store's results directory; a row whose recorded file
                is missing is looked up there by file name.

        Returns:
            A report of what was copied, already present, in conflict, or missing.
        """
        self._ready()
        return _evolve.merge(self, str(other_db_url), other_results_dir)

    def relocate(self, old_prefix: str | Path, new_prefix: str | Path) -> int:
        """Rewrite ``result_file`` paths after a results directory moved.

        Every ``result_file`` that starts with ``old_prefix`` gets ``new_prefix`` instead.

        Returns:
            How many rows changed.
        """
        self._ready()
        old, new = str(old_prefix), str(new_prefix)
        column = self._table.c.result_file
        changed = 0
        with write_connection(self.engine) as conn:
            rows = conn.execute(
                select(self._table.c.id, column).where(column.startswith(old, autoescape=True))
            ).all()
            for run_id, path in rows:
                conn.execute(
                    update(self._table)
                    .where(self._table.c.id == run_id)
                    .values(result_file=new + path[len(old) :])
                )
                changed += 1
        return changed

    # ------------------------------------------------------------------ queries

    def _where(self, where: ColumnElement[bool] | None, equals: Mapping[str, Any]) -> Any:
        columns = self._table.columns
        unknown = sorted(k for k in equals if k not in columns)
        if unknown:
            raise ParameterError(
                f"unknown column(s) {', '.join(map(repr, unknown))} for "
                f"{self.result_cls.__name__}; its columns are {', '.join(columns.keys())}"
            )
        clauses: list[Any] = []
        for name, value in equals.items():
            value = to_python(value)
            enum_cls = self._enums.get(name)
            if enum_cls is not None and value is not None and not isinstance(value, enum_cls):
                value = enum_cls(value)
            clauses.append(columns[name].is_(None) if value is None else columns[name] == value)
        if where is not None:
            clauses.append(where)
        return and_(true(), *clauses)

    def find(self, where: ColumnElement[bool] | None = None, **equals: Any) -> list[ModelT]:
        """Return the stored records whose columns equal ``equals`` (and match ``where``).

        Args:
            where: A SQLAlchemy expression on the model's columns, e.g.
                ``SimResult.dt < 0.01``.
            **equals: Column values the records must have, e.g. ``n=100``.

        Returns:
            The matching records, ordered by id.

        Raises:
            ParameterError: ``equals`` names a column the model lacks.
        """
        return list(self.iter_records(where, **equals))

    def count(self, where: ColumnElement[bool] | None = None, **equals: Any) -> int:
        """Return how many stored records match, as :meth:`find` selects them."""
        self._ready()
        query = select(func.count()).select_from(self._table).where(self._where(where, equals))
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def iter_records(
        self, where: ColumnElement[bool] | None = None, **equals: Any
    ) -> Iterator[ModelT]:
        """Yield the matching records (all of them by default), fetched a chunk at a time.

        Memory stays flat however large the store is: rows are streamed from the database and
        each record is built as it is reached.
        """
        self._ready()
        query = select(self._table).where(self._where(where, equals)).order_by(self._table.c.id)
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=LOOKUP_CHUNK).execute(query)
            for row in result:
                yield self._make(tuple(row))

    def __iter__(self) -> Iterator[ModelT]:
        """Iterate over every stored record (see :meth:`iter_records`)."""
        return self.iter_records()

    def __len__(self) -> int:
        """The number of stored records."""
        return self.count()

    def to_pandas(self, where: ColumnElement[bool] | None = None, **equals: Any) -> Any:
        """Return the matching records as a pandas DataFrame with one column per table column.

        ``custom_data`` is a column of dicts; ``created_at`` is timezone-aware UTC.

        Raises:
            ImportError: pandas is not installed (``pip install "entropic-core[pandas]"``).
        """
        try:
            import pandas as pd  # type: ignore[import-untyped,unused-ignore]
        except ImportError as exc:
            raise ImportError(
                "Store.to_pandas needs pandas, which is not installed; install the extra "
                "entropic-core[pandas] (or pandas itself)"
            ) from exc
        self._ready()
        names = list(self._table.columns.keys())
        query = select(self._table).where(self._where(where, equals)).order_by(self._table.c.id)
        with self.engine.connect() as conn:
            rows = [tuple(r) for r in conn.execute(query)]
        frame = pd.DataFrame.from_records(rows, columns=names)
        if "created_at" in frame:
            frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
        return frame
