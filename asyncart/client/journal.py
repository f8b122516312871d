"""The journal beside a part file: which regions already hold verified chunks, for resuming.

``<name>.asyncart-journal`` starts with a header naming the file it belongs to
(its digest and size); each record after it is one region (offset, length)
written after its bytes were verified and written. Records are appended with
``O_APPEND``; a torn last record (the process died mid-write) is ignored.

The journal is only a list of candidates: a resumed pull re-hashes every chunk
it would keep, so neither a stale journal nor bytes lost with the page cache
on a crash can put a wrong byte into a finished file.
"""

from __future__ import annotations

import contextlib
import os
import struct
from pathlib import Path

from asyncart.client import side_files
from asyncart.core.paths import JOURNAL_SUFFIX, sidecar_path

_MAGIC = b"asyncart-journal-v1\n"
_HEADER = struct.Struct("<32sQ")
_RECORD = struct.Struct("<QQ")
MAX_JOURNAL_BYTES = 256 << 20


def journal_path(final: Path) -> Path:
    """Where the journal of the file downloaded to ``final`` lives."""
    return sidecar_path(final, JOURNAL_SUFFIX)


def start(path: Path, digest: str, size: int) -> None:
    """Begin an empty journal for the file with ``digest`` and ``size`` (replacing any)."""
    fd = side_files.create(path, mode=0o600)
    try:
        os.write(fd, _MAGIC + _HEADER.pack(bytes.fromhex(digest), size))
    finally:
        os.close(fd)


def append(path: Path, regions: list[tuple[int, int]]) -> None:
    """Record verified ``(offset, length)`` regions."""
    fd = side_files.open_existing(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, b"".join(_RECORD.pack(off, length) for off, length in regions))
    finally:
        os.close(fd)


def read(path: Path, digest: str, size: int) -> list[tuple[int, int]] | None:
    """The recorded regions, or None if there is no journal for this very file."""
    try:
        fd = side_files.open_existing(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        length = os.fstat(fd).st_size
        # One record per verified region: a journal is never near this long; a file
        # that is, is not ours to read into memory.
        data = os.read(fd, length) if length <= MAX_JOURNAL_BYTES else b""
    finally:
        os.close(fd)
    head = len(_MAGIC) + _HEADER.size
    if len(data) < head or not data.startswith(_MAGIC):
        return None
    raw_digest, raw_size = _HEADER.unpack_from(data, len(_MAGIC))
    if raw_digest != bytes.fromhex(digest) or raw_size != size:
        return None
    count = (len(data) - head) // _RECORD.size
    return [_RECORD.unpack_from(data, head + i * _RECORD.size) for i in range(count)]


def remove(path: Path) -> None:
    """Delete a journal (the file is complete, or abandoned)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
