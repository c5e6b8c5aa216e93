"""Manifests: one small JSON sidecar per result, enough to rebuild its row.

A manifest lives in the results directory as ``.<id>.entropic.json``. Ids never start with a dot,
so no result file ``<id><file_suffix>`` can have that name, whatever the suffix. A manifest is
written only after its result file is complete, so a manifest means a finished run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from entropic._json import to_json

__all__ = [
    "MANIFEST_VERSION",
    "Manifest",
    "manifest_id",
    "manifest_path",
    "read_manifest",
    "scan_manifests",
    "write_manifest",
]

MANIFEST_VERSION: Final = 1
_PREFIX: Final = "."
_SUFFIX: Final = ".entropic.json"


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a manifest records about one run."""

    id: str
    params: dict[str, Any]
    result_file: str
    created_at: dt.datetime
    custom_data: dict[str, Any]


def manifest_path(results_dir: Path, run_id: str) -> Path:
    """Return where the manifest of ``run_id`` lives."""
    return results_dir / f"{_PREFIX}{run_id}{_SUFFIX}"


def manifest_id(path: str | Path) -> str | None:
    """Return the run id a manifest's file name gives, or ``None`` for another name.

    The name alone is read, not the file: this works for a manifest that cannot be parsed.
    """
    name = Path(path).name
    if len(name) > len(_PREFIX) + len(_SUFFIX) and name.startswith(_PREFIX):
        if name.endswith(_SUFFIX):
            return name[len(_PREFIX) : -len(_SUFFIX)]
    return None


def write_manifest(results_dir: Path, manifest: Manifest) -> Path:
    """Write a manifest atomically (temporary file, then ``os.replace``) and return its path."""
    path = manifest_path(results_dir, manifest.id)
    result = Path(manifest.result_file)
    try:
        stored_file = str(result.relative_to(results_dir))
    except ValueError:
        stored_file = str(result)
    body = {
        "entropic_manifest": MANIFEST_VERSION,
        "id": manifest.id,
        "params": to_json(manifest.params),
        "result_file": stored_file,
        "created_at": manifest.created_at.isoformat(),
        "custom_data": to_json(manifest.custom_data),
    }
    tmp = f"{path}.{uuid.uuid4().hex[:12]}.tmp"
    data = json.dumps(body, sort_keys=True, allow_nan=True).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def read_manifest(path: Path, results_dir: Path) -> Manifest:
    """Read one manifest; relative result paths are resolved against ``results_dir``.

    Raises:
        ValueError: The file is not an entropic manifest of a known version.
    """
    body = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(body, dict) or body.get("entropic_manifest") != MANIFEST_VERSION:
        raise ValueError(f"{path} is not an entropic manifest of version {MANIFEST_VERSION}")
    created = dt.datetime.fromisoformat(body["created_at"])
    if created.tzinfo is None:
        created = created.replace(tzinfo=dt.UTC)
    return Manifest(
        id=str(body["id"]),
        params=dict(body["params"]),
        result_file=str(results_dir / body["result_file"]),
        created_at=created,
        custom_data=dict(body.get("custom_data") or {}),
    )


def scan_manifests(results_dir: Path) -> Iterator[Path]:
    """Yield the path of every manifest in ``results_dir``."""
    try:
        entries = os.scandir(results_dir)
    except FileNotFoundError:
        return
    with entries:
        for entry in entries:
            name = entry.name
            if name.startswith(_PREFIX) and name.endswith(_SUFFIX) and entry.is_file():
                yield Path(entry.path)
