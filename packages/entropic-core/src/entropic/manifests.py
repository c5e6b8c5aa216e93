"""Manifests: one small JSON sidecar per result, enough to rebuild its row.

A manifest lives in the results directory as ``.<id>.entropic.json``. Ids never start with a dot,
so no result file ``<id><file_suffix>`` can have that name, whatever the suffix. A manifest is
written only after its result file is complete, so a manifest means a finished run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import itertools
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from entropic._json import compiled_encoder, to_json

__all__ = [
    "MANIFEST_VERSION",
    "MAX_DEPTH",
    "MAX_MANIFEST_BYTES",
    "Manifest",
    "has_manifest",
    "manifest_id",
    "manifest_path",
    "read_manifest",
    "scan_manifests",
    "write_manifest",
]

MANIFEST_VERSION: Final = 1
#: One encoder for every manifest (sorted keys; NaN and infinities as JavaScript writes them).
_ENCODER: Final = json.JSONEncoder(sort_keys=True, allow_nan=True)
_encode: Final = compiled_encoder(_ENCODER)
#: Temporary names: unique per process (host, pid, a random part) and per write (a counter).
_TOKEN: Final = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
_COUNTER: Final = itertools.count()
#: A manifest larger than this is not read (a manifest is a few hundred bytes).
MAX_MANIFEST_BYTES: Final = 4 * 1024 * 1024
#: A manifest nesting lists and objects deeper than this is not trusted.
MAX_DEPTH: Final = 64
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
    #: Whether the id was given by the user (not the parameters' hash).
    explicit_id: bool = False
    #: What made the result (runner, code, environment), when known.
    provenance: dict[str, Any] | None = None
    #: The parameters the id was hashed from (the others are defaults the run was stored with).
    key_names: tuple[str, ...] | None = None


def manifest_path(results_dir: Path, run_id: str) -> Path:
    """Return where the manifest of ``run_id`` lives."""
    return results_dir / f"{_PREFIX}{run_id}{_SUFFIX}"


def has_manifest(results_dir: str | Path, run_id: str) -> bool:
    """Whether ``run_id`` has a manifest file in ``results_dir`` (one ``stat``, no pathlib)."""
    return os.path.isfile(os.path.join(results_dir, f"{_PREFIX}{run_id}{_SUFFIX}"))


def manifest_id(path: str | Path) -> str | None:
    """Return the run id a manifest's file name gives, or ``None`` for another name.

    The name alone is read, not the file: this works for a manifest that cannot be parsed.
    """
    name = Path(path).name
    if (
        len(name) > len(_PREFIX) + len(_SUFFIX)
        and name.startswith(_PREFIX)
        and name.endswith(_SUFFIX)
    ):
        return name[len(_PREFIX) : -len(_SUFFIX)]
    return None


def _stored_name(results_dir: str, result_file: str) -> str:
    """How a manifest names its result: relative to the results directory when inside it."""
    prefix = results_dir.rstrip(os.sep) + os.sep
    name = result_file[len(prefix) :]
    if result_file.startswith(prefix) and name not in ("", ".", "..") and os.sep not in name:
        return name  # a result beside its manifest, as the Store writes them
    try:
        return str(Path(result_file).relative_to(results_dir))
    except ValueError:
        return result_file


def write_manifest(results_dir: str | Path, manifest: Manifest) -> Path:
    """Write a manifest atomically and completely, and return its path.

    The body goes to a temporary file, every byte of it (a short write on a nearly full disk is
    an error, not a truncated manifest), then replaces the manifest with :func:`os.replace`.

    Raises:
        OSError: The manifest could not be written whole; nothing is left at its path.
    """
    folder = os.fspath(results_dir)
    path = os.path.join(folder, f"{_PREFIX}{manifest.id}{_SUFFIX}")
    stored_file = _stored_name(folder, os.fspath(manifest.result_file))
    body: dict[str, Any] = {
        "entropic_manifest": MANIFEST_VERSION,
        "id": manifest.id,
        "params": to_json(manifest.params),
        "result_file": stored_file,
        "created_at": manifest.created_at.isoformat(),
        "custom_data": to_json(manifest.custom_data),
    }
    if manifest.explicit_id:
        body["explicit_id"] = True
    if manifest.provenance is not None:
        body["provenance"] = to_json(manifest.provenance)
    if manifest.key_names is not None:
        body["key_names"] = list(manifest.key_names)
    tmp = f"{path}.{_TOKEN}-{next(_COUNTER)}.tmp"
    data = memoryview(_encode(body).encode())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        try:
            written = 0
            while written < len(data):
                count = os.write(fd, data[written:])
                if count <= 0:
                    name = os.path.basename(path)
                    raise OSError(errno.ENOSPC, f"no room to write the manifest {name}")
                written += count
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return Path(path)


def _depth(value: Any) -> int:
    """How deeply ``value`` nests lists and objects (iteratively: no recursion to exhaust)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            if level > deepest:
                deepest = level
                if deepest > MAX_DEPTH:
                    return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def read_manifest(path: Path, results_dir: Path) -> Manifest:
    """Read one manifest; relative result paths are resolved against ``results_dir``.

    Raises:
        ValueError: The file is not an entropic manifest of a known version, is larger than
            :data:`MAX_MANIFEST_BYTES`, nests deeper than :data:`MAX_DEPTH`, or lacks a field.
        OSError: The file cannot be read.
    """
    with open(path, "rb") as f:
        raw = f.read(MAX_MANIFEST_BYTES + 1)
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ValueError(f"{path} is larger than {MAX_MANIFEST_BYTES} bytes: not a manifest")
    try:
        body = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise ValueError(f"{path} nests deeper than {MAX_DEPTH} levels: not a manifest") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not UTF-8 JSON: {exc}") from None
    if not isinstance(body, dict) or body.get("entropic_manifest") != MANIFEST_VERSION:
        raise ValueError(f"{path} is not an entropic manifest of version {MANIFEST_VERSION}")
    if _depth(body) > MAX_DEPTH:
        raise ValueError(f"{path} nests deeper than {MAX_DEPTH} levels: not a manifest")
    try:
        created = dt.datetime.fromisoformat(body["created_at"])
        if created.tzinfo is None:
            created = created.replace(tzinfo=dt.UTC)
        provenance = body.get("provenance")
        key_names = body.get("key_names")
        return Manifest(
            id=str(body["id"]),
            params=dict(body["params"]),
            result_file=str(results_dir / body["result_file"]),
            created_at=created,
            custom_data=dict(body.get("custom_data") or {}),
            explicit_id=bool(body.get("explicit_id", False)),
            provenance=dict(provenance) if isinstance(provenance, dict) else None,
            key_names=tuple(map(str, key_names)) if isinstance(key_names, list) else None,
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(
            f"{path} is not a complete manifest: {type(exc).__name__}: {exc}"
        ) from None


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
