"""The Store: the run cache's one public facade.

The Store checks its arguments, has :mod:`entropic._assembly` build its collaborators (each
receives what it needs: engine, table, parameter schema; none receives the Store), and hands
every stage of a run to one of them. It holds no SQL of its own.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Table
from sqlalchemy.engine import URL

from entropic import _upkeep
from entropic import executors as _executors
from entropic._assembly import assemble, check_arguments, check_suffix
from entropic._collision import check_hit
from entropic._db import make_engine
from entropic._internal import RESULTS_DIR, record_meta
from entropic._merge import MergeReport, merge
from entropic._operating import chosen_failures, forget, retry_params
from entropic._progress import ProgressCallback
from entropic._rekey import add_parameter
from entropic._sweep_run import run_sweep
from entropic.errors import ParameterError
from entropic.manifests import manifest_path
from entropic.provenance import REUSE
from entropic.running import Runner
from entropic.schema import Base

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Engine

    from entropic._upkeep import GcReport, Problem
    from entropic.coverage import Coverage
    from entropic.failures import RecordedFailure
    from entropic.inspection import Condition
    from entropic.status import StoreStatus

__all__ = ["Store"]

logger = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=Base)


class Store(Generic[ModelT]):
    """A run cache backed by a database and a results directory.

    Args:
        runner: Called as ``runner(params)`` for each run; writes one file to
            ``params["result_file"]``. ``params`` is a copy of the parameters with ``id``,
            ``result_file`` and, when given, ``custom_data`` added. ``None`` opens the store
            for inspection and repair only (queries, ``verify``, ``gc``, ``delete``, ...);
            anything that would run then raises a ``TypeError``.
        result_cls: The model, a subclass of :class:`entropic.Base` with one column per
            parameter.
        results_dir: Where result files and their manifests live; created if missing.
        file_suffix: Appended to the id to name each result file (``".h5"``, ``".json"``, ...).
        db_url: A SQLAlchemy database URL. SQLite by default; PostgreSQL and MySQL/MariaDB work
            with the driver of your choice (``postgresql+psycopg://``, ``mysql+pymysql://``).
        claim_lease: Seconds a claim on a run in progress stays valid without renewal. The Store
            renews its claims while it runs; a claim left by a process that died is taken over
            once its lease has expired (at once when the dead process was on this host).
        engine_options: Keyword arguments for :func:`sqlalchemy.create_engine`, over entropic's
            defaults: on PostgreSQL and MySQL/MariaDB a connect timeout of 10 s, lock waits that
            fail after 60 s, UTC sessions (``connect_args`` are merged; settings in the URL's
            query win over the defaults too).
        runner_version: The version of the runner's code, as you declare it (``"3"``). When
            given, it is what decides whether a stored result was made by the current code;
            otherwise a hash of the runner's source does. See :mod:`entropic.provenance`.
        on_code_change: What a hit made by other code means: ``"reuse"`` (the default) returns
            it; ``"warn"`` returns it with one :class:`~entropic.provenance.CodeChangedWarning`
            per sweep (or call) naming how many; ``"rerun"`` counts it as a miss, so it is run
            again and replaced under the same id. Runs without recorded provenance count as
            current.

    Raises:
        TypeError: ``runner`` is not callable or ``result_cls`` is not an entropic model.
        ValueError: ``file_suffix`` contains a path separator, or is too long for file names.
        SchemaError: The table was created with a different hash scheme.

    A Store opens one engine (a connection pool) and is safe to share between threads. Records it
    returns are detached from any session and stay readable.
    """

    def __init__(
        self,
        runner: Runner | None,
        result_cls: type[ModelT],
        results_dir: str | Path = "./results",
        file_suffix: str = ".h5",
        db_url: str | URL = "sqlite:///db.sqlite3",
        *,
        claim_lease: float = 60.0,
        engine_options: Mapping[str, Any] | None = None,
        runner_version: str | None = None,
        on_code_change: str = REUSE,
    ) -> None:
        table = check_arguments(runner, result_cls, claim_lease, on_code_change, runner_version)
        self._runner: Runner | None = runner
        self.result_cls: type[ModelT] = result_cls
        self.results_dir: Path = Path(results_dir).expanduser().resolve()
        if runner is not None:  # a Store that only inspects creates nothing
            self.results_dir.mkdir(parents=True, exist_ok=True)
        check_suffix(self.results_dir, file_suffix)
        self.file_suffix: str = file_suffix
        self.engine: Engine = make_engine(db_url, engine_options)
        self._table: Table = table
        parts = assemble(
            self.engine,
            table,
            result_cls,
            runner,
            self.results_dir,
            file_suffix,
            claim_lease=claim_lease,
            runner_version=runner_version,
            on_code_change=on_code_change,
        )
        self._parts = parts
        self._schema, self._state, self._records = parts.schema, parts.state, parts.records
        self._writer, self._planner, self._indexer = parts.writer, parts.planner, parts.indexer
        self._single, self._queries, self._freshness = parts.single, parts.queries, parts.freshness

    # ------------------------------------------------------------------ basics

    @property
    def runner(self) -> Runner | None:
        """The runner (``None`` for a Store opened for inspection and repair only)."""
        return self._runner

    @runner.setter
    def runner(self, runner: Runner | None) -> None:
        if runner is not None and not callable(runner):
            raise TypeError(f"runner must be callable, not {type(runner).__name__}")
        self._runner = runner
        self._single.runner = runner
        self._parts.provenance.runner = runner

    def __repr__(self) -> str:
        url = self.engine.url.render_as_string(hide_password=True)
        return (
            f"Store({self.result_cls.__name__}, results_dir={str(self.results_dir)!r}, "
            f"file_suffix={self.file_suffix!r}, db_url={url!r})"
        )

    def close(self) -> None:
        """Close the Store's database connections."""
        self._records.close()
        if self._freshness is not None:
            self._freshness.close()
        self.engine.dispose()

    def __enter__(self) -> Store[ModelT]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def result_path(self, run_id: str) -> Path:
        """The path of the result file of run ``run_id``."""
        return self._planner.result_path(run_id)

    def key(self, params: Mapping[str, Any]) -> str:
        """Return the id that ``params`` is stored under (its hash, or its explicit ``id``).

        Raises:
            TypeError: ``params`` is not a mapping.
            ParameterError: ``params`` has keys the model lacks, or an invalid explicit id.
        """
        return self._schema.request(params, complete=False).key

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
        self._state.ready()
        request = self._schema.request(params, complete=True)
        record = self._records.fetch_one(request.key)
        if record is not None:
            logger.debug("hit %s", request.key)
            check_hit(record, request)
            if self._freshness is None or self._freshness.keep(request.key):
                return record
        self._state.ready_to_write()
        return self._single.run_once(self._schema.storable(request), custom_data)

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
        self._state.ready_to_write()
        request = self._schema.storable(self._schema.request(params, complete=True))
        return self._single.run(request, custom_data)

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
        self._state.ready()
        request = self._schema.request(params, complete=False)
        record = self._records.fetch_one(request.key)
        return None if record is None else check_hit(record, request)

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
        self._state.ready_to_write()
        path = Path(result_file).expanduser().resolve()
        if not path.is_file():
            raise FileNotFoundError(f"no result file at {path}")
        request = self._schema.storable(self._schema.request(params, complete=True))
        return self._records.from_row(self._indexer.register(request, path, custom_data))

    def delete(
        self,
        params: Mapping[str, Any] | None = None,
        hash: str | None = None,
        remove_file: bool = False,
    ) -> bool:
        """Delete a stored run: its manifest, its record and, when asked, its result file.

        The steps go in that order, so an interruption leaves the run either complete or gone
        for good: once the manifest is removed, :meth:`ingest` cannot bring the run back.

        Args:
            params: The parameter set (or ``{"id": ...}``).
            hash: A stored id; used instead of ``params`` when both are given.
            remove_file: Also delete the result file (only ever inside ``results_dir``).

        Returns:
            Whether a record was removed.

        Raises:
            ValueError: Neither ``params`` nor ``hash`` is given.
            HashCollisionError: The id is stored for different parameters; nothing is deleted.
        """
        self._state.ready()
        if hash is not None:
            request = self._schema.request({"id": hash}, complete=False)
        elif params is not None:
            request = self._schema.request(params, complete=False)
        else:
            raise ValueError("delete needs params or hash (a stored id)")
        record = self._records.fetch_one(request.key)
        if record is None:
            manifest_path(self.results_dir, request.key).unlink(missing_ok=True)
            return False
        check_hit(record, request)
        return self._writer.remove(record.id, record.result_file, remove_file)

    def delete_many(self, ids: Iterable[str], *, remove_file: bool = False) -> tuple[int, int]:
        """Delete the stored runs ``ids``, each as :meth:`delete` does (manifest, row, file).

        Args:
            ids: Stored ids; ids with no record are skipped (a stray manifest is removed).
            remove_file: Also delete the result files (only ever inside ``results_dir``).

        Returns:
            How many records and how many result files were removed.
        """
        self._state.ready()
        return self._writer.remove_many(builtins.list(ids), self._records, remove_file)

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
        self._state.ready()
        request = self._schema.request(params, complete=False)
        frozen = sorted(k for k in data if k in self._schema.columns or k == "id")
        if frozen:
            raise ParameterError(
                f"cannot patch {', '.join(map(repr, frozen))}: parameters and the id are the "
                "record's key; run the new parameter set instead"
            )
        with self._parts.sessions.begin() as session:
            record = session.get(self.result_cls, request.key)
            if record is None:
                raise KeyError(f"no record with id {request.key!r}")
            check_hit(record, request)
            record.apply_patch(data)
        self._indexer.patched(record)
        return record

    def ingest(self) -> int:
        """Index every manifest in the results directory that has no record.

        This rebuilds a lost database from its results directory, and indexes results written
        elsewhere (an array job that only wrote files and manifests). Manifests whose result file
        is missing, or whose parameters do not fit the model, are skipped with a warning.

        Returns:
            How many records were added.
        """
        self._state.ready_to_write()
        return self._indexer.ingest()

    # ------------------------------------------------------------------ sweeps

    def sweep(
        self,
        params: Iterable[Mapping[str, Any]],
        client: Any = None,
        *,
        executor: str | _executors.Executor | None = None,
        progress: bool = False,
        callback: ProgressCallback | None = None,
        time_limit: float | None = None,
        fallback: bool = True,
        retries: int = 0,
        retry_backoff: float = 1.0,
        skip_failed: bool = False,
    ) -> builtins.list[ModelT]:
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
            time_limit: Seconds after which no run starts; runs in flight finish and are
                stored, then :class:`~entropic.TimeLimitError` is raised. This is how an array
                task stays inside its walltime.
            fallback: Whether an executor plugin may run work in this process when its
                cluster cannot; ``False`` raises :class:`~entropic.FallbackRefusedError`.
            retries: How many times a run whose runner raised is tried again before it counts
                as failed; every attempt is recorded (see :meth:`failures`).
            retry_backoff: Seconds before a run's first retry; each later retry waits twice as
                long as the one before (at most a minute). Other runs go on meanwhile.
            skip_failed: Do not start runs whose current failure already has ``retries + 1``
                attempts; they are logged and reported in the :class:`~entropic.SweepError`
                (``skipped``), each with a :class:`~entropic.FailedBeforeError`.

        A sweep with runs to do records itself in ``entropic_sweeps`` (total, progress,
        owner, heartbeat) and each failed attempt in ``entropic_failures`` and
        ``entropic_attempts``, inside the commits it makes anyway; see :meth:`status`.

        While a sweep runs in the main thread, SIGINT raises ``KeyboardInterrupt`` (whatever
        handler another library installed) and SIGTERM (a scheduler's walltime, ``scancel``)
        stops it: no new run starts, finished runs are committed, claims are released, one
        line on stderr says how many runs were kept, and the process exits with status 143.

        Returns:
            One record per distinct parameter set, in the order each first appeared.

        Raises:
            TypeError: An element of ``params`` is not a mapping.
            ParameterError: A parameter set does not fit the model; nothing has run.
            HashCollisionError: Two parameter sets, or one and a stored record, share an id
                but differ; nothing has run.
            SweepError: Some runs failed, or ``skip_failed`` did not start some; all others
                were stored. It is an ``ExceptionGroup`` of the runners' exceptions.
            TimeLimitError: ``time_limit`` passed before every run was done.
            ValueError: ``time_limit``, ``retries`` or ``retry_backoff`` is out of range.
        """
        self._state.ready_to_write()
        results: builtins.list[Any] = run_sweep(
            self._parts,
            self.result_cls,
            self.runner,
            params,
            client,
            executor,
            progress=progress,
            callback=callback,
            time_limit=time_limit,
            fallback=fallback,
            retries=retries,
            retry_backoff=retry_backoff,
            skip_failed=skip_failed,
        )
        return results

    # ------------------------------------------------------------------ operating

    def status(self) -> StoreStatus:
        """What the store is doing: stored runs, runs in progress, failures and sweeps.

        See :func:`entropic.status.read_status`.
        """
        from entropic.status import read_status

        return read_status(self.engine, [self._table.name])

    def coverage(self, by: Sequence[str]) -> Coverage:
        """Stored, failed and running runs counted over one or two parameters.

        See :func:`entropic.coverage.coverage`.
        """
        from entropic.coverage import coverage

        return coverage(self.engine, self._table, by)

    def failures(
        self,
        where: Iterable[Condition] = (),
        *,
        exc_type: str | None = None,
        ids: Iterable[str] | None = None,
        **equals: Any,
    ) -> builtins.list[RecordedFailure]:
        """The current failures (runs whose last attempt failed), the latest first.

        Args:
            where: Conditions on the parameters, such as ``Condition("n", ">=", 3)``.
            exc_type: Only failures with this exception class (its full name, or the name
                after the last dot).
            ids: Only these runs.
            **equals: Parameter values the failures must have, e.g. ``n=3``.

        Raises:
            ParameterError: A condition names a column the model lacks.
        """
        columns = self._schema.columns
        return chosen_failures(self.engine, self._table, columns, where, exc_type, ids, equals)

    def forget(
        self,
        ids: Iterable[str] | None = None,
        *,
        where: Iterable[Condition] = (),
        exc_type: str | None = None,
    ) -> int:
        """Clear current failures: those selected, or every one when nothing selects.

        The history of attempts is kept; a forgotten run counts as never failed, so
        ``sweep(skip_failed=True)`` starts it again.

        Returns:
            How many failures were cleared.
        """
        return forget(self.engine, self._table, self._schema.columns, ids, where, exc_type)

    def retry(
        self,
        ids: Iterable[str] | None = None,
        *,
        where: Iterable[Condition] = (),
        exc_type: str | None = None,
        **sweep_options: Any,
    ) -> builtins.list[ModelT]:
        """Run again the current failures that match (all of them when nothing selects).

        The runs are swept with their recorded parameters; a success clears the failure.

        Args:
            ids: Only these runs.
            where: Conditions on the parameters.
            exc_type: Only failures with this exception class.
            **sweep_options: Passed to :meth:`sweep` (``retries``, ``executor``, ``progress``...).

        Returns:
            The records of the runs retried, in the order of the failures (latest first).

        Raises:
            SweepError: Some runs failed again.
        """
        failures = self.failures(where, exc_type=exc_type, ids=ids)
        params = retry_params(failures, self._table, self.key)
        return self.sweep(params, **sweep_options) if params else []

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
        return add_parameter(self.engine, self._state, self._planner, name, default, callback)

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
        self._state.ready()
        return merge(
            self._schema, self._records, self._writer, str(other_db_url), other_results_dir
        )

    def relocate(self, old_prefix: str | Path, new_prefix: str | Path) -> int:
        """Rewrite ``result_file`` paths after a results directory moved.

        Every ``result_file`` that starts with ``old_prefix`` gets ``new_prefix`` instead, and
        so does the results directory the store recorded.

        Returns:
            How many rows changed.
        """
        self._state.ready()
        old, new = str(old_prefix), str(new_prefix)
        changed = self._writer.relocate(old, new)
        recorded = self._state.facts.get(RESULTS_DIR)
        if recorded is not None and recorded.startswith(old):
            # the recorded results directory moved with the files
            record_meta(self.engine, self._table.name, {RESULTS_DIR: new + recorded[len(old) :]})
            self._state.load_facts()
        return changed

    # ------------------------------------------------------------------ maintenance

    def verify(self) -> builtins.list[Problem]:
        """Compare the database with the results directory and return every problem found.

        Nothing is changed. See :func:`entropic.maintenance.verify`.
        """
        self._state.ready()
        return _upkeep.verify(self.engine, self._table, self.results_dir, self.file_suffix)

    def gc(self, *, dry_run: bool = False, purge: bool = False, force: bool = False) -> GcReport:
        """Remove orphaned files and rows, moving files to the trash unless ``purge``.

        See :func:`entropic.maintenance.collect_garbage`.
        """
        self._state.ready()
        return _upkeep.collect_garbage(
            self.engine,
            self._table,
            self.results_dir,
            self.file_suffix,
            dry_run=dry_run,
            purge=purge,
            force=force,
        )

    def empty_trash(self) -> int:
        """Delete for good what :meth:`gc` moved to the trash; return how many files went."""
        return _upkeep.empty_trash(self.results_dir)

    # ------------------------------------------------------------------ queries

    def find(
        self, where: ColumnElement[bool] | None = None, **equals: Any
    ) -> builtins.list[ModelT]:
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
        return builtins.list(self.iter_records(where, **equals))

    def list(
        self, where: ColumnElement[bool] | None = None, **equals: Any
    ) -> builtins.list[ModelT]:
        """The same as :meth:`find`; kept for scripts written for entropic 2.x."""
        return self.find(where, **equals)

    def count(self, where: ColumnElement[bool] | None = None, **equals: Any) -> int:
        """Return how many stored records match, as :meth:`find` selects them."""
        self._state.ready()
        return self._queries.count(self._queries.where(where, equals))

    def iter_records(
        self, where: ColumnElement[bool] | None = None, **equals: Any
    ) -> Iterator[ModelT]:
        """Yield the matching records (all of them by default), fetched a chunk at a time.

        Memory stays flat however large the store is: rows are streamed from the database and
        each record is built as it is reached.
        """
        self._state.ready()
        return self._queries.iterate(self._queries.where(where, equals))

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
        self._state.ready()
        return self._queries.frame(self._queries.where(where, equals))
