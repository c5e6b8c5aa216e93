"""entropic executors: the registered executors and their packages."""

from __future__ import annotations

import json

from _cli_helpers import Invoke

from entropic import executors


def test_executors_lists_names_and_packages(invoke: Invoke) -> None:
    rows = json.loads(invoke("executors", "--format", "json").stdout)
    assert {r["name"]: r["package"] for r in rows} == dict(executors.registry())
    assert {"name": "serial", "package": "entropic-core"} in rows
    table = invoke("executors").stdout.splitlines()
    assert table[0].split() == ["name", "package"]
    assert any(line.split() == ["serial", "entropic-core"] for line in table)
