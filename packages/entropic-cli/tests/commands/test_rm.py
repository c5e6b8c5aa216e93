"""entropic rm: removing runs (manifest, row, then file)."""

from __future__ import annotations

import json

from _cli_helpers import POINTS, Invoke, StoreFiles

from entropic.manifests import manifest_path


def test_rm_by_id_removes_row_and_manifest_but_keeps_the_file(
    invoke: Invoke, store: StoreFiles
) -> None:
    run_id = store.ids[0]
    result = invoke("rm", run_id, "--yes")
    assert result.stdout == "removed 1 run(s)\n"
    assert not manifest_path(store.results_dir, run_id).exists()
    assert (store.results_dir / f"{run_id}.txt").exists()
    invoke("show", run_id, code=1)
    invoke("ingest")
    invoke("show", run_id, code=1)  # no manifest: ingest does not bring it back


def test_rm_where_and_remove_file(invoke: Invoke, store: StoreFiles) -> None:
    result = invoke("rm", "--where", "n=2", "--remove-file", "--yes")
    assert result.stdout == "removed 2 run(s) and 2 result file(s)\n"
    rows = json.loads(invoke("ls", "--format", "json").stdout)
    assert sorted(r["n"] for r in rows) == [1, 1, 3, 3]
    assert len(list(store.results_dir.glob("*.txt"))) == 4
    invoke("verify")


def test_rm_asks_for_confirmation(invoke: Invoke, store: StoreFiles) -> None:
    result = invoke("rm", store.ids[0], store.ids[1], input="n\n", code=1)
    assert "Remove 2 run(s) from table 'cli_points'" in result.output
    assert len(json.loads(invoke("ls", "--format", "json").stdout)) == len(POINTS)
    invoke("rm", store.ids[0], input="y\n")
    assert len(json.loads(invoke("ls", "--format", "json").stdout)) == len(POINTS) - 1


def test_rm_unknown_id_removes_nothing(invoke: Invoke, store: StoreFiles) -> None:
    result = invoke("rm", store.ids[0], "feedfacefeedface", "--yes", code=1)
    assert result.stderr == (
        "Error: no run with id 'feedfacefeedface' in table 'cli_points'; nothing removed\n"
    )
    assert len(json.loads(invoke("ls", "--format", "json").stdout)) == len(POINTS)


def test_rm_where_binds_a_hostile_value(invoke: Invoke) -> None:
    result = invoke("rm", "--where", "label=x' OR '1'='1", "--yes")
    assert "nothing removed" in result.stderr
    assert len(json.loads(invoke("ls", "--format", "json").stdout)) == len(POINTS)


def test_rm_needs_ids_or_where(invoke: Invoke) -> None:
    result = invoke("rm", "--yes", code=2)
    assert "give the ids of the runs to remove" in result.stderr
