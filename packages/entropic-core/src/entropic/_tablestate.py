"""Table state: whether the table in the database still matches the model, and its facts.

A model and its table can drift apart: a column declared in the model but not yet added to the
table (``add_parameter`` is the fix), a column in the table the model lacks, an ``add_parameter``
that did not finish. :class:`TableState` notices each, and every operation asks
:meth:`TableState.ready` first, so nothing is written with the wrong key. It also reads the
defaults of parameters added later into the parameter schema.
"""

from __future__ import annotations

import json

from sqlalchemy import Engine, Table
from sqlalchemy import inspect as sa_inspect

from entropic._internal import MIGRATING, PARAM_DEFAULT, read_meta
from entropic._params import ParameterSchema
from entropic.errors import SchemaError

__all__ = ["TableState"]


class TableState:
    """What is known of one table in the database, compared with its model.

    Args:
        engine: The Store's engine.
        table: The model's table.
        schema: The model's parameter schema; its ``filled`` defaults are kept up to date here.
    """

    def __init__(self, engine: Engine, table: Table, schema: ParameterSchema) -> None:
        self.engine = engine
        self.table = table
        self.schema = schema
        #: What disagrees between model and table, or ``None``.
        self.drift: str | None = None
        #: The facts recorded in the meta table.
        self.facts: dict[str, str] = {}
        #: The columns the table had when last looked at.
        self.present: frozenset[str] = frozenset()

    def check(self) -> str | None:
        """Look at the table and the meta facts again; return (and keep) any disagreement."""
        self.present = frozenset(
            c["name"] for c in sa_inspect(self.engine).get_columns(self.table.name)
        )
        wanted = set(self.table.columns.keys())
        lacking = sorted(wanted - self.present)
        extra = sorted(self.present - wanted)
        problems = []
        if lacking:
            names = ", ".join(lacking)
            problems.append(
                f"the table {self.table.name!r} lacks the model's column(s) {names}: add each "
                f"with store.add_parameter(name, default) (or `entropic migrate add-param "
                f"NAME=VALUE`), which also re-keys the existing runs"
            )
        if extra:
            problems.append(
                f"the table {self.table.name!r} has column(s) {', '.join(extra)} that "
                f"{self.schema.model_name} lacks: add them to the model"
            )
        self.drift = "; ".join(problems) or None
        self.load_facts()
        return self.drift

    def load_facts(self) -> None:
        """Read the meta facts: added parameters' defaults and migrations left unfinished."""
        with self.engine.connect() as conn:
            facts = read_meta(conn, self.table.name)
        self.facts = facts
        schema = self.schema
        schema.filled = {
            name: schema.from_json(name, json.loads(value))
            for key, value in facts.items()
            if key.startswith(PARAM_DEFAULT)
            and (name := key.removeprefix(PARAM_DEFAULT)) in schema.columns
        }
        migrating = [k.removeprefix(MIGRATING) for k in facts if k.startswith(MIGRATING)]
        if migrating and self.drift is None:
            self.drift = (
                f"adding the parameter(s) {', '.join(migrating)} to {self.table.name!r} did "
                "not finish: run store.add_parameter (or `entropic migrate add-param`) again "
                "with the same default to complete it"
            )

    def ready_to_write(self) -> None:
        """:meth:`ready`, after one look at whether another process changed the table's schema.

        ``add_parameter`` in another process leaves its marks in the meta table (a migration
        under way, a parameter's recorded default); when they differ from what this Store saw,
        the table is looked at again, so a Store opened with the old model refuses to write
        rows keyed the old way.

        Raises:
            SchemaError: The table and the model now disagree.
        """
        with self.engine.connect() as conn:
            facts = read_meta(conn, self.table.name)
        if _schema_marks(facts) != _schema_marks(self.facts):
            self.check()
        self.ready()

    def ready(self) -> None:
        """Raise while the model and the table disagree (looking again first).

        Raises:
            SchemaError: The table and the model still disagree.
        """
        if self.drift is not None and self.check() is not None:
            raise SchemaError(self.drift)


def _schema_marks(facts: dict[str, str]) -> dict[str, str]:
    """The meta facts that change when a parameter is added."""
    return {k: v for k, v in facts.items() if k.startswith((MIGRATING, PARAM_DEFAULT))}
