"""What crosses the pipe to the push worker: settings, files, entries, stats, errors.

Messages are JSON objects, one per line. The parent sends::

    {"op": "log", "id": 7, "settings": {...}, "publication": {..., "files": [...]}}
    {"op": "cancel", "id": 7}

and the worker answers (after ``{"event": "ready", "pid": ...}`` once)::

    {"id": 7, "event": "start", "phase": "push", "total_bytes": ..., "total_files": ...}
    {"id": 7, "event": "progress", "nbytes": ...}   (bytes uploaded)
    {"id": 7, "event": "skip", "nbytes": ...}       (bytes the store had already)
    {"id": 7, "event": "done", "version": {...}, "manifest": {...}, "stats": {...}}
    {"id": 7, "event": "error", "error": {...}}

Errors travel as class, arguments and attributes and are rebuilt as the same
class (asyncart's own and builtins only), so ``except FileChangedError`` works
the same whether the bytes were pushed here or in the worker.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
from pathlib import Path
from typing import Any

from asyncart import errors
from asyncart.client.progress import TransferStats
from asyncart.client.publish import Publication, Reference
from asyncart.client.scan import FileIdentity
from asyncart.client.upload import SourceFile
from asyncart.config import Settings
from asyncart.core.chunking import ChunkerSpec
from asyncart.core.manifest import ManifestEntry
from asyncart.errors import AsyncartError, ProtocolError

_PATH_FIELDS = ("store_dir", "cache_dir", "config_dir", "ca_bundle")


def encode(message: dict[str, Any]) -> bytes:
    """One message as a line of JSON."""
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """A line back to a message; a malformed one is a ProtocolError naming it."""
    try:
        message = json.loads(line)
    except ValueError:
        raise ProtocolError(
            f"the push worker sent a line that is not JSON: {line[:200]!r}"
        ) from None
    if not isinstance(message, dict):
        raise ProtocolError(f"the push worker sent {line[:200]!r}, not a JSON object")
    return message


def settings_to_json(settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, Path):
            value = str(value)
        elif isinstance(value, ChunkerSpec):
            value = value.to_json()
        out[f.name] = value
    return out


def settings_from_json(data: dict[str, Any]) -> Settings:
    kwargs = dict(data)
    for name in _PATH_FIELDS:
        if kwargs.get(name) is not None:
            kwargs[name] = Path(kwargs[name])
    kwargs["chunker"] = ChunkerSpec.from_json(kwargs["chunker"])
    return Settings(**kwargs)


def file_to_json(source: SourceFile) -> dict[str, Any]:
    identity = source.identity
    return {
        "path": source.path,
        "local": str(source.local),
        "identity": [identity.size, identity.mtime_ns, identity.ctime_ns, identity.inode],
    }


def file_from_json(data: dict[str, Any]) -> SourceFile:
    return SourceFile(data["path"], Path(data["local"]), FileIdentity(*data["identity"]))


def publication_to_json(pub: Publication) -> dict[str, Any]:
    return {
        "project": pub.project,
        "name": pub.name,
        "type": pub.type,
        "files": [file_to_json(f) for f in pub.files],
        "references": [
            {
                **file_to_json(SourceFile(r.path, r.local, r.identity)),
                "uri": r.uri,
                "checksum": r.checksum,
                "digest": r.digest,
            }
            for r in pub.references
        ],
        "aliases": list(pub.aliases),
        "metadata": pub.metadata,
        "description": pub.description,
        "run_id": pub.run_id,
        "kept": [e.to_json() for e in pub.kept],
    }


def publication_from_json(data: dict[str, Any]) -> Publication:
    refs = []
    for r in data["references"]:
        source = file_from_json(r)
        refs.append(
            Reference(
                source.path,
                r["uri"],
                source.local,
                source.identity,
                r.get("checksum", True),
                r.get("digest"),
            )
        )
    return Publication(
        project=data["project"],
        name=data["name"],
        type=data["type"],
        files=tuple(file_from_json(f) for f in data["files"]),
        references=tuple(refs),
        aliases=tuple(data["aliases"]),
        metadata=data["metadata"],
        description=data["description"],
        run_id=data["run_id"],
        kept=tuple(ManifestEntry.from_json(e) for e in data.get("kept", ())),
    )


def stats_to_json(stats: TransferStats) -> dict[str, Any]:
    return {k: v for k, v in vars(stats).items() if _plain(v)}


def stats_into(stats: TransferStats, data: dict[str, Any]) -> None:
    """Add the worker's counts to ``stats`` (a retried push adds up, as in-process)."""
    for key, value in data.items():
        current = getattr(stats, key, None)
        if isinstance(current, int) and isinstance(value, int):
            setattr(stats, key, current + value)
        elif isinstance(current, list) and isinstance(value, list):
            current.extend(tuple(v) for v in value)
        elif key == "concurrency":
            stats.concurrency = value


def error_to_json(exc: BaseException) -> dict[str, Any]:
    """An exception as class, arguments and plain attributes (its cause, if an exception)."""
    attrs: dict[str, Any] = {}
    for key, value in vars(exc).items():
        if isinstance(value, BaseException):
            attrs[key] = {"exception": error_to_json(value)}
        elif _plain(value):
            attrs[key] = value
    cls = type(exc)
    args = list(exc.args)
    if isinstance(exc, OSError) and exc.filename is not None and len(args) == 2:
        args.append(exc.filename)  # a slot, not in args: OSError(errno, strerror, filename)
    return {
        "module": cls.__module__,
        "class": cls.__qualname__,
        "args": [a if _plain(a) else str(a) for a in args],
        "attrs": attrs,
    }


def error_from_json(data: dict[str, Any]) -> BaseException:
    """The exception ``error_to_json`` described, as its own class where that is ours or a builtin.

    Any other class (a third-party library's) comes back as an AsyncartError naming it.
    """
    cls = _error_class(data.get("module"), data.get("class"))
    args = data.get("args") or []
    if cls is None:
        text = args[0] if args else ""
        return AsyncartError(f"{data.get('module')}.{data.get('class')}: {text}")
    try:
        exc = cls(*args)
    except TypeError:  # keyword-only constructor arguments: rebuild without calling __init__
        exc = cls.__new__(cls)
        BaseException.__init__(exc, *args)
    for key, value in (data.get("attrs") or {}).items():
        if isinstance(value, dict) and "exception" in value:
            value = error_from_json(value["exception"])
        setattr(exc, key, value)
    return exc


def _error_class(module: Any, name: Any) -> type[BaseException] | None:
    source = {"asyncart.errors": errors, "builtins": builtins}.get(module)
    cls = getattr(source, name, None) if source is not None and isinstance(name, str) else None
    if isinstance(cls, type) and issubclass(cls, BaseException):
        return cls
    return None


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False
